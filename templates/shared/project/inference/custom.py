"""Load your model and predict: complete the two functions below.

`load` runs once when the server or function starts, with the folder holding
{{ cookiecutter.model_file }}; `predict` runs for every request with the rows
from the request body ({"instances": [...]} or CSV rows) and returns one
prediction per row (a list, or anything with .tolist()). When the client sends
"return_probabilities": true, return {"predictions": ..., "probabilities": ...}
(probabilities None if the model has none).
"""

import os

MODEL_FILE = "{{ cookiecutter.model_file }}"


def load(model_dir):
    path = os.path.join(model_dir, MODEL_FILE)
    raise NotImplementedError(f"load the model from {path} in src/inference.py")


def predict(model, inputs, return_probabilities=False):
    raise NotImplementedError("turn inputs into predictions in src/inference.py")
