"""Property: every valid combination of Lambda options and any project name renders a project
with zero cfn-lint findings of any severity; a sample of them also pass their own tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import run_project_tests
from generator import frameworks, lint, lint_output
from generator.errors import SpecError
from generator.names import aws_names
from generator.render import render_project
from generator.spec import from_dict

names = st.text(min_size=1, max_size=80).filter(lambda n: _nameable(n))


def _nameable(name: str) -> bool:
    try:
        aws_names(name)
        return True
    except SpecError:
        return False


@st.composite
def lambda_options(draw) -> dict:
    front = draw(st.sampled_from(["url", "http-api"]))
    reserved = draw(st.none() | st.integers(1, 1000))
    options = {
        "memory_mb": draw(st.integers(128, 10240)),
        "timeout_s": draw(st.integers(1, 30 if front == "http-api" else 900)),
        "architecture": draw(st.sampled_from(["x86_64", "arm64"])),
        "auth": draw(st.sampled_from(["iam", "none"])),
        "front": front,
        "ephemeral_storage_mb": draw(st.integers(512, 10240)),
        "reserved_concurrency": reserved,
    }
    if draw(st.booleans()):
        low = draw(st.integers(1, reserved or 100))
        options["provisioned_concurrency"] = {"min": low, "max": draw(st.integers(low, reserved or 200))}
    return options


def _render(model_path: Path, name: str, options: dict, region: str, dest: Path) -> Path:
    info = frameworks.detect(model_path)
    spec = from_dict({
        "name": name, "target": "lambda", "region": region, "lambda": options,
        "model": {"path": f"model/{info.file_name}", "framework": info.framework, "sha256": info.sha256,
                  "framework_version": info.framework_version, "n_features": info.n_features},
    })
    return render_project(spec, model_path, info, dest).project


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, options=lambda_options(),
       region=st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"]))
def test_every_rendering_lints_clean(iris_model, tmp_path_factory, name, options, region):
    project = _render(iris_model, name, options, region, tmp_path_factory.mktemp("p") / "project")
    findings = lint.lint_paths([project])
    unsuppressed = [f for f in findings if not f.suppressed]  # a suppression carries its reason
    assert unsuppressed == [], lint_output.text(findings, "")


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, options=lambda_options())
def test_a_sample_of_renderings_pass_their_own_tests(iris_model, tmp_path_factory, name, options):
    project = _render(iris_model, name, options, "us-east-1", tmp_path_factory.mktemp("p") / "project")
    proof = run_project_tests(project)
    assert proof.returncode == 0, proof.stdout + proof.stderr
