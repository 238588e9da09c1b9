"""Load the TorchScript model and predict, on the CPU.

`load` runs once when the server or function starts; `predict` runs for every request
with the rows from the request body ({"instances": [...]} or CSV rows), as one float32
batch. It returns what the model's forward returns; if those are class scores (logits),
return labels and probabilities instead, as the commented lines show.
"""

import os

import torch

MODEL_FILE = "{{ cookiecutter.model_file }}"


def load(model_dir):
    model = torch.jit.load(os.path.join(model_dir, MODEL_FILE), map_location="cpu")
    return model.eval()


def predict(model, inputs, return_probabilities=False):
    with torch.inference_mode():
        outputs = model(torch.tensor(inputs, dtype=torch.float32))
    if not return_probabilities:
        return outputs.numpy()
    # For a classifier whose forward returns logits:
    #   probabilities = torch.softmax(outputs, dim=1)
    #   return {"predictions": probabilities.argmax(dim=1).numpy(), "probabilities": probabilities.numpy()}
    return {"predictions": outputs.numpy(), "probabilities": None}
