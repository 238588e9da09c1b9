"""Load the LightGBM model and predict.

`load` runs once when the server or function starts; `predict` runs for every request
with the rows from the request body ({"instances": [...]} or CSV rows).
"""

import os

import lightgbm
import numpy as np

MODEL_FILE = "{{ cookiecutter.model_file }}"
OBJECTIVE = "{{ cookiecutter.objective }}"  # read from the model file by deploygen


def load(model_dir):
    return lightgbm.Booster(model_file=os.path.join(model_dir, MODEL_FILE))


def predict(model, inputs, return_probabilities=False):
    rows = np.asarray([_as_row(model, row) for row in inputs], dtype=np.float64)
    scores = model.predict(rows)
    if OBJECTIVE == "binary":  # the probability of class 1
        labels, probabilities = (scores > 0.5).astype(int), np.column_stack([1 - scores, scores])
    elif scores.ndim == 2:  # multiclass: one probability per class
        labels, probabilities = scores.argmax(axis=1), scores
    else:  # regression and the rest: the numbers themselves
        labels, probabilities = scores, None
    if not return_probabilities:
        return labels
    return {"predictions": labels, "probabilities": probabilities}


def _as_row(model, row):
    # Rows may come as objects ({"feature": value}); order them as the model was trained.
    if isinstance(row, dict):
        return [row[name] for name in model.feature_name()]
    return row
