"""SageMaker hosting instance types, read from data/sagemaker_instances.yaml (with its sources)."""

from __future__ import annotations

from typing import Any

from .errors import SpecError
from .limits import data_file


def instance_types() -> dict[str, dict[str, Any]]:
    return data_file("sagemaker_instances.yaml")["instance_types"]


def instance_type(name: Any, where: str) -> dict[str, Any]:
    """The instance type's figures (vcpu, memory_gib, arch, gpus), or a SpecError naming close matches."""
    types = instance_types()
    if name in types:
        return types[name]
    family = str(name).rsplit(".", 1)[0]
    close = sorted(t for t in types if t.rsplit(".", 1)[0] == family) or ["ml.m5.large", "ml.c6i.xlarge", "ml.m8g.large"]
    raise SpecError(f"{where} {name!r} is not a SageMaker hosting instance type deploygen knows; "
                    f"for example {', '.join(close[:6])} (all: generator/data/sagemaker_instances.yaml)")
