"""Rendering: turn a spec and a model into a project on disk, all or nothing.

The steps: build the template context from the spec, render the target's
cookiecutter template into a staging folder beside the destination, prune
files that rendered empty, add the spec, the model and the manifest, then
move the result into place. A failure at any step leaves the disk as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from . import __version__
from .errors import OutputError
from .frameworks import ModelInfo
from .limits import limit
from .names import AwsNames, aws_names
from .rerender import Plan, copy_model, manifest_for, rerender, tree_files, tree_hashes
from .compare import readme_estimate
from .targets import request_limits
from .spec import EcsOptions, LambdaOptions, ProjectSpec, SageMakerOptions

LOG_RETENTION_DAYS = 30
PYTHON_VERSION = "3.12"
CONTAINER_PORT = 8080  # SageMaker's fixed serving port; ECS uses the same container


SHARED_PARTIALS = "shared"  # partials every target includes: the request codec, the server


def templates_root() -> Path:
    """generator/templates in an installed wheel; the checkout's templates/ otherwise."""
    package = Path(__file__).resolve().parent
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


def assemble_template(target: str, into: Path) -> Path:
    """Copy the target's template and the shared partials where cookiecutter's loader looks.

    cookiecutter resolves {% include %} against the project template and a
    `templates/` folder beside it. In a checkout that folder is a symlink to
    templates/shared (so plain `cookiecutter templates/lambda` works); a wheel
    cannot carry symlinks, so the partials are put in place here.
    """
    root = templates_root()
    repo = into / "template"
    shutil.copytree(root / target, repo, ignore=shutil.ignore_patterns("templates", "__pycache__"))
    shutil.copytree(root / SHARED_PARTIALS, repo / "templates", ignore=shutil.ignore_patterns("__pycache__"))
    return repo


def build_context(spec: ProjectSpec, model: ModelInfo) -> dict[str, Any]:
    """The cookiecutter context: every key of the target template's cookiecutter.json, no more."""
    names = aws_names(spec.name, spec.target)
    common = {
        "project_slug": names.slug,
        "stack_name": names.stack_name,
        "ecr_repository": names.ecr_repository,
        "region": spec.region,
        "deploygen_version": __version__,
        "framework": model.framework,
        "framework_version": model.framework_version or "",
        "model_file": model.file_name,
        "requirements": "\n".join(model.requirements),
        "sample_request": model.sample_request(),
        "task": model.task or "",
        "objective": model.objective,
        "labels": json.dumps(list(model.labels)),
        "cpu_index": model.cpu_index,
        "torch_requirement": next((r for r in model.requirements if r.startswith("torch==")), ""),
        "debian_packages": model.system_libraries.get("debian", ""),
        "amazon_linux_packages": model.system_libraries.get("amazon_linux", ""),
        "log_retention_days": LOG_RETENTION_DAYS,
        "python_version": PYTHON_VERSION,
        "cost_estimate": readme_estimate(spec, model).strip(),
        "_extensions": [],
    }
    target = {"lambda": _lambda_context, "sagemaker": _sagemaker_context, "ecs": _ecs_context}[spec.target]
    max_body_bytes, timeout_s = request_limits(spec)  # ECS runs SageMaker's server, with its limits
    limits = {"max_body_bytes": max_body_bytes}
    if spec.target != "lambda":
        limits["request_timeout_s"] = timeout_s
    return {"cookiecutter": {**common, **target(spec.options, names, model), **limits}}


def _lambda_context(opts: LambdaOptions, names: AwsNames, model: ModelInfo) -> dict[str, Any]:
    provisioned = opts.provisioned_concurrency or {}
    return {
        "function_name": names.function_name,
        "memory_mb": opts.memory_mb,
        "timeout_s": opts.timeout_s,
        "architecture": opts.architecture,
        "auth": opts.auth,
        "front": opts.front,
        "ephemeral_storage_mb": opts.ephemeral_storage_mb,
        "reserved_concurrency": opts.reserved_concurrency or 0,
        "provisioned_min": provisioned.get("min", 0),
        "provisioned_max": provisioned.get("max", 0),
    }


