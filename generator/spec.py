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
from typing import Any, Callable

import yaml

from . import __version__
from .errors import SpecError
from .frameworks import FRAMEWORKS
from .limits import data_file, limit
from .sagemaker_instances import instance_type

SPEC_FILE = "deploygen.yaml"
TARGETS = ("lambda", "sagemaker", "ecs")
ARCHITECTURES = ("x86_64", "arm64")
HEADER = "# deploygen.yaml: the spec this project is rendered from. Yours to edit; generated files follow it.\n"


@dataclass(frozen=True)
class ModelSpec:
    path: str  # the artifact inside the project, e.g. model/model.joblib
    framework: str
    sha256: str
    framework_version: str | None = None
    version_source: str = "artifact"  # where framework_version came from: artifact | tested | none
    artifact_version: str | None = None  # what the artifact records of its writer or format
    original_name: str | None = None  # the artifact's file name as the user gave it
    estimator: str | None = None  # e.g. sklearn.linear_model._logistic.LogisticRegression
    n_features: int | None = None
    task: str | None = None  # classification | regression | None: found when predicting


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
    gpu: bool = False  # asked for a GPU: refused, Lambda has none


@dataclass(frozen=True)
class SageMakerOptions:
    mode: str = "realtime"  # realtime | serverless | async
    architecture: str | None = None  # None: the instance type's (serverless: x86_64)
    # realtime and async
    instance_type: str = "ml.m5.large"
    instances: int = 1  # initial count
    min_instances: int | None = None  # None: 1 for realtime, 0 (scale to zero) for async
    max_instances: int = 2
    max_rps: float = 10.0  # requests per second one instance sustains; from a load test
    # serverless
    memory_mb: int = 2048
    max_concurrency: int = 5
    provisioned_concurrency: int | None = None
    # async
    output_path: str | None = None  # s3://bucket/prefix
    sns_topics: list[str] | None = None  # [success topic ARN, error topic ARN]
    max_concurrent_invocations: int = 4
    gpu: bool = False  # needs a GPU instance type


@dataclass(frozen=True)
class EcsOptions:
    cpu: int = 1024  # Fargate CPU units (1024 = 1 vCPU)
    memory_mb: int = 2048
    architecture: str = "x86_64"
    min_tasks: int = 1
    max_tasks: int = 4
    cpu_target: int = 60  # percent, target tracking on ECSServiceAverageCPUUtilization
    requests_per_target: int = 1000  # per minute, target tracking on ALBRequestCountPerTarget
    certificate_arn: str | None = None  # ACM certificate: HTTPS, with HTTP redirected
    internal: bool = False  # a load balancer reachable only from inside the VPC
    create_vpc: bool = False  # a small VPC of the stack's own instead of an existing one
    gpu: bool = False  # asked for a GPU: refused, Fargate has none


@dataclass(frozen=True)
class TrafficSpec:
    """The traffic the README's cost estimate is for; `deploygen compare` options override it."""

    requests_per_month: int = 1_000_000
    peak_rps: float | None = None  # None: three times the average rate, at least 1
    payload_kb: float | None = None  # request body; None: the sample request's size
    duration_ms: float | None = None  # one request; None: assumed until `deploygen compare` measures it
    memory_mb: int | None = None  # what the model's process needs; None: assumed likewise


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    target: str
    model: ModelSpec
    region: str = "us-east-1"
    options: Any = None  # the target's options: LambdaOptions | SageMakerOptions
    other_targets: dict[str, Any] = field(default_factory=dict)  # options kept for other targets, as written
    deploygen_version: str = __version__
    traffic: TrafficSpec = field(default_factory=TrafficSpec)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deploygen_version": self.deploygen_version,
            "name": self.name,
            "region": self.region,
            "target": self.target,
            "model": dataclasses.asdict(self.model),
            self.target: dataclasses.asdict(self.options),
            "traffic": dataclasses.asdict(self.traffic),
            **self.other_targets,
        }

    def dump(self) -> str:
        return HEADER + yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=False)

    def save(self, project_dir: Path) -> None:
        (project_dir / SPEC_FILE).write_text(self.dump(), encoding="utf-8")


# --- field checks -----------------------------------------------------------------


def _int(value: Any, where: str, lo: int, hi: int | None = None) -> int:
    allowed = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        raise SpecError(f"{where} must be a whole number {allowed} (got {value!r})")
    return value


def _positive_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise SpecError(f"{where} must be a number above 0 (got {value!r})")
    return float(value)


