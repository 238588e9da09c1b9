"""Frameworks: recognise a model artifact from its bytes and say what serving it needs.

Nothing here executes the artifact or imports its framework: pickles are read as an
opcode stream (pickle_scan), the other formats by their headers (formats). The kind
is found from the content, never from the file name, so a renamed file is still
recognised, and a hostile pickle is reported, never run.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from . import formats
from .errors import ArtifactError
from .limits import data_file
from .pickle_scan import is_suspicious, scan_pickle

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "onnx", "torchscript", "transformers", "custom")
FRAMEWORK_CHOICES = ("auto", *FRAMEWORKS)
DESCRIPTION = {
    "sklearn": "a scikit-learn model (pickle or joblib)",
    "xgboost": "an XGBoost model (JSON or UBJ)",
    "lightgbm": "a LightGBM text model",
    "onnx": "an ONNX model",
    "torchscript": "a TorchScript model",
    "transformers": "a Hugging Face transformers folder",
}
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
SUPPORTED = ("scikit-learn .joblib/.pkl, XGBoost .json/.ubj, LightGBM .txt, ONNX .onnx, "
             "TorchScript .pt, or a transformers folder with config.json and model.safetensors")
PICKLE_MAGIC = (b"\x80", b"\x78", b"\x1f\x8b", b"BZh", b"\x5d\x00\x00", b"\xfd7zXZ", b"\x04\x22\x4d\x18", b"ZF")
# Weights in a transformers folder that are pickles (or duplicates of the safetensors): never copied.
UNSAFE_WEIGHTS = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".h5", ".msgpack", ".ot", ".onnx")
TEXT_CLASSIFICATION_SUFFIX = "ForSequenceClassification"


@dataclass(frozen=True)
class ModelInfo:
    framework: str  # one of FRAMEWORKS
    file_name: str  # the artifact's name inside the project's model/ folder (a folder for transformers)
    sha256: str  # of the file; of the sorted (name, sha256) list for a folder
    size_bytes: int
    framework_version: str | None = None  # of the package the requirements pin
    version_source: str = "none"  # artifact: the artifact records it; tested: deploygen's tests; none
    artifact_version: str | None = None  # what the artifact records of its writer or format, in words
    estimator: str | None = None  # the model's class or kind, e.g. XGBoost multi:softprob
    task: str | None = None  # classification | regression | None (found at prediction time)
    n_features: int | None = None
    sample_row: Any = None  # one row of the sample request
    requirements: tuple[str, ...] = ()
    objective: str = ""  # XGBoost's and LightGBM's objective
    labels: tuple[str, ...] = ()  # class names, in the order of the probabilities
    files: dict[str, str] = field(default_factory=dict)  # a folder artifact: relative path -> sha256
    system_libraries: dict[str, str] = field(default_factory=dict)  # {"debian": ..., "amazon_linux": ...}
    cpu_index: str = ""  # a package index the image installs torch from

    def sample_request(self) -> str:
        """A request body of the right shape for the generated tests and README."""
        row = self.sample_row if self.sample_row is not None else [0.0] * (self.n_features or 1)
        return json.dumps({"instances": [row]})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(files: dict[str, str]) -> str:
    """One hash for a folder artifact: of its files' names and hashes, in sorted order."""
    return hashlib.sha256("".join(f"{name}\0{files[name]}\n" for name in sorted(files)).encode()).hexdigest()


def artifact_sha256(path: Path) -> str:
    """The hash the spec records for a model file or folder (what detection computed)."""
    return tree_sha256({name: file_sha256(path / name) for name in model_folder_files(path)}) \
        if path.is_dir() else file_sha256(path)


def artifact_size(path: Path) -> int:
    return sum((path / name).stat().st_size for name in model_folder_files(path)) if path.is_dir() \
        else path.stat().st_size


def model_folder_files(folder: Path) -> list[str]:
    """The files of a transformers folder deploygen copies: not hidden, not in subfolders, no pickles."""
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() not in UNSAFE_WEIGHTS)


def tested_version(package: str) -> str:
    return str(data_file("frameworks.yaml")["tested"][package])


