"""Shared fixtures: real models trained on the spot, and the CLI run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from generator.cli import main

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))

from train_iris import train  # noqa: E402  (the example model `make demo` uses)


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory) -> Path:
    """The example model: a StandardScaler + LogisticRegression pipeline, saved with joblib."""
    return train(tmp_path_factory.mktemp("models") / "iris.joblib")


@pytest.fixture(scope="session")
def iris_pickle(tmp_path_factory) -> Path:
    """A plain LogisticRegression saved with pickle, not joblib."""
    import pickle

    features, labels = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("models") / "logreg.pkl"
    path.write_bytes(pickle.dumps(LogisticRegression(max_iter=500).fit(features, labels), protocol=5))
    return path


class Cli:
    """Runs `deploygen` in-process, as the console script would, and keeps what it printed."""

    def __call__(self, *args: str | Path):
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert "Traceback" not in result.output
        return result

    def refused(self, root: Path, code: int, *args: str | Path) -> str:
        """Run a command that must fail: its exit code, one line of error, and nothing under root changed."""
        before = tree_snapshot(root)
        result = self(*args)
        assert result.exit_code == code, result.output
        message = result.output.strip()
        assert message.startswith("deploygen: error:") and "\n" not in message, message
        assert tree_snapshot(root) == before
        assert not any(p.name.startswith(".deploygen-") for p in root.iterdir())
        return message


@pytest.fixture
def cli() -> Cli:
    return Cli()


def run_project_tests(project: Path) -> subprocess.CompletedProcess:
    """The generated project's own test suite, run with plain pytest inside it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q"], cwd=project, capture_output=True, text=True, timeout=300
    )


def tree_snapshot(root: Path) -> dict[str, bytes]:
    """Every file below root and its bytes (a symlink: where it points), to prove nothing changed."""
    return {
        p.relative_to(root).as_posix(): f"-> {os.readlink(p)}".encode() if p.is_symlink() else p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_symlink() or p.is_file()
    }



@pytest.fixture(scope="session")
def cfn_lint():
    """cfn-lint over a template text with every rule (informational and experimental too), rules built once."""
    from stacks import cfn_linter

    return cfn_linter()


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """zoo("xgboost") or zoo("xgboost-ubj"): a small real model of that kind, built once per test session."""
    from model_zoo import build

    built: dict = {}

    def get(name: str):
        if name not in built:
            framework, _, variant = name.partition("-")
            built[name] = build(framework, tmp_path_factory.mktemp(name), variant)
        return built[name]

    return get
