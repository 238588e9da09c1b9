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


def predict(model, inputs, return_probabilities=False):
    rows = np.asarray([_as_row(model, row) for row in inputs])
    labels = model.predict(rows)
    if not return_probabilities:
        return labels
    # Columns in the order of model.classes_; None when the model has no predict_proba (a regressor, say).
    probabilities = model.predict_proba(rows) if hasattr(model, "predict_proba") else None
    return {"predictions": labels, "probabilities": probabilities}


def _as_row(model, row):
    # Rows may come as objects ({"feature": value}); order them as the model was trained.
    if isinstance(row, dict):
        names = getattr(model, "feature_names_in_", None)
        if names is None:
            raise ValueError("rows given as objects, but the model has no feature names: send lists")
        return [row[name] for name in names]
    return row