def detect(path: Path, framework: str = "auto", features: int | None = None) -> ModelInfo:
    """Recognise the artifact at path; `framework` overrides detection ("auto" detects).

    features: the number of input features, for artifacts that do not record it.
    """
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"model file {path} does not exist: check the path")
    if framework == "custom":
        return with_features(_custom(path), features)
    found = _transformers(path) if path.is_dir() else _detect_file(path)
    if framework not in ("auto", found.framework):
        raise ArtifactError(f"{path.name} is {DESCRIPTION[found.framework]}, not {DESCRIPTION[framework]}: "
                            f"drop --framework {framework} (or give --framework {found.framework})")
    return with_features(found, features)


def detect_recorded(path: Path, framework: str, recorded_features: int | None) -> ModelInfo:
    """A project's model detected again, with the input size `init --features` recorded where the file has none."""
    info = detect(path, framework)
    if info.n_features is None and recorded_features and not isinstance(info.sample_row, str):
        info = with_features(info, recorded_features)
    return info


def with_features(info: ModelInfo, features: int | None) -> ModelInfo:
    if features is None:
        return info
    if info.n_features is not None and info.n_features != features:
        raise ArtifactError(f"--features {features} disagrees with the model, which takes {info.n_features} "
                            "features: drop --features")
    if isinstance(info.sample_row, str):
        raise ArtifactError("--features does not apply to a text model: drop it")
    return _replace(info, n_features=features, sample_row=None)


def _replace(info: ModelInfo, **changes) -> ModelInfo:
    return ModelInfo(**{**info.__dict__, **changes})


@contextmanager
def _mapped(path: Path) -> Iterator[Any]:
    try:
        with path.open("rb") as stream:
            if path.stat().st_size == 0:
                raise ArtifactError(f"model file {path.name} is empty: save the model again")
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
                yield data
    except OSError as err:
        raise ArtifactError(f"cannot read model file {path}: {err.strerror}; check its permissions") from None


def _detect_file(path: Path) -> ModelInfo:
    try:
        sha256 = file_sha256(path)  # first: it reads every byte, so an unreadable file fails here
    except OSError as err:
        raise ArtifactError(f"cannot read model file {path}: {err.strerror}; check its permissions") from None
    with _mapped(path) as data:
        head = bytes(data[:16])
        base = {"sha256": sha256, "size_bytes": len(data)}
        try:
            if head.startswith(b"PK\x03\x04"):
                return _torch(path, base)
            if head.startswith(b"tree\n") or head.startswith(b"tree\r\n"):
                return _lightgbm(data, base)
            if head.startswith(b"{"):
                return _xgboost(data, base)
            if head.startswith(b"\x08"):
                return _onnx(data, base)
            if head.startswith(PICKLE_MAGIC) or path.suffix.lower() in PICKLE_SUFFIXES:
                return _sklearn(path, base)
        except formats.FormatError as err:
            raise ArtifactError(f"{path.name} looks like {DESCRIPTION[_guess(head)]} but {err}: "
                                "it is corrupt or was cut short; save or copy it again") from None
    raise ArtifactError(f"{path.name}: unknown model format; supported: {SUPPORTED}; "
                        "use --framework custom for anything else")


def _guess(head: bytes) -> str:
    return ("torchscript" if head.startswith(b"PK") else "lightgbm" if head.startswith(b"tree")
            else "xgboost" if head.startswith(b"{") else "onnx")


# --- scikit-learn ------------------------------------------------------------------------------

def _sklearn(path: Path, base: dict) -> ModelInfo:
    scan = scan_pickle(path)
    if scan.suspicious:
        raise ArtifactError(
            f"{path.name} calls {', '.join(scan.suspicious)} when it is loaded, which runs code: "
            "refusing to deploy it; re-save the model from a trusted session"
        )
    root = ".".join(scan.root_class) if scan.root_class else None
    if not scan.sklearn_version:
        what = f"a pickle of {root}" if root else "a pickle with no scikit-learn estimator"
        raise ArtifactError(f"{path.name} is {what}, not a scikit-learn model; use --framework custom to serve it")
    requirements = [f"scikit-learn=={scan.sklearn_version}", "joblib"]
    if any(module.startswith("numpy._core") for module, _ in scan.globals):
        requirements.append("numpy>=2")  # pickled by NumPy 2; NumPy 1 cannot load it
    suffix = path.suffix.lower() if path.suffix.lower() in PICKLE_SUFFIXES else ".joblib"
    return ModelInfo(framework="sklearn", file_name=f"model{suffix}", **base,
                     framework_version=scan.sklearn_version, version_source="artifact",
                     artifact_version=f"scikit-learn {scan.sklearn_version}", estimator=root,
                     n_features=scan.n_features_in, requirements=tuple(requirements))