def _sagemaker_context(opts: SageMakerOptions, names: AwsNames, model: ModelInfo) -> dict[str, Any]:
    mode = opts.mode
    bucket, _, prefix = (opts.output_path or "s3://unused/").removeprefix("s3://").partition("/")
    topics = [*(opts.sns_topics or []), "", ""]
    safety = limit("sagemaker", "load_test_safety_factor")["value"]
    return {
        "endpoint_name": names.endpoint_name,
        "mode": mode,
        "architecture": opts.architecture,
        "instance_type": opts.instance_type,
        "initial_instances": opts.instances,
        "min_instances": opts.min_instances,
        "max_instances": opts.max_instances,
        # AWS's load-testing guide: invocations per instance per minute = max RPS x safety factor x 60.
        "invocations_per_instance_target": max(1, round(opts.max_rps * safety * 60)),
        "serverless_memory_mb": opts.memory_mb,
        "serverless_max_concurrency": opts.max_concurrency,
        "serverless_provisioned_concurrency": opts.provisioned_concurrency or 0,
        "async_s3_bucket": bucket,
        "async_s3_prefix": prefix.strip("/") or names.slug,
        "async_max_concurrent_invocations": opts.max_concurrent_invocations,
        "sns_success_topic": topics[0],
        "sns_error_topic": topics[1],
        "server_workers": 0,
        "bake_model": False,
        "container_port": CONTAINER_PORT,
    }


def _ecs_context(opts: EcsOptions, names: AwsNames, model: ModelInfo) -> dict[str, Any]:
    return {
        "architecture": opts.architecture,
        "cpu": opts.cpu,
        "memory_mb": opts.memory_mb,
        "min_tasks": opts.min_tasks,
        "max_tasks": opts.max_tasks,
        "cpu_target": opts.cpu_target,
        "requests_per_target": opts.requests_per_target,
        "certificate_arn": opts.certificate_arn or "",
        "internal": opts.internal,
        "create_vpc": opts.create_vpc,
        "health_check_grace_s": health_check_grace_s(model.size_bytes),
        "server_workers": 0,
        "bake_model": True,
        "container_port": CONTAINER_PORT,
    }


def health_check_grace_s(model_size_bytes: int) -> int:
    """Seconds ECS waits before load-balancer health checks count: longer than the model takes to load.

    Until load time is measured (deploygen compare), it is estimated from the
    size: a generous 60 s for start-up plus a second per 20 MB of model.
    """
    return 60 + model_size_bytes // (20 * 1024**2)


def render_project(
    spec: ProjectSpec, model_path: Path, model: ModelInfo, dest: Path, force: bool = False
) -> Plan:
    """Render the project for spec into dest; an existing dest is updated (rerender) only with force."""
    dest = Path(dest).absolute()
    if dest.exists() and not force:
        raise OutputError(f"{dest} already exists: choose another --output, or add --force to update it")
    if dest.exists() and not dest.is_dir():
        raise OutputError(f"{dest} exists and is not a folder: choose another --output")
    with _created_parents(dest.parent), _staging(dest.parent) as stage:
        if dest.exists():
            return rerender(dest, spec, model, Path(stage), render_tree, model_source=Path(model_path), force=True)
        tree = render_tree(spec, model, Path(stage) / "new")
        copy_model(Path(model_path), model, tree)
        manifest_for(spec, tree_hashes(tree, spec, model, model_copied=True)).write(tree)
        os.rename(tree, dest)
        return Plan(dest, added=tree_files(dest))


def render_tree(spec: ProjectSpec, model: ModelInfo, into: Path) -> Path:
    """The rendered project for spec (and its spec file), in a new folder under into; no model copied."""
    # Imported here: cookiecutter pulls in a few heavy modules that only rendering needs.
    from cookiecutter.generate import generate_files

    into.mkdir(parents=True)
    out = into / "out"
    out.mkdir()
    repo = assemble_template(spec.target, into)
    tree = Path(generate_files(repo, build_context(spec, model), output_dir=out, accept_hooks=False))
    _prune_empty(tree)
    spec.save(tree)
    return tree


def _prune_empty(tree: Path) -> None:
    """Remove files that rendered to whitespace (a template's way to make a file optional)."""
    for path in sorted(tree.rglob("*"), reverse=True):
        if path.is_file() and not path.read_bytes().strip():
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


@contextlib.contextmanager
def _staging(parent: Path) -> Iterator[str]:
    """A scratch folder beside the destination, so the final move is a rename."""
    try:
        stage = tempfile.mkdtemp(prefix=".deploygen-", dir=parent)
    except OSError as err:
        raise OutputError(f"cannot write in {parent}: {err.strerror}; choose another --output") from None
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def _created_parents(parent: Path) -> Iterator[None]:
    """Create the missing parents of the destination; remove them again on failure."""
    first_missing = next((p for p in reversed([parent, *parent.parents]) if not p.exists()), None)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create {parent}: {err.strerror}; choose another --output") from None
    try:
        yield
    except BaseException:
        if first_missing is not None:
            shutil.rmtree(first_missing, ignore_errors=True)
        raise
