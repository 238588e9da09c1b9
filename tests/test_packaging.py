"""A non-editable install works: build the wheel, install it in a new virtualenv, run `deploygen init`.

The new virtualenv takes deploygen's dependencies from the test environment's
site-packages (through a .pth file) so no network is needed, but not deploygen
itself: that comes only from the wheel, so the templates must travel in it.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_wheel_installs_and_renders_in_a_fresh_virtualenv(iris_model, tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = wheels.glob("deploygen-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, timeout=300)

    workdir = tmp_path / "elsewhere"  # not the checkout, so only the installed package can be found
    workdir.mkdir()
    where = subprocess.check_output([python, "-c", "import generator; print(generator.__file__)"], cwd=workdir,
                                    text=True)
    assert str(site) in where, where
    for target in ("lambda", "sagemaker", "ecs"):
        proc = subprocess.run([env_dir / "bin" / "deploygen", "init", str(iris_model), "--target", target,
                               "--output", target], cwd=workdir, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        project = workdir / target
        assert (project / "infra" / "template.yaml").is_file()
        assert (project / ".github" / "workflows" / "ci.yml").is_file()
        shared_codec = (REPO / "templates/shared/serving/codec.py").read_text()
        assert (project / "src" / "serving" / "codec.py").read_text() == shared_codec

    # lint from the wheel: deploygen's cfn-lint rules travel in it; without hadolint, lint says so plainly
    bare_path = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    rules = subprocess.run([env_dir / "bin" / "deploygen", "lint", "--rules-path"], cwd=workdir,
                           capture_output=True, text=True, timeout=120, env=bare_path)
    assert str(site) in rules.stdout and list(Path(rules.stdout.strip()).glob("LogGroupRetention.py"))
    (workdir / "stack.yaml").write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n')
    linted = subprocess.run([env_dir / "bin" / "deploygen", "lint", "stack.yaml", "lambda"], cwd=workdir,
                            capture_output=True, text=True, timeout=120, env=bare_path)
    assert "W9401" in linted.stdout and linted.returncode == 4, linted.stdout + linted.stderr
    assert "hadolint is not installed" in linted.stderr and "deploygen[hadolint]" in linted.stderr
