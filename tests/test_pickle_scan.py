"""scan_pickle on real scikit-learn models, hostile pickles, and broken files."""

from __future__ import annotations

import json
import os
import pickle
import struct
import time
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import sklearn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier, VotingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

from generator.errors import ArtifactError
from generator.pickle_scan import PickleScan, scan_pickle

COMPRESSORS = ("zlib", "gzip", "bz2", "lzma", "xz")
# format name -> (how to save, expected container)
FORMATS = {
    **{f"pickle-{p}": (("pickle", p), "pickle") for p in range(6)},
    "joblib": (("joblib", None), "joblib"),
    **{f"joblib-{c}": (("joblib", (c, 3)), f"joblib+{c}") for c in COMPRESSORS},
}
SYSTEM = f"{os.system.__module__}.system"  # posix.system, or nt.system on Windows


def _train() -> dict[str, object]:
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    with warnings.catch_warnings():
        # scikit-learn 1.9 deprecates SVC(probability=True); the model is still valid.
        warnings.simplefilter("ignore", FutureWarning)
        return {
            "logreg": LogisticRegression(max_iter=500).fit(X, y),
            "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
            "pipeline": Pipeline(
                [("scale", StandardScaler()), ("svc", SVC(probability=True, random_state=0))]
            ).fit(X, y),
            "linreg": LinearRegression().fit(X, X[:, 0] * 2.0),
            "str_labels": LogisticRegression(max_iter=500).fit(X, labels),
        }


def _save(obj: object, path, how: tuple[str, object]) -> None:
    kind, option = how
    if kind == "pickle":
        with open(path, "wb") as file:
            pickle.dump(obj, file, protocol=option)
    else:
        joblib.dump(obj, path, compress=option or 0)


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    return _train()


@pytest.fixture(scope="module")
def saved(models, tmp_path_factory) -> dict[tuple[str, str], bytes]:
    """Every model in every format, as the bytes of the saved file."""
    folder = tmp_path_factory.mktemp("models")
    files = {}
    for model_name, model in models.items():
        for format_name, (how, _) in FORMATS.items():
            path = folder / f"{model_name}.{format_name}"
            _save(model, path, how)
            files[model_name, format_name] = path.read_bytes()
    return files


def _write(tmp_path, data: bytes, name: str = "model.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _scan_or_artifact_error(path) -> PickleScan | None:
    """Scan; a bad file may only ever raise ArtifactError."""
    try:
        return scan_pickle(path)
    except ArtifactError:
        return None


# --- real models ----------------------------------------------------------


@pytest.mark.parametrize("format_name", FORMATS)
@pytest.mark.parametrize("model_name", ["logreg", "forest", "pipeline", "linreg", "str_labels"])
def test_real_models_are_described(models, saved, tmp_path, model_name, format_name):
    model = models[model_name]
    (how, container) = FORMATS[format_name]
    path = _write(tmp_path, saved[model_name, format_name], f"model.{format_name}")

    scan = scan_pickle(path)

    assert scan.container == container
    assert scan.protocol == (how[1] if how[0] == "pickle" else pickle.DEFAULT_PROTOCOL)
    assert scan.root_class == (type(model).__module__, type(model).__qualname__)
    assert scan.root_class in scan.globals
    assert len(set(scan.globals)) == len(scan.globals)
    assert scan.sklearn_version == sklearn.__version__
    assert scan.n_features_in == 4
    assert scan.suspicious == ()
    if container.startswith("joblib"):
        assert ("joblib.numpy_pickle", "NumpyArrayWrapper") in scan.globals


def test_pipeline_lists_the_classes_of_its_steps(saved, tmp_path):
    scan = scan_pickle(_write(tmp_path, saved["pipeline", "joblib"]))
    classes = {name for _, name in scan.globals}
    assert {"Pipeline", "StandardScaler", "SVC"} <= classes


DELEGATING = {
    "search": lambda: GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, cv=2),
    "voting": lambda: VotingClassifier([("a", LogisticRegression(max_iter=500)), ("b", SVC())]),
    "union": lambda: make_pipeline(
        FeatureUnion([("std", StandardScaler()), ("minmax", MinMaxScaler())]),
        LogisticRegression(max_iter=500),
    ),
}


@pytest.mark.parametrize("kind", DELEGATING)
def test_n_features_in_follows_scikit_learn_delegation(tmp_path, kind):
    model = DELEGATING[kind]().fit(*load_iris(return_X_y=True))
    joblib.dump(model, tmp_path / "model.joblib")

    scan = scan_pickle(tmp_path / "model.joblib")

    assert scan.n_features_in == model.n_features_in_ == 4
    assert scan.sklearn_version == sklearn.__version__


