{%- if cookiecutter.framework == "sklearn" -%}
# Your predict code: how to load the model and turn request rows into predictions. Yours to edit; deploygen never overwrites it.
"""Load the scikit-learn model and predict.

`load` runs once when the server or function starts; `predict` runs for every request
with the rows from the request body ({"instances": [...]} or CSV rows).
"""

import os

import joblib
import numpy as np

MODEL_FILE = "{{ cookiecutter.model_file }}"


def load(model_dir):
    return joblib.load(os.path.join(model_dir, MODEL_FILE))


def predict(model, inputs):
    rows = [_as_row(model, row) for row in inputs]
    return model.predict(np.asarray(rows))


def _as_row(model, row):
    # Rows may come as objects ({"feature": value}); order them as the model was trained.
    if isinstance(row, dict):
        names = getattr(model, "feature_names_in_", None)
        if names is None:
            raise ValueError("rows given as objects, but the model has no feature names: send lists")
        return [row[name] for name in names]
    return row
{%- else -%}
# Your predict code: how to load the model and turn request rows into predictions. Yours to edit; deploygen never overwrites it.
"""Load your model and predict: complete the two functions below.

`load` runs once when the server or function starts, with the folder holding
{{ cookiecutter.model_file }}; `predict` runs for every request with the rows
from the request body ({"instances": [...]} or CSV rows) and returns one
prediction per row (a list, or anything with .tolist()).
"""

import os

MODEL_FILE = "{{ cookiecutter.model_file }}"


def load(model_dir):
    path = os.path.join(model_dir, MODEL_FILE)
    raise NotImplementedError(f"load the model from {path} in src/inference.py")


def predict(model, inputs):
    raise NotImplementedError("turn inputs into predictions in src/inference.py")
{%- endif %}
