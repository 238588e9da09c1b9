"""Load the ONNX model into onnxruntime and predict.

`load` runs once when the server or function starts; `predict` runs for every request
with the rows from the request body ({"instances": [...]} or CSV rows). The first output
is the prediction; a second output, when the model has one (a converted classifier's
probabilities), answers "return_probabilities".
"""

import os

import numpy as np
import onnxruntime

MODEL_FILE = "{{ cookiecutter.model_file }}"
NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
               "tensor(int32)": np.int32, "tensor(string)": np.str_, "tensor(bool)": np.bool_}


def load(model_dir):
    options = onnxruntime.SessionOptions()
    # The server gives each worker its share of the vCPUs in OMP_NUM_THREADS; onnxruntime does not read it.
    options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS") or 0)  # 0: every core
    return onnxruntime.InferenceSession(os.path.join(model_dir, MODEL_FILE), options,
                                        providers=["CPUExecutionProvider"])


def predict(model, inputs, return_probabilities=False):
    first = model.get_inputs()[0]
    rows = np.asarray(inputs, dtype=NUMPY_TYPES.get(first.type, np.float32))
    outputs = model.run(None, {first.name: rows})
    labels = outputs[0]
    if labels.ndim == 2 and labels.shape[1] == 1:  # a regressor's (n, 1) column: one number per row
        labels = labels[:, 0]
    if not return_probabilities:
        return labels
    probabilities = _table(outputs[1]) if len(outputs) > 1 else None
    return {"predictions": labels, "probabilities": probabilities}


def _table(probabilities):
    # Converters write probabilities as an array, or as one {class: probability} map per row (ZipMap).
    if isinstance(probabilities, list) and probabilities and isinstance(probabilities[0], dict):
        return [[row[key] for key in sorted(row)] for row in probabilities]
    return probabilities