def test_text_pipeline_has_no_feature_count(tmp_path):
    # Raw text has no feature count, though the TfidfTransformer inside has one.
    docs = ["red apple", "green pear", "red cherry", "yellow pear", "green apple", "red plum"]
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [0, 1] * 3)
    joblib.dump(model, tmp_path / "model.joblib")

    scan = scan_pickle(tmp_path / "model.joblib")

    assert not hasattr(model, "n_features_in_")
    assert scan.n_features_in is None
    assert scan.sklearn_version == sklearn.__version__


def test_model_wrapped_in_a_dict(models, tmp_path):
    # Root is a plain dict: no root class, facts come from the estimator inside.
    joblib.dump({"model": models["pipeline"], "note": "v2"}, tmp_path / "bundle.joblib")
    scan = scan_pickle(tmp_path / "bundle.joblib")
    assert scan.root_class is None
    assert (scan.sklearn_version, scan.n_features_in) == (sklearn.__version__, 4)


def test_object_array_nested_pickle_is_walked(models, tmp_path):
    # joblib writes object arrays as a nested pickle; globals inside it count too.
    model = models["str_labels"]
    model.evil_ = np.array([_Evil(str(tmp_path / "pwned"))], dtype=object)
    try:
        joblib.dump(model, tmp_path / "model.joblib")
    finally:
        del model.evil_
    scan = scan_pickle(tmp_path / "model.joblib")
    assert scan.container == "joblib"
    assert scan.suspicious == (SYSTEM,)
    assert scan.n_features_in == 4
    assert not (tmp_path / "pwned").exists()


def test_joblib_arrays_are_skipped_not_read(tmp_path):
    # ~48 MB of array bytes: scanning must seek past them, not parse them.
    model = LinearRegression().fit(*load_iris(return_X_y=True))
    model.big_ = np.zeros(6_000_000)
    joblib.dump(model, tmp_path / "big.joblib")
    start = time.perf_counter()
    scan = scan_pickle(tmp_path / "big.joblib")
    assert time.perf_counter() - start < 0.5
    assert scan.n_features_in == 4


def test_protocol_2_builtins_are_reported_under_their_python3_name(tmp_path):
    # Protocol <3 writes "__builtin__ eval"; the unpickler maps it to builtins.eval.
    data = pickle.dumps(_Calls(eval, ("1 + 1",)), protocol=2)
    assert b"__builtin__" in data
    scan = scan_pickle(_write(tmp_path, data))
    assert scan.suspicious == ("builtins.eval",)
    assert scan.root_class == ("builtins", "eval")


# --- hostile pickles ------------------------------------------------------


