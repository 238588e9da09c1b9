# Tests of your predict code on the real model. Yours to edit; deploygen never overwrites it.
import json
import os
from pathlib import Path

import pytest

import inference

SAMPLE = json.loads((Path(__file__).parent / "sample_request.json").read_text())


@pytest.fixture(scope="module")
def model():
    return inference.load(os.environ["MODEL_DIR"])


def test_predicts_one_value_per_row(model):
    rows = SAMPLE["instances"] * 3
    predictions = inference.predict(model, rows)
    assert len(predictions) == len(rows)
{%- if cookiecutter.task == "classification" %}


def test_probabilities_have_a_row_per_input_that_sums_to_one(model):
    rows = SAMPLE["instances"] * 2
    result = inference.predict(model, rows, return_probabilities=True)
    assert len(result["predictions"]) == len(rows)
    assert len(result["probabilities"]) == len(rows)
    for row in result["probabilities"]:
        assert sum(row) == pytest.approx(1, abs=1e-4)
{%- endif %}
