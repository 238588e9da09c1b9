"""Every framework on every target, end to end: render, lint clean, the project's own tests pass, and
the project served by `deploygen serve` answers over HTTP what the framework predicts in process."""

from __future__ import annotations

import json

import pytest

from conftest import run_project_tests
from model_zoo import FRAMEWORKS, close, dumps
from served import deploygen_serve, request

pytestmark = pytest.mark.slow  # about a minute and a half in all: CI runs it


@pytest.mark.parametrize("target", ["lambda", "sagemaker", "ecs"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_served_predictions_equal_the_framework_s_own(zoo, cli, tmp_path, framework, target):
    model = zoo(framework)
    project = tmp_path / "project"
    result = cli("init", model.path, "--target", target, "--output", project, *model.init_args)
    assert result.exit_code == 0, result.output

    linted = cli("lint", project, "--format", "json")
    assert linted.exit_code == 0 and json.loads(linted.output) == [], linted.output
    tests = run_project_tests(project)
    assert tests.returncode == 0, tests.stdout + tests.stderr

    with deploygen_serve(project, target) as url:
        status, _, body = request(url, dumps(model.rows))
        assert status == 200, body
        assert close(json.loads(body)["predictions"], model.labels), (body, model.labels)

        status, _, body = request(url, dumps(model.rows, return_probabilities=True))
        if model.probabilities is None:
            assert (status, json.loads(body)["error"]["code"]) == (400, "no_probabilities")
        else:
            assert status == 200, body
            answer = json.loads(body)
            assert close(answer["predictions"], model.labels)
            assert close(answer["probabilities"], model.probabilities, 1e-4)