def _choice(value: Any, where: str, choices: tuple) -> Any:
    if value not in choices:
        raise SpecError(f"{where} must be one of {', '.join(map(str, choices))} (got {value!r})")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a mapping of keys to values (got {type(value).__name__})")
    return value


def _no_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known, key=str)
    if unknown:
        raise SpecError(f"{where} has unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(known))}")


def _options(cls: type, data: Any, section: str) -> Any:
    data = _mapping(data if data is not None else {}, section)
    _no_unknown(data, {f.name for f in dataclasses.fields(cls)}, section)
    return dataclasses.replace(cls(), **data)


# --- lambda -----------------------------------------------------------------------

LAMBDA_FLAGS = {
    "memory_mb": "--memory",
    "timeout_s": "--timeout",
    "architecture": "--arch",
    "auth": "--auth",
    "front": "--front",
    "ephemeral_storage_mb": "--ephemeral-storage",
    "reserved_concurrency": "--reserved-concurrency",
    "provisioned_concurrency": "--provisioned-concurrency",
    "gpu": "--gpu",
}
NO_GPU_HERE = "use --target sagemaker with a GPU --instance-type such as ml.g5.xlarge"


def validate_lambda(data: Any, region: str = "us-east-1") -> LambdaOptions:
    opts = _options(LambdaOptions, data, "lambda")
    where = {key: f"lambda.{key} ({flag})" for key, flag in LAMBDA_FLAGS.items()}
    if opts.gpu:
        raise SpecError(f"{where['gpu']}: Lambda functions have no GPUs; {NO_GPU_HERE}")
    for key in ("memory_mb", "timeout_s", "ephemeral_storage_mb"):
        rng = limit("lambda", key)
        _int(getattr(opts, key), where[key], rng["min"], rng["max"])
    _choice(opts.architecture, where["architecture"], ARCHITECTURES)
    _choice(opts.auth, where["auth"], ("iam", "none"))
    _choice(opts.front, where["front"], ("url", "http-api"))
    if opts.reserved_concurrency is not None:
        _int(opts.reserved_concurrency, where["reserved_concurrency"], limit("lambda", "reserved_concurrency")["min"])
    if opts.provisioned_concurrency is not None:
        pc = _mapping(opts.provisioned_concurrency, where["provisioned_concurrency"])
        _no_unknown(pc, {"min", "max"}, where["provisioned_concurrency"])
        low = _int(pc.get("min"), f"{where['provisioned_concurrency']} min", 1)
        high = _int(pc.get("max"), f"{where['provisioned_concurrency']} max", low)
        if opts.reserved_concurrency is not None and high > opts.reserved_concurrency:
            raise SpecError(
                f"{where['provisioned_concurrency']} max ({high}) exceeds lambda.reserved_concurrency "
                f"({opts.reserved_concurrency}): provisioned concurrency cannot exceed reserved concurrency; "
                "raise one or lower the other"
            )
    no_urls = limit("lambda", "function_url_unavailable_regions")
    if opts.front == "url" and region in no_urls["regions"]:
        raise SpecError(f"Lambda function URLs are not available in {region} ({no_urls['source']}): "
                        "use --front http-api, or another --region")
    http_api_max = limit("lambda", "http_api_timeout_s")["max"]
    if opts.front == "http-api" and opts.timeout_s > http_api_max:
        raise SpecError(
            f"lambda.timeout_s (--timeout) is {opts.timeout_s} s but an HTTP API stops waiting at "
            f"{http_api_max} s: use --timeout {http_api_max} or less, or --front url"
        )
    return opts