class _Evil:
    """Loading this runs a shell command."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


class _Calls:
    def __init__(self, func, args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_malicious_pickle_is_reported_and_not_run(tmp_path, protocol):
    target = tmp_path / "pwned.txt"
    path = _write(tmp_path, pickle.dumps(_Evil(str(target)), protocol=protocol))

    scan = scan_pickle(path)

    assert SYSTEM in scan.suspicious
    assert scan.root_class == (os.system.__module__, "system")
    assert not target.exists()


def test_malicious_object_inside_a_real_model_is_reported(models, tmp_path):
    model = models["logreg"]
    model.hook_ = _Evil(str(tmp_path / "pwned"))
    try:
        joblib.dump(model, tmp_path / "model.joblib", compress=("gzip", 3))
    finally:
        del model.hook_
    scan = scan_pickle(tmp_path / "model.joblib")
    assert scan.suspicious == (SYSTEM,)
    assert scan.root_class == (LogisticRegression.__module__, "LogisticRegression")
    assert not (tmp_path / "pwned").exists()


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


@pytest.mark.parametrize(
    ("module", "name"),
    [("sklearn.base", "os.system"), ("sklearn.base", "BaseEstimator.__init__.__globals__")],
)
def test_dotted_names_walking_to_dangerous_attributes_are_suspicious(tmp_path, module, name):
    # Protocol 4 resolves a dotted name attribute by attribute from the module.
    data = b"\x80\x04" + _unicode(module) + _unicode(name) + b"\x93" + _unicode("x") + b"\x85R."
    scan = scan_pickle(_write(tmp_path, data))
    assert scan.suspicious == (f"{module}.{name}",)


# --- broken input ---------------------------------------------------------


def _assert_artifact_error(path, *words: str) -> str:
    with pytest.raises(ArtifactError) as info:
        scan_pickle(path)
    message = str(info.value)
    assert "\n" not in message
    assert os.path.basename(path) in message
    assert str(os.path.dirname(path)) not in message
    for word in words:
        assert word in message
    return message


def test_missing_file(tmp_path):
    _assert_artifact_error(tmp_path / "nowhere.pkl", "Cannot read")


def test_directory(tmp_path):
    (tmp_path / "model.pkl").mkdir()
    _assert_artifact_error(tmp_path / "model.pkl", "Cannot read")


def test_empty_file(tmp_path):
    _assert_artifact_error(_write(tmp_path, b"", "model.pkl"), "empty")


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is a README\n",
        json.dumps({"model": "logreg", "coef": [1.0, 2.0]}).encode(),
        json.dumps([1, 2, 3]).encode(),
        b"\x89HDF\r\n\x1a\n" + bytes(64),
    ],
    ids=["text", "json-object", "json-list", "hdf5"],
)
def test_not_a_pickle(tmp_path, data):
    _assert_artifact_error(_write(tmp_path, data, "model.pkl"), "not a valid pickle")


def test_zip_file(saved, tmp_path):
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.pkl", saved["logreg", "pickle-4"])
    _assert_artifact_error(path, "zip archive")


def test_lz4_is_unsupported_with_a_way_out(tmp_path):
    path = _write(tmp_path, b"\x04\x22\x4d\x18" + bytes(32), "model.joblib")
    _assert_artifact_error(path, "lz4", "compress=")


@pytest.mark.parametrize(
    ("model_name", "format_name"),
    [
        ("logreg", "pickle-0"),
        ("logreg", "pickle-5"),
        ("logreg", "joblib"),  # cuts inside the raw array bytes and their padding
        ("str_labels", "joblib"),  # cuts inside the nested object-array pickle
    ],
)
def test_every_truncation_is_reported(saved, tmp_path, model_name, format_name):
    data = saved[model_name, format_name]
    path = tmp_path / "model.bin"
    for cut in range(1, len(data)):
        path.write_bytes(data[:cut])
        with pytest.raises(ArtifactError, match="truncated"):
            scan_pickle(path)


@pytest.mark.parametrize("compressor", COMPRESSORS)
def test_truncated_compressed_file(saved, tmp_path, compressor):
    data = saved["forest", f"joblib-{compressor}"]
    for cut in (len(data) // 3, len(data) // 2, len(data) - 1):
        _assert_artifact_error(_write(tmp_path, data[:cut], "model.joblib"))


@pytest.mark.parametrize("compressor", COMPRESSORS)
def test_corrupt_compressed_stream(saved, tmp_path, compressor):
    data = bytearray(saved["forest", f"joblib-{compressor}"])
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0x5A for b in data[middle : middle + 64])
    _assert_artifact_error(_write(tmp_path, bytes(data), "model.joblib"))


@pytest.mark.parametrize("format_name", ["pickle-2", "pickle-5", "joblib"])
def test_garbage_after_a_valid_prefix(saved, tmp_path, format_name):
    data = saved["forest", format_name]
    for cut in (2, len(data) // 4, len(data) // 2, len(data) - 1):
        _assert_artifact_error(_write(tmp_path, data[:cut] + b"\xee" * 40, "model.pkl"))


def test_garbage_after_the_end_of_the_pickle(saved, tmp_path):
    path = _write(tmp_path, saved["forest", "joblib"] + b"extra", "model.joblib")
    _assert_artifact_error(path, "5 unexpected bytes")


def test_huge_declared_lengths_are_not_allocated(tmp_path):
    # BINBYTES8 claiming 2**62 bytes: must fail as truncated, not try to read them.
    data = b"\x80\x05\x8e" + struct.pack("<Q", 2**62) + b"abc"
    _assert_artifact_error(_write(tmp_path, data), "truncated")


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x04h\x05.",  # BINGET of a memo entry never written
        b"\x80\x04R.",  # REDUCE on an empty stack
        b"\x80\x04e.",  # APPENDS without MARK
        b"\x80\x04K\x01K\x02\x93.",  # STACK_GLOBAL of two ints
        b"\x80\x09N.",  # protocol from the future
        b"\x80\x04K\x01]\x94(K\x01u.",  # SETITEMS onto a list, odd items
    ],
)
def test_malformed_streams(tmp_path, data):
    _assert_artifact_error(_write(tmp_path, data), "not a valid pickle")


# --- fuzzing --------------------------------------------------------------

FUZZ_SOURCES = [
    ("logreg", "joblib"),
    ("str_labels", "joblib"),
    ("pipeline", "pickle-4"),
    ("logreg", "pickle-0"),
    ("logreg", "joblib-zlib"),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=512))
def test_random_bytes_only_raise_artifact_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "model.bin"
    path.write_bytes(data)
    _scan_or_artifact_error(path)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(FUZZ_SOURCES),
    cut=st.floats(min_value=0.0, max_value=1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 7)), max_size=4),
)
def test_mutated_model_files_only_raise_artifact_error(saved, tmp_path_factory, source, cut, flips):
    data = bytearray(saved[source])
    for where, bit in flips:
        data[int(where * (len(data) - 1))] ^= 1 << bit
    path = tmp_path_factory.mktemp("fuzz") / "model.bin"
    path.write_bytes(bytes(data[: max(1, round(cut * len(data)))]))
    _scan_or_artifact_error(path)
