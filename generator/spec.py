"""The project spec, deploygen.yaml: load, validate and save it.

The spec is what a project is rendered from. It is validated in one place,
here, whether its values came from command-line options or from the file, so
a value is refused with the same message either way: the field, the option
that sets it, the allowed values and what was given.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .errors import SpecError
from .limits import limit

SPEC_FILE = "deploygen.yaml"
TARGETS = ("lambda",)  # grows as targets are built: sagemaker, ecs
FRAMEWORKS = ("sklearn", "custom")
HEADER = "# deploygen.yaml: the spec this project is rendered from. Yours to edit; generated files follow it.\n"


@dataclass(frozen=True)
class ModelSpec:
    path: str  # the artifact inside the project, e.g. model/model.joblib
    framework: str
    sha256: str
    framework_version: str | None = None
    version_source: str = "artifact"  # where framework_version came from: artifact | none
    original_name: str | None = None  # the artifact's file name as the user gave it
    estimator: str | None = None  # e.g. sklearn.linear_model._logistic.LogisticRegression
    n_features: int | None = None


@dataclass(frozen=True)
class LambdaOptions:
    memory_mb: int = 1024
    timeout_s: int = 30
    architecture: str = "x86_64"
    auth: str = "iam"
    front: str = "url"
    ephemeral_storage_mb: int = 512
    reserved_concurrency: int | None = None
    provisioned_concurrency: dict[str, int] | None = None  # {"min": 1, "max": 4}


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    target: str
    model: ModelSpec
    region: str = "us-east-1"
    lambda_: LambdaOptions = field(default_factory=LambdaOptions)
    deploygen_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        data = {
            "deploygen_version": self.deploygen_version,
            "name": self.name,
            "region": self.region,
            "target": self.target,
            "model": dataclasses.asdict(self.model),
            "lambda": dataclasses.asdict(self.lambda_),
        }
        return data

    def dump(self) -> str:
        return HEADER + yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=False)

    def save(self, project_dir: Path) -> None:
        (project_dir / SPEC_FILE).write_text(self.dump(), encoding="utf-8")


# --- validation -------------------------------------------------------------
# (spec field, command-line option) for every option a user can set.
LAMBDA_FLAGS = {
    "memory_mb": "--memory",
    "timeout_s": "--timeout",
    "architecture": "--arch",
    "auth": "--auth",
    "front": "--front",
    "ephemeral_storage_mb": "--ephemeral-storage",
    "reserved_concurrency": "--reserved-concurrency",
    "provisioned_concurrency": "--provisioned-concurrency",
}
LAMBDA_CHOICES = {
    "architecture": ("x86_64", "arm64"),
    "auth": ("iam", "none"),
    "front": ("url", "http-api"),
}
LAMBDA_RANGES = {  # field -> limits.yaml entry
    "memory_mb": "memory_mb",
    "timeout_s": "timeout_s",
    "ephemeral_storage_mb": "ephemeral_storage_mb",
}


def _where(section: str, key: str, flag: str | None = None) -> str:
    return f"{section}.{key}" + (f" ({flag})" if flag else "")


def _int(value: Any, where: str, lo: int, hi: int | None = None) -> int:
    allowed = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        raise SpecError(f"{where} must be a whole number {allowed} (got {value!r})")
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SpecError(f"{where} must be one of {', '.join(choices)} (got {value!r})")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a mapping of keys to values (got {type(value).__name__})")
    return value


def _no_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"{where} has unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(known))}")


def validate_lambda(data: dict[str, Any]) -> LambdaOptions:
    fields = {f.name for f in dataclasses.fields(LambdaOptions)}
    _no_unknown(data, fields, "lambda")
    opts = dataclasses.replace(LambdaOptions(), **data)
    for key, entry in LAMBDA_RANGES.items():
        rng = limit("lambda", entry)
        _int(getattr(opts, key), _where("lambda", key, LAMBDA_FLAGS[key]), rng["min"], rng["max"])
    for key, choices in LAMBDA_CHOICES.items():
        _choice(getattr(opts, key), _where("lambda", key, LAMBDA_FLAGS[key]), choices)
    if opts.reserved_concurrency is not None:
        where = _where("lambda", "reserved_concurrency", "--reserved-concurrency")
        _int(opts.reserved_concurrency, where, limit("lambda", "reserved_concurrency")["min"])
    if opts.provisioned_concurrency is not None:
        _check_provisioned(opts)
    http_api_max = limit("lambda", "http_api_timeout_s")["max"]
    if opts.front == "http-api" and opts.timeout_s > http_api_max:
        raise SpecError(
            f"lambda.timeout_s (--timeout) is {opts.timeout_s} s but an HTTP API stops waiting at "
            f"{http_api_max} s: use --timeout {http_api_max} or less, or --front url"
        )
    return opts


def _check_provisioned(opts: LambdaOptions) -> None:
    where = _where("lambda", "provisioned_concurrency", "--provisioned-concurrency")
    pc = _mapping(opts.provisioned_concurrency, where)
    _no_unknown(pc, {"min", "max"}, where)
    low = _int(pc.get("min"), f"{where} min", 1)
    high = _int(pc.get("max"), f"{where} max", low)
    if opts.reserved_concurrency is not None and high > opts.reserved_concurrency:
        raise SpecError(
            f"{where} max ({high}) exceeds lambda.reserved_concurrency ({opts.reserved_concurrency}): "
            "provisioned concurrency cannot exceed reserved concurrency; raise one or lower the other"
        )


def validate_region(region: Any) -> str:
    if not isinstance(region, str) or not re.fullmatch(limit("names", "region")["pattern"], region):
        raise SpecError(f"region (--region) must be an AWS region code such as us-east-1 (got {region!r})")
    return region


def validate_model(data: Any) -> ModelSpec:
    data = _mapping(data, "model")
    fields = {f.name for f in dataclasses.fields(ModelSpec)}
    _no_unknown(data, fields, "model")
    for key in ("path", "framework", "sha256"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise SpecError(f"model.{key} is required: re-run `deploygen init` to record the model")
    _choice(data["framework"], "model.framework (--framework)", FRAMEWORKS)
    return ModelSpec(**data)


def check_region_fits(spec: ProjectSpec) -> None:
    no_urls = limit("lambda", "function_url_unavailable_regions")
    if spec.target == "lambda" and spec.lambda_.front == "url" and spec.region in no_urls["regions"]:
        raise SpecError(
            f"Lambda function URLs are not available in {spec.region} ({no_urls['source']}): "
            "use --front http-api, or another --region"
        )


def from_dict(data: Any, source: str = SPEC_FILE) -> ProjectSpec:
    """A validated ProjectSpec from parsed YAML; SpecError names the field otherwise."""
    try:
        data = _mapping(data, source)
        known = {"deploygen_version", "name", "region", "target", "model", "lambda"}
        _no_unknown(data, known, source)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SpecError("name (--name) is required: a project name such as churn-model")
        target = _choice(data.get("target"), "target (--target)", TARGETS)
        spec = ProjectSpec(
            name=name,
            target=target,
            model=validate_model(data.get("model")),
            region=validate_region(data.get("region", "us-east-1")),
            lambda_=validate_lambda(_mapping(data.get("lambda") or {}, "lambda")),
            deploygen_version=str(data.get("deploygen_version", __version__)),
        )
        check_region_fits(spec)
        return spec
    except SpecError as err:
        raise SpecError(f"{source}: {err}") from None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning every way it can fail into a SpecError."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SpecError(f"cannot read {path}: {err.strerror}; check the path") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SpecError(f"{path} is not valid YAML ({first_line}); fix it or render a new one") from None


def load(project_dir: Path) -> ProjectSpec:
    path = project_dir / SPEC_FILE
    if not path.is_file():
        raise SpecError(f"no {SPEC_FILE} in {project_dir}: run `deploygen init` first, or pass the project's folder")
    return from_dict(read_yaml(path), str(path))
