"""AWS limits, read from data/limits.yaml: one place for every figure and its source."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml


@functools.lru_cache(maxsize=None)
def all_limits() -> dict[str, Any]:
    text = resources.files("generator.data").joinpath("limits.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def limit(section: str, name: str) -> dict[str, Any]:
    """One limit entry, e.g. limit("lambda", "memory_mb") -> {"min": 128, "max": 10240, "source": ...}."""
    return all_limits()[section][name]
