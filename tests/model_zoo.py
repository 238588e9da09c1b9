"""Small real models of every framework deploygen serves, built on the spot (nothing is downloaded).

Each builder writes its artifact under a folder and returns a Model: the artifact's path, rows to
send, and what the framework itself predicts for them in this process, to compare with what the
served project answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn.datasets import load_iris

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
ROWS = IRIS_X[[0, 50, 100, 120]]  # flowers of every species
TEXTS = ["good movie", "awful plot", "great actor in a bad film"]
FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "onnx", "torchscript", "transformers")


@dataclass
class Model:
    path: Path
    rows: list  # what the test sends as "instances"
    labels: list  # what the framework predicts in process
    probabilities: list | None  # per row, per class; None when the model has none
    init_args: tuple[str, ...] = ()  # extra `deploygen init` flags this model needs


def build(framework: str, folder: Path, variant: str = "") -> Model:
    folder.mkdir(parents=True, exist_ok=True)
    return BUILDERS[framework + (f"-{variant}" if variant else "")](folder)


def sklearn_model(folder: Path) -> Model:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    from train_iris import train

    import joblib

    path = train(folder / "iris.joblib")
    model = joblib.load(path)
    return Model(path, ROWS.tolist(), model.predict(ROWS).tolist(), model.predict_proba(ROWS).tolist())


def xgboost_model(folder: Path, suffix: str = "json", objective: str = "multi:softprob") -> Model:
    import xgboost

    if objective.startswith("reg:"):
        model = xgboost.XGBRegressor(n_estimators=8, max_depth=2, objective=objective).fit(IRIS_X, IRIS_X[:, 3])
        path = folder / f"xgb-reg.{suffix}"
        model.save_model(path)
        return Model(path, ROWS.tolist(), model.predict(ROWS).tolist(), None)
    target = IRIS_Y if objective.startswith("multi") else (IRIS_Y == 2).astype(int)
    model = xgboost.XGBClassifier(n_estimators=8, max_depth=2, objective=objective).fit(IRIS_X, target)
    path = folder / f"xgb-{objective.replace(':', '-')}.{suffix}"
    model.save_model(path)
    return Model(path, ROWS.tolist(), model.predict(ROWS).tolist(), model.predict_proba(ROWS).tolist())


def lightgbm_model(folder: Path, objective: str = "binary") -> Model:
    import lightgbm

    if objective == "regression":
        model = lightgbm.LGBMRegressor(n_estimators=8, verbose=-1).fit(IRIS_X, IRIS_X[:, 3])
        path = folder / "lgb-reg.txt"
        model.booster_.save_model(path)
        return Model(path, ROWS.tolist(), model.predict(ROWS).tolist(), None)
    target = IRIS_Y if objective == "multiclass" else (IRIS_Y == 2).astype(int)
    model = lightgbm.LGBMClassifier(n_estimators=8, verbose=-1).fit(IRIS_X, target)
    path = folder / f"lgb-{objective}.txt"
    model.booster_.save_model(path)
    return Model(path, ROWS.tolist(), model.predict(ROWS).tolist(), model.predict_proba(ROWS).tolist())


def onnx_model(folder: Path, kind: str = "classifier") -> Model:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression, LogisticRegression

    sample = IRIS_X[:1].astype(np.float32)
    if kind == "regressor":
        model = LinearRegression().fit(IRIS_X, IRIS_X[:, 3])
        path = folder / "linreg.onnx"
        path.write_bytes(to_onnx(model, sample).SerializeToString())
        expected = model.predict(ROWS.astype(np.float32)).astype(np.float32).tolist()
        return Model(path, ROWS.tolist(), expected, None)
    model = LogisticRegression(max_iter=1000).fit(IRIS_X, IRIS_Y)
    options = {id(model): {"zipmap": kind != "no-zipmap"}}
    path = folder / f"logreg-{kind}.onnx"
    path.write_bytes(to_onnx(model, sample, options=options).SerializeToString())
    return Model(path, ROWS.tolist(), model.predict(ROWS).tolist(), model.predict_proba(ROWS).tolist())


def torchscript_model(folder: Path) -> Model:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    path = folder / "net.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    with torch.no_grad():
        outputs = net(torch.tensor(ROWS, dtype=torch.float32)).numpy()
    return Model(path, ROWS.tolist(), outputs.tolist(), None, init_args=("--features", "4"))


def transformers_model(folder: Path) -> Model:
    """A tiny BERT text classifier with random weights and a vocabulary written here."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    torch.manual_seed(0)
    words = sorted({w for text in TEXTS for w in text.split()} | {"the", "fine", "boring"})
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    config = BertConfig(vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=3, id2label=labels,
                        initializer_range=1.0,  # weights large enough that the texts get different labels
                        label2id={v: k for k, v in labels.items()})
    path = folder / "bert-tiny"
    BertForSequenceClassification(config).eval().save_pretrained(path, safe_serialization=True)
    BertTokenizerFast(vocab=vocab).save_pretrained(path)
    model, tokenizer = BertForSequenceClassification.from_pretrained(path).eval(), BertTokenizerFast.from_pretrained(path)
    with torch.no_grad():
        probabilities = torch.softmax(model(**tokenizer(TEXTS, return_tensors="pt", padding=True)).logits, dim=1)
    return Model(path, list(TEXTS), [labels[i] for i in probabilities.argmax(dim=1).tolist()],
                 probabilities.tolist())


BUILDERS: dict[str, Callable[[Path], Model]] = {
    "sklearn": sklearn_model,
    "xgboost": xgboost_model,
    "xgboost-ubj": lambda folder: xgboost_model(folder, "ubj"),
    "xgboost-binary": lambda folder: xgboost_model(folder, objective="binary:logistic"),
    "xgboost-regressor": lambda folder: xgboost_model(folder, objective="reg:squarederror"),
    "lightgbm": lightgbm_model,
    "lightgbm-multiclass": lambda folder: lightgbm_model(folder, "multiclass"),
    "lightgbm-regressor": lambda folder: lightgbm_model(folder, "regression"),
    "onnx": onnx_model,
    "onnx-no-zipmap": lambda folder: onnx_model(folder, "no-zipmap"),
    "onnx-regressor": lambda folder: onnx_model(folder, "regressor"),
    "torchscript": torchscript_model,
    "transformers": transformers_model,
}


def close(served: Any, expected: Any, tolerance: float = 1e-5) -> bool:
    """Equal, numbers to a relative and absolute tolerance (the float32 a server answers in)."""
    if isinstance(expected, (list, tuple)):
        return isinstance(served, list) and len(served) == len(expected) and all(
            close(s, e, tolerance) for s, e in zip(served, expected))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return isinstance(served, (int, float)) and abs(served - expected) <= tolerance * (1 + abs(expected))
    return served == expected


def dumps(rows: list, return_probabilities: bool = False) -> bytes:
    body: dict = {"instances": rows}
    if return_probabilities:
        body["return_probabilities"] = True
    return json.dumps(body).encode()