# --- XGBoost -----------------------------------------------------------------------------------

def _xgboost(data, base: dict) -> ModelInfo:
    ubj = data[1:2] in (b"i", b"U", b"I", b"l", b"L", b"$", b"#", b"}")
    if ubj:
        document = formats.ubjson(data)
    else:
        try:
            document = json.loads(bytes(data))
        except ValueError:
            raise formats.FormatError("is not valid JSON") from None
    learner = document.get("learner") if isinstance(document, dict) else None
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(learner, dict) or not isinstance(version, list) or len(version) != 3:
        raise formats.FormatError("lacks the 'learner' and 'version' of an XGBoost model")
    release = ".".join(str(int(part)) for part in version)
    params = learner.get("learner_model_param") or {}
    objective = str((learner.get("objective") or {}).get("name", ""))
    n_classes = int(params.get("num_class") or 0)
    classification = objective.startswith(("binary:", "multi:"))
    labels = tuple(str(i) for i in range(max(n_classes, 2))) if classification else ()
    n_features = int(params["num_feature"]) if str(params.get("num_feature", "")).isdigit() else None
    return ModelInfo(framework="xgboost", file_name="model.ubj" if ubj else "model.json", **base,
                     framework_version=release, version_source="artifact", artifact_version=f"xgboost {release}",
                     estimator=f"XGBoost {objective}", task="classification" if classification else "regression",
                     n_features=n_features, requirements=(f"{_xgboost_package(release)}=={release}",),
                     objective=objective,
                     labels=labels)


def _xgboost_package(release: str) -> str:
    """xgboost-cpu where it exists for the release (no CUDA libraries), else xgboost."""
    data = data_file("frameworks.yaml")["xgboost"]
    since = tuple(int(part) for part in data["cpu_package_since"].split("."))
    return data["cpu_package"] if tuple(int(part) for part in release.split(".")) >= since else "xgboost"


# --- LightGBM ----------------------------------------------------------------------------------

def _lightgbm(data, base: dict) -> ModelInfo:
    header = formats.lightgbm_header(data)
    expected = data_file("frameworks.yaml")["lightgbm"]["model_format"]
    if header.version != expected:
        raise ArtifactError(f"the LightGBM model is format {header.version}, and deploygen serves {expected} "
                            f"(lightgbm {tested_version('lightgbm')}): re-save it with lightgbm 4")
    objective = header.objective.split()[0] if header.objective else ""
    classification = objective in ("binary", "multiclass", "multiclassova", "softmax", "ova", "ovr")
    version = tested_version("lightgbm")
    n_features = header.max_feature_idx + 1
    return ModelInfo(framework="lightgbm", file_name="model.txt", **base, framework_version=version,
                     version_source="tested", artifact_version=f"LightGBM model format {header.version}",
                     estimator=f"LightGBM {objective or 'model'}",
                     task="classification" if classification else "regression", n_features=n_features,
                     sample_row=_midpoints(header.feature_infos, n_features), requirements=(f"lightgbm=={version}",),
                     objective=objective,
                     labels=tuple(str(i) for i in range(max(header.num_class, 2))) if classification else (),
                     system_libraries=dict(data_file("frameworks.yaml")["system_libraries"]["lightgbm"]))


def _midpoints(infos: tuple[str, ...], n: int) -> list[float]:
    """A plausible row: the middle of each feature's training range, which LightGBM records."""
    row = []
    for info in (list(infos) + ["none"] * n)[:n]:
        low, _, high = info.strip("[]").partition(":")
        try:
            row.append(round((float(low) + float(high)) / 2, 6))
        except ValueError:  # "none" (unused feature) or a categorical list
            row.append(0.0)
    return row


# --- ONNX --------------------------------------------------------------------------------------

ONNX_NUMPY_TYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 8: "str",
                    9: "bool", 10: "float16", 11: "float64"}


