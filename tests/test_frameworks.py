"""Every framework: detected from its bytes, refused when broken, and its generated predict code right.

The end-to-end matrix (every framework on every target, served over HTTP) is in test_framework_matrix.py.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from generator import frameworks
from generator.errors import ArtifactError
from model_zoo import BUILDERS, close

EXIT_ARTIFACT = 3
KINDS = {  # zoo name -> (framework, file name in the project, task)
    "sklearn": ("sklearn", "model.joblib", None),
    "xgboost": ("xgboost", "model.json", "classification"),
    "xgboost-ubj": ("xgboost", "model.ubj", "classification"),
    "xgboost-binary": ("xgboost", "model.json", "classification"),
    "xgboost-regressor": ("xgboost", "model.json", "regression"),
    "lightgbm": ("lightgbm", "model.txt", "classification"),
    "lightgbm-multiclass": ("lightgbm", "model.txt", "classification"),
    "lightgbm-regressor": ("lightgbm", "model.txt", "regression"),
    "onnx": ("onnx", "model.onnx", "classification"),
    "onnx-no-zipmap": ("onnx", "model.onnx", "classification"),
    "onnx-regressor": ("onnx", "model.onnx", None),
    "torchscript": ("torchscript", "model.pt", None),
    "transformers": ("transformers", "transformers", "classification"),
}
assert set(KINDS) == set(BUILDERS)


# --- detection ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", KINDS)
def test_each_kind_is_detected_with_its_facts(zoo, name):
    model = zoo(name)
    info = frameworks.detect(model.path)
    framework, file_name, task = KINDS[name]
    assert (info.framework, info.file_name, info.task) == (framework, file_name, task)
    assert info.sha256 == frameworks.artifact_sha256(model.path)
    if framework != "transformers":
        assert info.n_features == (None if framework == "torchscript" else 4)
    assert json.loads(info.sample_request())["instances"][0]  # one row of the right kind
    if framework == "transformers":
        assert isinstance(info.sample_row, str) and len(info.sample_row.split()) >= 2
        assert info.labels == ("negative", "neutral", "positive")
    else:
        assert len(json.loads(info.sample_request())["instances"][0]) == info.n_features or framework == "torchscript"


def installed(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution).split("+")[0]


@pytest.mark.parametrize("name, pin, source", [
    ("sklearn", "scikit-learn=={}".format(installed("scikit-learn")), "artifact"),  # _sklearn_version
    ("xgboost-ubj", "xgboost-cpu=={}".format(installed("xgboost")), "artifact"),  # the model's "version"
    ("lightgbm", "lightgbm=={}".format(installed("lightgbm")), "tested"),  # only the format, v4
    ("onnx", "onnxruntime=={}".format(installed("onnxruntime")), "tested"),  # IR and opset only
    ("torchscript", "torch=={}".format(installed("torch")), "tested"),
    ("transformers", "transformers=={}".format(installed("transformers")), "artifact"),  # config.json
])
def test_requirements_pin_the_writer_or_the_tested_release(zoo, name, pin, source):
    info = frameworks.detect(zoo(name).path)
    assert info.requirements[0] == pin
    assert info.version_source == source
    assert info.artifact_version


@pytest.mark.parametrize("release, pin", [("3.2.0", "xgboost-cpu==3.2.0"), ("2.1.1", "xgboost-cpu==2.1.1"),
                                          ("2.0.3", "xgboost==2.0.3"), ("1.7.6", "xgboost==1.7.6")])
def test_xgboost_pins_the_cpu_only_package_where_it_exists(zoo, tmp_path, release, pin):
    document = json.loads(zoo("xgboost").path.read_text())
    document["version"] = [int(part) for part in release.split(".")]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    assert frameworks.detect(path).requirements == (pin,)


@pytest.mark.parametrize("name", KINDS)
def test_requirements_hold_only_what_prediction_needs(zoo, name):
    names = {r.split("==")[0].split(">=")[0] for r in frameworks.detect(zoo(name).path).requirements}
    assert not names & {"pandas", "skl2onnx", "onnx", "xgboost[scikit-learn]"}
    assert ("scikit-learn" in names) == (name == "sklearn")


@pytest.mark.parametrize("name, renamed", [
    ("onnx", "model.pkl"), ("xgboost", "model.txt"), ("lightgbm", "booster.json"), ("torchscript", "model.onnx"),
    ("xgboost-ubj", "model.bin"), ("sklearn", "model.onnx"),
])
def test_a_renamed_file_is_detected_by_its_content(zoo, tmp_path, name, renamed):
    copy = tmp_path / renamed
    shutil.copyfile(zoo(name).path, copy)
    assert frameworks.detect(copy).framework == KINDS[name][0]


@pytest.mark.parametrize("name, flag", [("onnx", "xgboost"), ("lightgbm", "sklearn"), ("sklearn", "onnx"),
                                        ("transformers", "torchscript")])
def test_a_framework_flag_that_disagrees_with_the_file_says_what_was_found(zoo, cli, tmp_path, name, flag):
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", zoo(name).path, "--framework", flag,
                          "--target", "lambda", "--output", tmp_path / "out")
    found = KINDS[name][0]
    assert f"is {frameworks.DESCRIPTION[found]}, not {frameworks.DESCRIPTION[flag]}" in message
    assert f"--framework {found}" in message


def test_the_framework_flag_matching_the_file_and_custom_are_accepted(zoo):
    assert frameworks.detect(zoo("onnx").path, "onnx").framework == "onnx"
    assert frameworks.detect(zoo("onnx").path, "custom").framework == "custom"


def _truncate(path: Path, into: Path) -> Path:
    if path.is_dir():
        shutil.copytree(path, into)
        weights = into / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size * 2 // 3])
        return into
    into.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    return into


@pytest.mark.parametrize("name", ["xgboost", "xgboost-ubj", "lightgbm", "onnx", "torchscript", "transformers",
                                  "sklearn"])
def test_a_truncated_file_of_each_kind_is_refused_with_a_clear_message(zoo, cli, tmp_path, name):
    model = _truncate(zoo(name).path, tmp_path / ("cut" + zoo(name).path.suffix))
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", model, "--target", "lambda", "--output", tmp_path / "o")
    assert any(word in message for word in ("cut short", "corrupt", "truncated", "ends")), message


def _flip_middle_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


@pytest.mark.parametrize("name, damage", [
    ("torchscript", _flip_middle_byte),  # a zip member fails its CRC
    ("xgboost", lambda data: data.replace(b'"learner"', b'"leerner"')),
    ("lightgbm", lambda data: data.replace(b"max_feature_idx=", b"max_feature_idy=")),
    ("onnx", lambda data: data[:1] + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" + data[12:]),
])
def test_a_corrupt_file_of_each_kind_is_refused(zoo, cli, tmp_path, name, damage):
    model = tmp_path / zoo(name).path.name
    model.write_bytes(damage(zoo(name).path.read_bytes()))
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", model, "--target", "lambda", "--output", tmp_path / "o")
    assert "corrupt" in message or "cut short" in message, message


def test_unknown_bytes_name_what_is_supported(cli, tmp_path):
    model = tmp_path / "model.bin"
    model.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(64))
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", model, "--target", "lambda", "--output", tmp_path / "o")
    assert "unknown model format" in message and "--framework custom" in message and "TorchScript" in message


# --- PyTorch files that are not TorchScript ----------------------------------------------------

def test_a_state_dict_is_refused_with_the_way_out(cli, tmp_path):
    import torch

    torch.save(torch.nn.Linear(4, 3).state_dict(), tmp_path / "weights.pt")
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", tmp_path / "weights.pt", "--target", "ecs",
                          "--output", tmp_path / "o")
    assert "state_dict" in message and "torch.jit.script" in message and "--framework custom" in message


class Evil:
    def __reduce__(self):
        import os

        return os.system, ("touch PWNED",)


def test_a_torch_file_whose_pickle_runs_code_is_refused_and_nothing_runs(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    archive = tmp_path / "model.pt"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("model/data.pkl", pickle.dumps(Evil(), protocol=2))
        out.writestr("model/version", "3\n")
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", archive, "--target", "lambda", "--output", tmp_path / "o")
    assert "os.system" in message or "posix.system" in message
    assert not (tmp_path / "PWNED").exists()


# --- transformers folders ----------------------------------------------------------------------

def _hf_copy(zoo, tmp_path) -> Path:
    folder = tmp_path / "hf"
    shutil.copytree(zoo("transformers").path, folder)
    return folder


def test_a_transformers_folder_with_pickle_weights_only_is_refused(zoo, cli, tmp_path):
    folder = _hf_copy(zoo, tmp_path)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", folder, "--target", "lambda", "--output", tmp_path / "o")
    assert "model.safetensors" in message and "pytorch_model.bin" in message and "safe_serialization" in message


def test_a_transformers_folder_for_another_task_is_refused(zoo, cli, tmp_path):
    folder = _hf_copy(zoo, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["BertForMaskedLM"]}))
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", folder, "--target", "lambda", "--output", tmp_path / "o")
    assert "BertForMaskedLM" in message and "text classification" in message


def test_a_transformers_folder_without_a_tokenizer_is_refused(zoo, cli, tmp_path):
    folder = _hf_copy(zoo, tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", folder, "--target", "lambda", "--output", tmp_path / "o")
    assert "tokenizer.save_pretrained" in message


def test_a_folder_that_is_not_a_transformers_model_is_refused(cli, tmp_path):
    (tmp_path / "stuff").mkdir()
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", tmp_path / "stuff", "--target", "lambda",
                          "--output", tmp_path / "o")
    assert "config.json" in message


def test_pickles_beside_the_safetensors_are_not_copied(zoo, cli, tmp_path):
    folder = _hf_copy(zoo, tmp_path)
    (folder / "training_args.bin").write_bytes(pickle.dumps({"lr": 1}))
    (folder / ".cache").mkdir()
    result = cli("init", folder, "--target", "lambda", "--output", tmp_path / "p")
    assert result.exit_code == 0, result.output
    copied = sorted(p.name for p in (tmp_path / "p" / "model" / "transformers").iterdir())
    assert copied == sorted(frameworks.model_folder_files(zoo("transformers").path))
    assert "training_args.bin" not in copied


# --- ONNX limits -------------------------------------------------------------------------------

def _onnx_model(opset: int = 13, ir: int = 8, inputs: int = 1) -> bytes:
    import onnx.helper as h
    from onnx import TensorProto

    xs = [h.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [None, 2]) for i in range(inputs)]
    y = h.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    node = h.make_node("Sum", [x.name for x in xs], ["y"])
    model = h.make_model(h.make_graph([node], "g", xs, [y]), opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = ir
    return model.SerializeToString()


def test_an_onnx_model_newer_than_onnxruntime_is_refused_with_the_numbers(cli, tmp_path):
    limits = yaml.safe_load((Path(frameworks.__file__).parent / "data" / "frameworks.yaml").read_text())
    model = tmp_path / "new.onnx"
    model.write_bytes(_onnx_model(opset=limits["onnxruntime"]["max_opset"]["ai.onnx"] + 1))
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", model, "--target", "lambda", "--output", tmp_path / "o")
    assert f"opset {limits['onnxruntime']['max_opset']['ai.onnx'] + 1}" in message and "older opset" in message


def test_an_onnx_model_with_several_inputs_is_refused(cli, tmp_path):
    model = tmp_path / "two.onnx"
    model.write_bytes(_onnx_model(inputs=2))
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", model, "--target", "lambda", "--output", tmp_path / "o")
    assert "2 inputs" in message and "--framework custom" in message


def test_an_onnx_input_shape_sizes_the_sample(tmp_path):
    import onnx.helper as h
    from onnx import TensorProto

    x = h.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 2, 2])
    y = h.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 2, 2])
    model = h.make_model(h.make_graph([h.make_node("Identity", ["image"], ["y"])], "g", [x], [y]),
                         opset_imports=[h.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    info = frameworks.detect(tmp_path / "m.onnx")
    assert json.loads(info.sample_request()) == {"instances": [[[[0.0, 0.0], [0.0, 0.0]]] * 3]}


def test_features_flag_sizes_a_model_that_does_not_record_it_and_must_agree_otherwise(zoo):
    assert frameworks.detect(zoo("torchscript").path, features=4).sample_request() == \
        json.dumps({"instances": [[0.0] * 4]})
    with pytest.raises(ArtifactError, match="takes 4 features"):
        frameworks.detect(zoo("xgboost").path, features=5)


# --- the generated predict code, in process ----------------------------------------------------

def _inference(project: Path):
    spec = importlib.util.spec_from_file_location(f"inference_{project.name}", project / "src" / "inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", KINDS)
def test_generated_predict_matches_the_framework(zoo, cli, tmp_path, name):
    model = zoo(name)
    project = tmp_path / name
    result = cli("init", model.path, "--target", "lambda", "--output", project, *model.init_args)
    assert result.exit_code == 0, result.output
    inference = _inference(project)
    loaded = inference.load(str(project / "model"))
    answer = json.loads(json.dumps(_jsonable(inference.predict(loaded, model.rows))))  # plain JSON types only
    assert close(answer, model.labels), (answer, model.labels)
    asked = inference.predict(loaded, model.rows, return_probabilities=True)
    if model.probabilities is None:
        assert asked["probabilities"] is None
    else:
        assert close(_jsonable(asked["probabilities"]), model.probabilities, 1e-4)
        assert close(_jsonable(asked["predictions"]), model.labels)


def _jsonable(value):
    codec_path = Path(__file__).resolve().parent.parent / "templates" / "shared" / "serving" / "codec.py"
    spec = importlib.util.spec_from_file_location("codec_for_frameworks", codec_path)
    codec = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(codec)
    return codec.to_jsonable(value)


def test_the_transformers_project_carries_only_safe_files_and_pins_torch_from_the_cpu_index(zoo, cli, tmp_path):
    cli("init", zoo("transformers").path, "--target", "sagemaker", "--output", tmp_path / "p")
    dockerfile = (tmp_path / "p" / "Dockerfile").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu torch==" in dockerfile
    requirements = (tmp_path / "p" / "requirements.txt").read_text()
    assert "transformers==" in requirements and "torch==" in requirements and "pandas" not in requirements
    spec = yaml.safe_load((tmp_path / "p" / "deploygen.yaml").read_text())
    assert spec["model"]["path"] == "model/transformers" and spec["model"]["task"] == "classification"


@pytest.mark.parametrize("target, line", [("sagemaker", "apt-get install --yes --no-install-recommends libgomp1"),
                                          ("lambda", "dnf install --assumeyes libgomp")])
def test_lightgbm_images_get_the_openmp_runtime(zoo, cli, tmp_path, target, line):
    cli("init", zoo("lightgbm").path, "--target", target, "--output", tmp_path / "p")
    assert line in (tmp_path / "p" / "Dockerfile").read_text()
    spec = yaml.safe_load((tmp_path / "p" / "deploygen.yaml").read_text())
    assert spec["model"]["version_source"] == "tested"
    assert spec["model"]["artifact_version"] == "LightGBM model format v4"


def test_data_file_matches_the_tested_environment():
    """frameworks.yaml pins what the tests proved: the installed versions, and onnxruntime's real limits."""
    import onnxruntime

    data = yaml.safe_load((Path(frameworks.__file__).parent / "data" / "frameworks.yaml").read_text())
    for package, version in data["tested"].items():
        assert installed(package) == str(version), package
    ort = data["onnxruntime"]

    def loads(**kwargs) -> bool:
        try:
            onnxruntime.InferenceSession(_onnx_model(**kwargs), providers=["CPUExecutionProvider"])
            return True
        except Exception:
            return False

    assert loads(opset=ort["max_opset"]["ai.onnx"], ir=ort["max_ir_version"])
    assert not loads(opset=ort["max_opset"]["ai.onnx"] + 1, ir=ort["max_ir_version"])
    assert not loads(opset=13, ir=ort["max_ir_version"] + 1)


def test_lightgbm_wheel_needs_the_system_openmp_it_is_given():
    """Why frameworks.yaml installs libgomp for lightgbm: its library links the system's."""
    import subprocess

    import lightgbm

    library = next(Path(lightgbm.__file__).parent.rglob("lib_lightgbm.so"))
    assert "libgomp.so.1 => /" in subprocess.run(["ldd", str(library)], capture_output=True, text=True).stdout


class Net(__import__("torch").nn.Module if __import__("importlib").util.find_spec("torch") else object):
    def forward(self, x):
        return x


def test_a_whole_pickled_module_is_refused_as_code(cli, tmp_path):
    import torch

    torch.save(Net(), tmp_path / "whole.pt")
    message = cli.refused(tmp_path, EXIT_ARTIFACT, "init", tmp_path / "whole.pt", "--target", "lambda",
                          "--output", tmp_path / "o")
    assert "test_frameworks.Net" in message and "runs that class's code" in message
