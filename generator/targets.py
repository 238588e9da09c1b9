"""Targets: whether a model fits where it is asked to run, by the limits in data/limits.yaml."""

from __future__ import annotations

from .errors import SpecError
from .limits import limit
from .sagemaker_instances import instance_type
from .spec import ProjectSpec

GIB = 1024**3


def fit_problems(spec: ProjectSpec, model_size_bytes: int) -> list[str]:
    """Why the model cannot run on the spec's target; empty when it fits."""
    problems = []
    if spec.target == "lambda":
        image_max = limit("lambda", "image_size_bytes")
        if model_size_bytes >= image_max["max"]:
            problems.append(
                f"the model is {model_size_bytes / GIB:.1f} GiB but a Lambda image is limited to "
                f"{image_max['max'] / GIB:.0f} GiB ({image_max['source']}): use another target"
            )
        memory_mb = spec.options.memory_mb
        if model_size_bytes > memory_mb * 1024**2:
            problems.append(
                f"the model ({model_size_bytes / 1024**2:.0f} MB) is larger than the function's memory "
                f"({memory_mb} MB): raise --memory"
            )
    if spec.target == "sagemaker":
        opts = spec.options
        if opts.mode == "serverless":
            memory_mb, what = opts.memory_mb, f"the serverless endpoint's memory ({opts.memory_mb} MB)"
            fix = "raise --memory (up to 6144) or use --mode realtime"
        else:
            memory_mb = instance_type(opts.instance_type, "--instance-type")["memory_gib"] * 1024
            what, fix = f"{opts.instance_type}'s memory ({memory_mb:.0f} MB)", "choose a larger --instance-type"
        if model_size_bytes > memory_mb * 1024**2:
            problems.append(f"the model ({model_size_bytes / 1024**2:.0f} MB) is larger than {what}: {fix}")
    return problems


def check_fit(spec: ProjectSpec, model_size_bytes: int) -> None:
    problems = fit_problems(spec, model_size_bytes)
    if problems:
        raise SpecError(f"the model does not fit {spec.target}: {'; '.join(problems)}")


def request_limits(spec: ProjectSpec) -> tuple[int, int]:
    """The largest request body (bytes) and the longest prediction (seconds) the spec's service accepts."""
    if spec.target == "lambda":
        return service_limits("lambda", lambda_timeout_s=spec.options.timeout_s)
    return service_limits(spec.target, spec.options.mode if spec.target == "sagemaker" else "realtime")


def service_limits(target: str, mode: str = "realtime", lambda_timeout_s: int | None = None) -> tuple[int, int]:
    """request_limits for a target and SageMaker mode; Lambda's timeout is the function's, else Lambda's maximum."""
    if target == "lambda":
        return limit("lambda", "sync_payload_bytes")["max"], lambda_timeout_s or limit("lambda", "timeout_s")["max"]
    # ECS runs SageMaker's model server, with its real-time limits (and the load balancer's 60 s idle timeout).
    payload = {"realtime": "realtime_payload_bytes", "serverless": "serverless_payload_bytes",
               "async": "async_payload_bytes"}[mode]
    timeout = "async_timeout_s" if mode == "async" else "realtime_timeout_s"
    return limit("sagemaker", payload)["max"], limit("sagemaker", timeout)["max"]


def switch_warnings(old: ProjectSpec, new: ProjectSpec) -> list[str]:
    """What clients of the old service may send that the new one refuses: larger bodies, longer predictions."""
    (old_body, old_time), (new_body, new_time) = request_limits(old), request_limits(new)
    warnings = []
    if new_body < old_body:
        warnings.append(f"{new.target} accepts request bodies up to {new_body / 1024**2:g} MB, "
                        f"{old.target} took up to {old_body / 1024**2:g} MB: larger requests will get 413")
    if new_time < old_time:
        warnings.append(f"{new.target} allows {new_time} s per prediction, {old.target} allowed {old_time} s: "
                        "slower predictions will time out")
    return warnings
