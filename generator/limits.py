"""AWS limits and sizes, read from the data files in generator/data/: one place for every figure and its source."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml


@functools.lru_cache(maxsize=None)
def data_file(name: str) -> dict[str, Any]:
    """A YAML file of generator/data, parsed once per process."""
    text = resources.files("generator.data").joinpath(name).read_text("utf-8")
    # libyaml's loader where PyYAML has it: the pure-Python one takes tens of ms on the larger files.
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def limit(section: str, name: str) -> dict[str, Any]:
    """One limit entry, e.g. limit("lambda", "memory_mb") -> {"min": 128, "max": 10240, "source": ...}."""
    return data_file("limits.yaml")[section][name]