def _onnx(data, base: dict) -> ModelInfo:
    header = formats.onnx_header(data)
    limits = data_file("frameworks.yaml")["onnxruntime"]
    runtime = tested_version("onnxruntime")
    too_new = [f"{domain} opset {version}" for domain, version in header.opsets.items()
               if version > limits["max_opset"].get(domain, 10**6)]
    if header.ir_version > limits["max_ir_version"]:
        too_new.insert(0, f"IR version {header.ir_version}")
    if too_new:
        raise ArtifactError(f"the ONNX model uses {', '.join(too_new)}, newer than onnxruntime {runtime} runs: "
                            "export it with an older opset (opset= in the exporter)")
    if not header.inputs:
        raise ArtifactError("the ONNX model has no inputs: export it again with its input declared")
    first = header.inputs[0]
    if len(header.inputs) > 1:
        raise ArtifactError(f"the ONNX model takes {len(header.inputs)} inputs "
                            f"({', '.join(i.name for i in header.inputs)}); deploygen feeds one: "
                            "use --framework custom and build the inputs in predict")
    kind = ONNX_NUMPY_TYPES.get(first.elem_type, "float32")
    shape = list(first.shape or [None, 1])
    n_features = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
    opset = header.opsets.get("ai.onnx")
    words = f"ONNX IR {header.ir_version}" + (f", opset {opset}" if opset else "") + \
        (f", written by {header.producer}" if header.producer else "")
    return ModelInfo(framework="onnx", file_name="model.onnx", **base, framework_version=runtime,
                     version_source="tested", artifact_version=words, estimator=f"ONNX graph ({first.name})",
                     task="classification" if len(header.outputs) > 1 else None, n_features=n_features,
                     sample_row=_zeros(shape[1:], kind), requirements=(f"onnxruntime=={runtime}", "numpy"))


def _zeros(shape: list, kind: str) -> Any:
    """A row of the input's shape (symbolic sizes taken as 1) holding zeros of its type."""
    zero = "" if kind == "str" else False if kind == "bool" else 0 if kind.startswith(("int", "uint")) else 0.0
    if not shape:
        return [zero]
    size = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else 1
    inner = _zeros(shape[1:], kind) if len(shape) > 1 else zero
    return [inner for _ in range(size)]


# --- PyTorch -----------------------------------------------------------------------------------

def _torch(path: Path, base: dict) -> ModelInfo:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            bad = archive.testzip()
            if bad is not None:
                raise formats.FormatError(f"holds a damaged member {bad}")
            pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
            scripted = any("/code/" in n for n in names) and any(n.endswith("/constants.pkl") for n in names)
            if scripted:
                root = names[0].split("/")[0]
                fmt = archive.read(f"{root}/version").decode().strip() if f"{root}/version" in names else "?"
            elif pickles:
                data_pkl = archive.read(pickles[0])
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, zlib.error) as err:  # ValueError: bad names
        raise formats.FormatError(f"is not a readable zip archive ({type(err).__name__})") from None
    if scripted:
        version = tested_version("torch")
        return ModelInfo(framework="torchscript", file_name="model.pt", **base, framework_version=version,
                         version_source="tested", artifact_version=f"TorchScript archive format {fmt}",
                         estimator="TorchScript module", requirements=(f"torch=={version}", "numpy"),
                         cpu_index=data_file("frameworks.yaml")["torch"]["cpu_index"])
    if pickles:
        raise ArtifactError(f"{path.name} {_torch_save_kind(data_pkl, path)}: script the model "
                            "(torch.jit.save(torch.jit.script(model), 'model.pt')) or use --framework custom")
    raise ArtifactError(f"{path.name} is a zip archive but not a PyTorch model; supported: {SUPPORTED}")


def _torch_save_kind(data_pkl: bytes, path: Path) -> str:
    """What torch.save wrote, from the globals its pickle names (read with pickletools, never unpickled).

    torch.save pickles tensors as persistent ids, which the scikit-learn scanner refuses, so
    this reads the opcodes alone: the first global is the saved object's class or factory.
    """
    import pickletools

    names, strings = [], []
    try:
        for opcode, arg, _ in pickletools.genops(data_pkl):
            if opcode.name == "GLOBAL":
                names.append(tuple(str(arg).split(" ", 1)))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append((strings[-2], strings[-1]))
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # pickletools raises ValueError and others on damaged streams
        return "is a torch.save file whose pickle is damaged"
    suspicious = [f"{m}.{n}" for m, n in names if is_suspicious(m, n)]
    if suspicious:
        return f"is a torch.save file that calls {', '.join(suspicious)} when loaded, which runs code"
    root = ".".join(names[0]) if names else "dict"
    if root in ("collections.OrderedDict", "builtins.dict", "dict"):
        return "is a state_dict: weights without the model's code, which cannot be served alone"
    return f"is a pickled {root} (torch.save of the whole model): loading it runs that class's code"


