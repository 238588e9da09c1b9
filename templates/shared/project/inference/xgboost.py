"""Load the XGBoost model and predict, with xgboost alone (no scikit-learn needed at prediction time).

`load` runs once when the server or function starts; `predict` runs for every request
with the rows from the request body ({"instances": [...]} or CSV rows).
"""

import os

import numpy as np
import xgboost

MODEL_FILE = "{{ cookiecutter.model_file }}"
OBJECTIVE = "{{ cookiecutter.objective }}"  # read from the model file by deploygen


def load(model_dir):
    return xgboost.Booster(model_file=os.path.join(model_dir, MODEL_FILE))


def predict(model, inputs, return_probabilities=False):
    rows = np.asarray([_as_row(model, row) for row in inputs], dtype=np.float32)
    scores = model.inplace_predict(rows)
    if OBJECTIVE in ("binary:logistic",):  # the probability of class 1
        labels = (scores > 0.5).astype(int)
        probabilities = np.column_stack([1 - scores, scores])
    elif OBJECTIVE == "multi:softprob":  # one probability per class
        labels, probabilities = scores.argmax(axis=1), scores
    elif OBJECTIVE.startswith(("binary:", "multi:")):  # labels or margins, no probabilities
        labels = (scores > 0).astype(int) if OBJECTIVE == "binary:logitraw" else scores.astype(int)
        probabilities = None
    else:  # regression, ranking, survival: the numbers themselves
        labels, probabilities = scores, None
    if not return_probabilities:
        return labels
    return {"predictions": labels, "probabilities": probabilities}


def _as_row(model, row):
    # Rows may come as objects ({"feature": value}); order them as the model was trained.
    if isinstance(row, dict):
        if not model.feature_names:
            raise ValueError("rows given as objects, but the model has no feature names: send lists")
        return [row[name] for name in model.feature_names]
    return row
