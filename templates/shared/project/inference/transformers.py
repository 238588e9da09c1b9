"""Load the transformers text classifier and predict, on the CPU, with nothing fetched from the network.

`load` runs once when the server or function starts; `predict` runs for every request with
the texts from the request body ({"instances": ["text", ...]} or CSV rows of one column).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is in the model folder: never call the Hub
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import transformers  # noqa: E402

MODEL_FOLDER = "{{ cookiecutter.model_file }}"


def load(model_dir):
    return transformers.pipeline("text-classification", model=os.path.join(model_dir, MODEL_FOLDER),
                                 device="cpu")


def predict(model, inputs, return_probabilities=False):
    texts = [_text(row) for row in inputs]
    scores = model(texts, top_k=None, truncation=True)  # every label's score, best first
    labels = [row[0]["label"] for row in scores]
    if not return_probabilities:
        return labels
    order = [model.model.config.id2label[i] for i in range(len(model.model.config.id2label))]
    probabilities = [[{s["label"]: s["score"] for s in row}[label] for label in order] for row in scores]
    return {"predictions": labels, "probabilities": probabilities}


def _text(row):
    # A row is a text, a CSV row of one text, or an object with a "text" field.
    if isinstance(row, str):
        return row
    if isinstance(row, list) and len(row) == 1 and isinstance(row[0], str):
        return row[0]
    if isinstance(row, dict) and isinstance(row.get("text"), str):
        return row["text"]
    raise ValueError("each row must be a text")