# --- Hugging Face transformers -----------------------------------------------------------------

def _transformers(folder: Path) -> ModelInfo:
    name = folder.name or str(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ArtifactError(f"{name} is a folder without config.json: give a model file, or a transformers "
                            "folder saved with save_pretrained")
    try:
        config = json.loads(config_path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise ArtifactError(f"{name}/config.json cannot be read as JSON ({err}): save the model again") from None
    architectures = config.get("architectures") or []
    if not isinstance(config, dict) or not architectures:
        raise ArtifactError(f"{name}/config.json names no model architecture: save the model with "
                            "save_pretrained")
    arch = str(architectures[0])
    if not arch.endswith(TEXT_CLASSIFICATION_SUFFIX):
        raise ArtifactError(f"{name} holds a {arch}; deploygen serves transformers text classification "
                            f"(…{TEXT_CLASSIFICATION_SUFFIX}): use --framework custom for other tasks")
    files = model_folder_files(folder)
    weights = [f for f in files if f.endswith(".safetensors")]
    if "model.safetensors" not in files and "model.safetensors.index.json" not in files:
        pickled = [p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth")]
        hint = (f" (it has {', '.join(sorted(pickled))}: pickles, which run code when loaded)") if pickled else ""
        raise ArtifactError(f"{name} has no model.safetensors{hint}: save it with "
                            "model.save_pretrained(path, safe_serialization=True)")
    for weight in weights:
        with _mapped(folder / weight) as data:
            try:
                formats.safetensors_header(data)
            except formats.FormatError as err:
                raise ArtifactError(f"{name}/{weight} {err}: copy or save the model again") from None
    if "tokenizer.json" not in files and "tokenizer_config.json" not in files:
        raise ArtifactError(f"{name} has no tokenizer: save it into the same folder with "
                            "tokenizer.save_pretrained(path)")
    hashes = {f: file_sha256(folder / f) for f in files}
    recorded = config.get("transformers_version")
    version = str(recorded) if recorded else tested_version("transformers")
    torch = tested_version("torch")
    id2label = config.get("id2label") or {}
    labels = tuple(str(id2label[k]) for k in sorted(id2label, key=lambda k: int(k))) if id2label else ()
    return ModelInfo(
        framework="transformers", file_name="transformers", sha256=tree_sha256(hashes),
        size_bytes=sum((folder / f).stat().st_size for f in files),
        framework_version=version, version_source="artifact" if recorded else "tested",
        artifact_version=f"transformers {recorded}" if recorded else None, estimator=arch,
        task="classification", sample_row=_sample_text(folder),
        requirements=(f"transformers=={version}", f"torch=={torch}"), labels=labels, files=hashes,
        cpu_index=data_file("frameworks.yaml")["torch"]["cpu_index"])


def _sample_text(folder: Path) -> str:
    """A few ordinary words from the tokenizer's own vocabulary, so the sample is text it knows."""
    vocab: list[str] = []
    try:
        tokenizer = json.loads((folder / "tokenizer.json").read_text("utf-8"))
        table = (tokenizer.get("model") or {}).get("vocab") or {}
        vocab = list(table) if isinstance(table, dict) else [str(item[0]) for item in table if item]
    except (OSError, ValueError, TypeError, IndexError):
        if (folder / "vocab.txt").is_file():
            vocab = (folder / "vocab.txt").read_text("utf-8", "replace").split()
    words = [w.lstrip("Ġ▁") for w in vocab if w.lstrip("Ġ▁").isalpha() and w.lstrip("Ġ▁").isascii()
             and len(w.lstrip("Ġ▁")) > 1]
    return " ".join(words[:4]) or "hello world"


# --- custom ------------------------------------------------------------------------------------

def _custom(path: Path) -> ModelInfo:
    if path.is_dir():
        raise ArtifactError(f"{path} is a folder; --framework custom takes one model file")
    try:
        sha256, size = file_sha256(path), path.stat().st_size
    except OSError as err:
        raise ArtifactError(f"cannot read model file {path}: {err.strerror}; check its permissions") from None
    suffix = "".join(ch for ch in path.suffix.lower() if ch.isalnum() or ch == ".")
    return ModelInfo(framework="custom", file_name=f"model{suffix or '.bin'}", sha256=sha256, size_bytes=size)