def lambda_flag_values(flags: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Command-line values for the lambda section; --provisioned-concurrency is MIN:MAX."""
    values = dict(flags)
    if "provisioned_concurrency" in values:
        low, sep, high = str(values["provisioned_concurrency"]).partition(":")
        if not (sep and low.isdigit() and high.isdigit()):
            raise SpecError("lambda.provisioned_concurrency (--provisioned-concurrency) must be MIN:MAX, "
                            f"such as 1:10 (got {values['provisioned_concurrency']!r})")
        values["provisioned_concurrency"] = {"min": int(low), "max": int(high)}
    return values


# --- sagemaker --------------------------------------------------------------------

SAGEMAKER_FLAGS = {
    "mode": "--mode",
    "architecture": "--arch",
    "instance_type": "--instance-type",
    "instances": "--instances",
    "min_instances": "--min-instances",
    "max_instances": "--max-instances",
    "max_rps": "--max-rps",
    "memory_mb": "--memory",
    "max_concurrency": "--max-concurrency",
    "provisioned_concurrency": "--provisioned-concurrency",
    "output_path": "--output-path",
    "sns_topics": "--sns-topics",
    "max_concurrent_invocations": None,
    "gpu": "--gpu",
}
# Which options each mode reads; a flag given for another mode is refused rather than ignored.
SAGEMAKER_MODE_FIELDS = {
    "realtime": {"instance_type", "instances", "min_instances", "max_instances", "max_rps"},
    "serverless": {"memory_mb", "max_concurrency", "provisioned_concurrency"},
    "async": {"instance_type", "instances", "min_instances", "max_instances", "max_rps", "output_path",
              "sns_topics", "max_concurrent_invocations"},
}
# A bucket name, then a prefix of characters that are safe in an IAM resource ARN (no * or ?).
S3_PATH = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[A-Za-z0-9_.=/-]*)?$")
SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")


def validate_sagemaker(data: Any, region: str = "us-east-1") -> SageMakerOptions:
    opts = _options(SageMakerOptions, data, "sagemaker")
    where = {key: f"sagemaker.{key}" + (f" ({flag})" if flag else "") for key, flag in SAGEMAKER_FLAGS.items()}
    mode = _choice(opts.mode, where["mode"], tuple(SAGEMAKER_MODE_FIELDS))
    if opts.architecture is not None:
        _choice(opts.architecture, where["architecture"], ARCHITECTURES)
    if mode == "serverless":
        if opts.gpu:
            raise SpecError(f"{where['gpu']}: serverless endpoints have no GPUs; use --mode realtime with a GPU "
                            "--instance-type such as ml.g5.xlarge")
        opts = dataclasses.replace(opts, architecture=opts.architecture or "x86_64")
        _check_serverless(opts, where)
        return opts
    instance = instance_type(opts.instance_type, where["instance_type"])
    opts = dataclasses.replace(opts, architecture=opts.architecture or instance["arch"])
    if opts.gpu and not instance["gpus"]:
        raise SpecError(f"{where['gpu']}: {opts.instance_type} has no GPU; choose a GPU --instance-type "
                        "such as ml.g5.xlarge or ml.g4dn.xlarge")
    if instance["arch"] != opts.architecture:
        raise SpecError(
            f"{where['architecture']} is {opts.architecture} but {opts.instance_type} is {instance['arch']}: "
            f"choose a {'Graviton (ml.*g.*)' if opts.architecture == 'arm64' else 'non-Graviton'} instance type "
            "or the matching --arch"
        )
    count = limit("sagemaker", "instances")
    low = 0 if mode == "async" else count["min"]
    min_instances = opts.min_instances if opts.min_instances is not None else low
    _int(min_instances, where["min_instances"], low, count["max"])
    max_instances = _int(opts.max_instances, where["max_instances"], max(min_instances, 1), count["max"])
    _int(opts.instances, where["instances"], max(min_instances, 1), max_instances)
    _positive_number(opts.max_rps, where["max_rps"])
    if mode == "async":
        _check_async(opts, where)
    return dataclasses.replace(opts, min_instances=min_instances)


def _check_serverless(opts: SageMakerOptions, where: dict[str, str]) -> None:
    memory = limit("sagemaker", "serverless_memory_mb")["allowed"]
    _choice(opts.memory_mb, where["memory_mb"], tuple(memory))
    rng = limit("sagemaker", "serverless_max_concurrency")
    _int(opts.max_concurrency, where["max_concurrency"], rng["min"], rng["max"])
    if opts.provisioned_concurrency is not None:
        _int(opts.provisioned_concurrency, where["provisioned_concurrency"], 1, opts.max_concurrency)
    allowed = limit("sagemaker", "serverless_architectures")["allowed"]
    if opts.architecture not in allowed:
        raise SpecError(f"{where['architecture']}: serverless endpoints run on {', '.join(allowed)} only; "
                        f"drop --arch {opts.architecture}")


def _check_async(opts: SageMakerOptions, where: dict[str, str]) -> None:
    if not isinstance(opts.output_path, str) or not S3_PATH.match(opts.output_path):
        raise SpecError(f"{where['output_path']} is required for async endpoints: an S3 location such as "
                        f"s3://my-bucket/async (got {opts.output_path!r})")
    topics = opts.sns_topics or []
    if not isinstance(topics, list) or len(topics) > 2 or not all(isinstance(t, str) and SNS_ARN.match(t)
                                                                  for t in topics):
        raise SpecError(f"{where['sns_topics']} must be one or two SNS topic ARNs, success then error "
                        f"(got {opts.sns_topics!r})")
    _int(opts.max_concurrent_invocations, where["max_concurrent_invocations"], 1, 1000)


def sagemaker_flag_values(flags: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    values = dict(flags)
    if "sns_topics" in values:
        values["sns_topics"] = [t.strip() for t in str(values["sns_topics"]).split(",") if t.strip()]
    if "provisioned_concurrency" in values:
        text = str(values["provisioned_concurrency"])
        if not text.isdigit():
            raise SpecError("sagemaker.provisioned_concurrency (--provisioned-concurrency) must be a whole number "
                            f"for a serverless endpoint (got {text!r})")
        values["provisioned_concurrency"] = int(text)
    mode = values.get("mode", base.get("mode", SageMakerOptions.mode))
    misplaced = sorted(set(values) - SAGEMAKER_MODE_FIELDS.get(mode, set()) - {"mode", "architecture", "gpu"})
    if misplaced:
        modes = [m for m, fields in SAGEMAKER_MODE_FIELDS.items() if misplaced[0] in fields]
        raise SpecError(f"{SAGEMAKER_FLAGS[misplaced[0]]} applies to --mode {' or '.join(modes)}, not {mode}")
    return values


# --- ecs --------------------------------------------------------------------------

ECS_FLAGS = {
    "cpu": "--cpu",
    "memory_mb": "--memory",
    "architecture": "--arch",
    "min_tasks": "--min-tasks",
    "max_tasks": "--max-tasks",
    "cpu_target": "--cpu-target",
    "requests_per_target": "--requests-per-target",
    "certificate_arn": "--certificate-arn",
    "internal": "--internal",
    "create_vpc": "--create-vpc",
    "gpu": "--gpu",
}
ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z]{2}(-[a-z]+)+-[0-9]):[0-9]{12}:certificate/[0-9a-f-]{36}$")


def validate_ecs(data: Any, region: str = "us-east-1") -> EcsOptions:
    opts = _options(EcsOptions, data, "ecs")
    where = {key: f"ecs.{key} ({flag})" for key, flag in ECS_FLAGS.items()}
    if opts.gpu:
        raise SpecError(f"{where['gpu']}: Fargate has no GPUs; {NO_GPU_HERE}")
    _choice(opts.architecture, where["architecture"], ARCHITECTURES)
    fargate = fargate_sizes()
    _choice(opts.cpu, where["cpu"], tuple(fargate["cpu_memory"]))
    _choice(opts.memory_mb, f"{where['memory_mb']} for --cpu {opts.cpu}", tuple(fargate["cpu_memory"][opts.cpu]))
    if opts.architecture == "arm64" and opts.cpu not in fargate["arm64_cpu"]:
        raise SpecError(f"{where['cpu']} {opts.cpu} is not offered on arm64 Fargate; use one of "
                        f"{', '.join(map(str, fargate['arm64_cpu']))} or --arch x86_64")
    _int(opts.min_tasks, where["min_tasks"], 1)
    _int(opts.max_tasks, where["max_tasks"], opts.min_tasks, limit("ecs", "tasks_per_service")["max"])
    _int(opts.cpu_target, where["cpu_target"], 1, 100)
    _int(opts.requests_per_target, where["requests_per_target"], 1)
    for key in ("internal", "create_vpc"):
        if not isinstance(getattr(opts, key), bool):
            raise SpecError(f"{where[key]} must be true or false (got {getattr(opts, key)!r})")
    if opts.certificate_arn is not None:
        match = ACM_ARN.match(str(opts.certificate_arn))
        if not match:
            raise SpecError(f"{where['certificate_arn']} must be an ACM certificate ARN such as "
                            f"arn:aws:acm:{region}:123456789012:certificate/<id> (got {opts.certificate_arn!r})")
        if match.group(1) != region:
            raise SpecError(f"{where['certificate_arn']} is in {match.group(1)} but the load balancer is in "
                            f"{region}: a load balancer needs a certificate from its own region")
    return opts


def fargate_sizes() -> dict[str, Any]:
    return data_file("fargate.yaml")


def ecs_flag_values(flags: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    return dict(flags)


# --- the whole spec ---------------------------------------------------------------


@dataclass(frozen=True)
class TargetOptions:
    validate: Callable[[Any, str], Any]  # (section, region) -> options
    flags: dict[str, str | None]  # field -> command-line option
    from_flags: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]  # (flags, section from --config)


TARGET_OPTIONS = {
    "lambda": TargetOptions(validate_lambda, LAMBDA_FLAGS, lambda_flag_values),
    "sagemaker": TargetOptions(validate_sagemaker, SAGEMAKER_FLAGS, sagemaker_flag_values),
    "ecs": TargetOptions(validate_ecs, ECS_FLAGS, ecs_flag_values),
}


def options_from_flags(target: str, given: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The target's section: `base` (from --config) updated with command-line options {"--memory": 2048, ...}."""
    base = base or {}
    by_flag = {flag: key for key, flag in TARGET_OPTIONS[target].flags.items() if flag}
    for flag in given:
        if flag not in by_flag:
            applies = [t for t, o in TARGET_OPTIONS.items() if flag in o.flags.values()]
            raise SpecError(f"{flag} applies to --target {' or '.join(applies)}, not {target}")
    values = TARGET_OPTIONS[target].from_flags({by_flag[flag]: value for flag, value in given.items()}, base)
    return {**base, **values}


def validate_region(region: Any) -> str:
    if not isinstance(region, str) or not re.fullmatch(limit("names", "region")["pattern"], region):
        raise SpecError(f"region (--region) must be an AWS region code such as us-east-1 (got {region!r})")
    return region


def model_section(model: Path, info: Any, original_name: str | None = None) -> dict:
    """The spec's model section for the artifact at model, from what frameworks.detect found (info)."""
    return {
        "path": f"model/{info.file_name}",
        "framework": info.framework,
        "sha256": info.sha256,
        "framework_version": info.framework_version,
        "version_source": info.version_source,
        "artifact_version": info.artifact_version,
        "original_name": original_name or model.name,
        "estimator": info.estimator,
        "n_features": info.n_features,
        "task": info.task,
    }


def validate_model(data: Any) -> ModelSpec:
    data = _mapping(data, "model")
    _no_unknown(data, {f.name for f in dataclasses.fields(ModelSpec)}, "model")
    for key in ("path", "framework", "sha256"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise SpecError(f"model.{key} is required: re-run `deploygen init` to record the model")
    _choice(data["framework"], "model.framework (--framework)", FRAMEWORKS)
    return ModelSpec(**data)


def validate_traffic(data: Any) -> TrafficSpec:
    traffic = _options(TrafficSpec, data, "traffic")
    _int(traffic.requests_per_month, "traffic.requests_per_month", 0)
    for key in ("peak_rps", "payload_kb", "duration_ms", "memory_mb"):
        if getattr(traffic, key) is not None:
            _positive_number(getattr(traffic, key), f"traffic.{key}")
    return traffic


def from_dict(data: Any, source: str | None = SPEC_FILE) -> ProjectSpec:
    """A validated ProjectSpec from parsed YAML (source: its file; None for command-line options)."""
    try:
        data = _mapping(data, source or "the spec")
        _no_unknown(data, {"deploygen_version", "name", "region", "target", "model", "traffic", *TARGET_OPTIONS},
                    source or "the spec")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SpecError("name (--name) is required: a project name such as churn-model")
        target = _choice(data.get("target"), "target (--target)", TARGETS)
        region = validate_region(data.get("region", "us-east-1"))
        spec = ProjectSpec(
            name=name,
            target=target,
            model=validate_model(data.get("model")),
            region=region,
            options=TARGET_OPTIONS[target].validate(data.get(target), region),
            other_targets={t: data[t] for t in TARGET_OPTIONS if t != target and data.get(t) is not None},
            deploygen_version=str(data.get("deploygen_version", __version__)),
            traffic=validate_traffic(data.get("traffic")),
        )
        return spec
    except SpecError as err:
        if source is None:
            raise
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
    return load_with_text(project_dir)[0]


def load_with_text(project_dir: Path) -> tuple[ProjectSpec, Any]:
    """The project's spec, validated, and the YAML it was read from, as parsed."""
    path = project_dir / SPEC_FILE
    if not path.is_file():
        raise SpecError(f"no {SPEC_FILE} in {project_dir}: run `deploygen init` first, or pass the project's folder")
    raw = read_yaml(path)
    return from_dict(raw, str(path)), raw
