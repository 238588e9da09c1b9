"""Frameworks: recognise a model artifact from its bytes and say what serving it needs.

Nothing here executes the artifact: pickles are read as an opcode stream
(see pickle_scan), so a hostile file is reported, never run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ArtifactError
from .pickle_scan import scan_pickle

SKLEARN_SUFFIXES = (".joblib", ".pkl", ".pickle")
FRAMEWORK_CHOICES = ("auto", "sklearn", "custom")


@dataclass(frozen=True)
class ModelInfo:
    framework: str  # sklearn | custom
    file_name: str  # the artifact's name inside the project's model/ folder
    sha256: str
    size_bytes: int
    framework_version: str | None = None
    version_source: str = "none"  # artifact: read from the file; none: not recorded
    estimator: str | None = None
    n_features: int | None = None
    requirements: tuple[str, ...] = ()

    def sample_request(self) -> str:
        """A request body of the right shape for the generated tests and README."""
        row = [0.0] * (self.n_features or 1)
        return json.dumps({"instances": [row]})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def detect(path: Path, framework: str = "auto") -> ModelInfo:
    """Recognise the artifact at path; `framework` overrides detection ("auto" detects)."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"model file {path} does not exist: check the path")
    if not path.is_file():
        raise ArtifactError(f"{path} is not a file: give the model artifact itself")
    try:
        sha256, size = file_sha256(path), path.stat().st_size
    except OSError as err:
        raise ArtifactError(f"cannot read model file {path}: {err.strerror}; check its permissions") from None
    if framework == "custom":
        return _custom(path, sha256, size)
    suffix = path.suffix.lower()
    if framework == "auto" and suffix not in SKLEARN_SUFFIXES:
        raise ArtifactError(
            f"{path.name}: unknown model format {suffix or '(no extension)'}; supported: "
            f"{', '.join(SKLEARN_SUFFIXES)} (scikit-learn); use --framework custom for anything else"
        )
    return _sklearn(path, sha256, size)


def _sklearn(path: Path, sha256: str, size: int) -> ModelInfo:
    scan = scan_pickle(path)
    if scan.suspicious:
        raise ArtifactError(
            f"{path.name} calls {', '.join(scan.suspicious)} when it is loaded, which runs code: "
            "refusing to deploy it; re-save the model from a trusted session"
        )
    root = ".".join(scan.root_class) if scan.root_class else None
    if not scan.sklearn_version:
        what = f"a pickle of {root}" if root else "a pickle with no scikit-learn estimator"
        raise ArtifactError(f"{path.name} is {what}, not a scikit-learn model; use --framework custom to serve it")
    requirements = [f"scikit-learn=={scan.sklearn_version}", "joblib"]
    if any(module.startswith("numpy._core") for module, _ in scan.globals):
        requirements.append("numpy>=2")  # pickled by NumPy 2; NumPy 1 cannot load it
    suffix = path.suffix.lower() if path.suffix.lower() in SKLEARN_SUFFIXES else ".joblib"
    return ModelInfo(
        framework="sklearn",
        file_name=f"model{suffix}",
        sha256=sha256,
        size_bytes=size,
        framework_version=scan.sklearn_version,
        version_source="artifact",
        estimator=root,
        n_features=scan.n_features_in,
        requirements=tuple(requirements),
    )


def _custom(path: Path, sha256: str, size: int) -> ModelInfo:
    suffix = "".join(ch for ch in path.suffix.lower() if ch.isalnum() or ch == ".")
    return ModelInfo(framework="custom", file_name=f"model{suffix or '.bin'}", sha256=sha256, size_bytes=size)
