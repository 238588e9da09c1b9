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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from . import __version__
from .errors import OutputError
from .frameworks import ModelInfo
from .limits import limit
from .manifest import Manifest, read as read_manifest, sha256_file
from .names import AwsNames, aws_names
from .spec import EcsOptions, LambdaOptions, ProjectSpec, SageMakerOptions

# Created once for the user and never rewritten: their predict code and their tests.
USER_OWNED = ("src/inference.py", "tests/test_inference.py")
MODEL_DIR = "model"
LOG_RETENTION_DAYS = 30
PYTHON_VERSION = "3.12"
CONTAINER_PORT = 8080  # SageMaker's fixed serving port; ECS uses the same container


@dataclass
class RenderReport:
    project_dir: Path
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # user-owned files left as they were
    backed_up: list[tuple[str, str]] = field(default_factory=list)  # (file, where the old bytes went)


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
    names = aws_names(spec.name)
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
        "_extensions": [],
    }
    target = {"lambda": _lambda_context, "sagemaker": _sagemaker_context, "ecs": _ecs_context}[spec.target]
    return {"cookiecutter": {**common, **target(spec.options, names, model)}}


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
        "max_body_bytes": limit("lambda", "sync_payload_bytes")["max"],
    }


def _sagemaker_context(opts: SageMakerOptions, names: AwsNames, model: ModelInfo) -> dict[str, Any]:
    mode = opts.mode
    bucket, _, prefix = (opts.output_path or "s3://unused/").removeprefix("s3://").partition("/")
    topics = [*(opts.sns_topics or []), "", ""]
    payload = {"realtime": "realtime_payload_bytes", "serverless": "serverless_payload_bytes",
               "async": "async_payload_bytes"}[mode]
    timeout = limit("sagemaker", "async_timeout_s" if mode == "async" else "realtime_timeout_s")["max"]
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
        "max_body_bytes": limit("sagemaker", payload)["max"],
        "request_timeout_s": timeout,
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
        "max_body_bytes": limit("sagemaker", "realtime_payload_bytes")["max"],  # the same server and limit as SageMaker
        "request_timeout_s": limit("sagemaker", "realtime_timeout_s")["max"],
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
) -> RenderReport:
    """Render the project for spec into dest; refuses an existing dest unless force."""
    dest = Path(dest).absolute()
    if dest.exists() and not force:
        raise OutputError(f"{dest} already exists: choose another --output, or add --force to update it")
    if dest.exists() and not dest.is_dir():
        raise OutputError(f"{dest} exists and is not a folder: choose another --output")
    context = build_context(spec, model)
    with _created_parents(dest.parent), _staging(dest.parent) as stage:
        tree = _render_template(spec.target, context, stage)
        _add_spec_and_model(tree, spec, model_path, model)
        if not dest.exists():
            os.rename(tree, dest)
            return RenderReport(dest, added=sorted(_files(dest)))
        return _update(tree, dest, Path(stage))


def _render_template(target: str, context: dict[str, Any], stage: str) -> Path:
    # Imported here: cookiecutter pulls in a few heavy modules that only rendering needs.
    from cookiecutter.generate import generate_files

    out = Path(stage) / "out"
    out.mkdir()
    repo = assemble_template(target, Path(stage))
    tree = Path(generate_files(repo, context, output_dir=out, accept_hooks=False))
    _prune_empty(tree)
    return tree


def _prune_empty(tree: Path) -> None:
    """Remove files that rendered to whitespace (a template's way to make a file optional)."""
    for path in sorted(tree.rglob("*"), reverse=True):
        if path.is_file() and not path.read_bytes().strip():
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _add_spec_and_model(tree: Path, spec: ProjectSpec, model_path: Path, model: ModelInfo) -> None:
    (tree / MODEL_DIR).mkdir(exist_ok=True)
    target = tree / MODEL_DIR / model.file_name
    # Hashed already by detection (a model can be gigabytes): those hashes go into the manifest as they are.
    known = {f"{MODEL_DIR}/{model.file_name}": model.sha256}
    if model_path.is_dir():
        target.mkdir()
        for name in model.files:  # only what detection read: no pickled weights, nothing hidden
            shutil.copyfile(model_path / name, target / name)
        known = {f"{MODEL_DIR}/{model.file_name}/{name}": digest for name, digest in model.files.items()}
    else:
        shutil.copyfile(model_path, target)
    spec.save(tree)
    files = {rel: known.get(rel) or sha256_file(tree / rel) for rel in _files(tree) if rel not in USER_OWNED}
    Manifest(spec.target, __version__, files, list(USER_OWNED)).write(tree)


def _files(tree: Path) -> list[str]:
    return sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())


def _update(tree: Path, dest: Path, stage: Path) -> RenderReport:
    """Bring dest up to the freshly rendered tree without losing a byte of the user's.

    A file is replaced only when deploygen wrote it and nobody edited it since;
    an existing user-owned file is kept; anything else in the way is copied
    aside to <name>.orig first. Every move is journalled and undone on failure.
    """
    old, new = read_manifest(dest), read_manifest(tree)  # new: the hashes just written, not read again
    report = RenderReport(dest)
    journal: list[tuple[Path, Path | None]] = []  # (path written, where its old bytes were moved)
    try:
        for rel in _files(tree):
            src, dst = tree / rel, dest / rel
            dst_hash = sha256_file(dst) if dst.is_file() else None  # once: a model can be gigabytes
            if not dst.exists():
                report.added.append(rel)
            elif dst_hash is not None and dst_hash == (new.files.get(rel) or sha256_file(src)):
                report.unchanged.append(rel)
                continue
            elif rel in USER_OWNED:
                report.kept.append(rel)
                continue
            elif old is not None and dst_hash is not None and old.files.get(rel) == dst_hash:
                report.replaced.append(rel)
            saved = None
            if dst.exists():
                saved = stage / "rollback" / rel
                saved.parent.mkdir(parents=True, exist_ok=True)
                os.replace(dst, saved)
            journal.append((dst, saved))
            if saved is not None and rel not in report.replaced:
                backup = _free_name(dst.with_name(dst.name + ".orig"))
                _copy(saved, backup)
                journal.append((backup, None))
                report.backed_up.append((rel, backup.relative_to(dest).as_posix()))
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    except BaseException:
        for written, saved in reversed(journal):
            _remove(written)
            if saved is not None:
                os.replace(saved, written)
        raise
    return report


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}.{n}"), n + 1
    return candidate


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
