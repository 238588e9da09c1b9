# Tests of your predict code on the real model. Yours to edit; deploygen never overwrites it.
import json
import os
from pathlib import Path

import inference

SAMPLE = json.loads((Path(__file__).parent / "sample_request.json").read_text())


def test_predicts_one_value_per_row():
    model = inference.load(os.environ["MODEL_DIR"])
    rows = SAMPLE["instances"] * 3
    predictions = inference.predict(model, rows)
    assert len(predictions) == len(rows)
