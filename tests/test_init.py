"""`deploygen init --target lambda`: what a user gets, and what bad input gets them."""

from __future__ import annotations

import json
import os
import stat

import pytest
import sklearn
import yaml

from conftest import run_project_tests, tree_snapshot
from generator.manifest import MANIFEST_PATH

EXIT_ARTIFACT, EXIT_SPEC, EXIT_EXISTS = 3, 4, 5


def test_init_renders_a_lambda_project_that_passes_its_own_tests(cli, iris_model, tmp_path):
    project = tmp_path / "iris"
    result = cli("init", iris_model, "--target", "lambda", "--output", project)
    assert result.exit_code == 0, result.output

    spec = yaml.safe_load((project / "deploygen.yaml").read_text())
    assert spec["target"] == "lambda"
    assert spec["model"]["framework"] == "sklearn"
    assert spec["model"]["framework_version"] == sklearn.__version__
    assert spec["model"]["estimator"] == "sklearn.pipeline.Pipeline"
    assert spec["model"]["n_features"] == 4
    assert (project / "model" / "model.joblib").read_bytes() == iris_model.read_bytes()
    assert f"scikit-learn=={sklearn.__version__}" in (project / "requirements.txt").read_text()
    assert json.loads((project / "tests" / "sample_request.json").read_text()) == {"instances": [[0.0] * 4]}
    assert os.stat(project / "scripts" / "deploy.sh").st_mode & stat.S_IXUSR

    proof = run_project_tests(project)
    assert proof.returncode == 0, proof.stdout + proof.stderr


def test_every_generated_file_says_what_it_is_on_its_first_line(cli, iris_model, tmp_path):
    project = tmp_path / "iris"
    cli("init", iris_model, "--target", "lambda", "--output", project)
    manifest = json.loads((project / MANIFEST_PATH).read_text())
    for rel in [*manifest["files"], *manifest["user_owned"]]:
        if rel.startswith("model/") or rel.endswith(".json"):  # no comments in a model or in JSON
            continue
        first = (project / rel).read_text().splitlines()[0]
        if first.startswith("#!"):
            first = (project / rel).read_text().splitlines()[1]
        assert first.startswith(("#", "<!--")) and "deploygen" in first and "edit" in first, f"{rel}: {first!r}"


def test_manifest_records_generator_owned_files_and_not_the_users(cli, iris_model, tmp_path):
    project = tmp_path / "iris"
    cli("init", iris_model, "--target", "lambda", "--output", project)
    manifest = json.loads((project / MANIFEST_PATH).read_text())
    assert "src/inference.py" not in manifest["files"]
    assert "src/inference.py" in manifest["user_owned"]
    assert "infra/template.yaml" in manifest["files"]
    assert manifest["files"]["model/model.joblib"] == json.loads(json.dumps(yaml.safe_load(
        (project / "deploygen.yaml").read_text())))["model"]["sha256"]
    # The spec is the user's input, not an output: recorded whole (to rebuild the files for a merge), not hashed.
    assert "deploygen.yaml" not in manifest["files"]
    assert manifest["spec"]["target"] == "lambda" and manifest["spec"]["lambda"]["memory_mb"] == 1024


def test_pickle_files_are_detected_too(cli, iris_pickle, tmp_path):
    result = cli("init", iris_pickle, "--target", "lambda", "--output", tmp_path / "p")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "model" / "model.pkl").is_file()
    assert "LogisticRegression" in (tmp_path / "p" / "deploygen.yaml").read_text()


def test_custom_framework_renders_a_predict_file_to_complete(cli, tmp_path):
    artifact = tmp_path / "weights.bin"
    artifact.write_bytes(b"\x00\x01 anything at all")
    result = cli("init", artifact, "--target", "lambda", "--framework", "custom", "--output", tmp_path / "c")
    assert result.exit_code == 0, result.output
    inference = (tmp_path / "c" / "src" / "inference.py").read_text()
    assert "NotImplementedError" in inference and "model.bin" in inference
    assert "complete load() and predict()" in result.output


def test_config_file_gives_the_options_and_flags_override_it(cli, iris_model, tmp_path):
    cli("init", iris_model, "--target", "lambda", "--memory", "2048", "--arch", "arm64", "--output", tmp_path / "a")
    result = cli("init", iris_model, "--config", tmp_path / "a" / "deploygen.yaml", "--timeout", "60",
                 "--output", tmp_path / "b")
    assert result.exit_code == 0, result.output
    options = yaml.safe_load((tmp_path / "b" / "deploygen.yaml").read_text())["lambda"]
    assert (options["memory_mb"], options["architecture"], options["timeout_s"]) == (2048, "arm64", 60)


def test_hostile_names_never_reach_a_rendered_file(cli, iris_model, tmp_path):
    hostile = "x'\"; rm -rf ~ #\n{{ cookiecutter }}${HOME}$(id)`id` ünï"
    result = cli("init", iris_model, "--target", "lambda", "--name", hostile, "--output", tmp_path / "h")
    assert result.exit_code == 0, result.output
    for rel, data in tree_snapshot(tmp_path / "h").items():
        if rel in ("deploygen.yaml", ".deploygen/manifest.json") or rel.startswith("model/"):
            continue  # the spec as given (YAML-quoted) and its JSON copy in the manifest; the model
        text = data.decode()
        for fragment in ("rm -rf", "${HOME}", "$(id)", "`id`", "{{ cookiecutter }}"):
            assert fragment not in text, f"{fragment!r} leaked into {rel}"
    spec = yaml.safe_load((tmp_path / "h" / "deploygen.yaml").read_text())
    assert spec["name"] == hostile  # kept as given, safely quoted by the YAML writer
    assert json.loads((tmp_path / "h" / MANIFEST_PATH).read_text())["spec"]["name"] == hostile


# --- bad input: one line, a documented exit code, nothing written ------------------------


def test_missing_model(cli, tmp_path):
    msg = cli.refused(tmp_path, EXIT_ARTIFACT, "init", tmp_path / "nope.joblib", "--target", "lambda",
                      "--output", tmp_path / "out")
    assert "does not exist" in msg


def test_unreadable_model(cli, iris_model, tmp_path):
    model = tmp_path / "m.joblib"
    if os.geteuid() == 0:
        model.symlink_to("/proc/self/mem")  # root reads any file; this one fails to read (EIO) even for root
    else:
        model.write_bytes(iris_model.read_bytes())
        model.chmod(0)
    msg = cli.refused(tmp_path, EXIT_ARTIFACT, "init", model, "--target", "lambda", "--output", tmp_path / "out")
    assert "cannot read" in msg


def test_model_that_is_a_directory(cli, tmp_path):
    (tmp_path / "m.joblib").mkdir()
    cli.refused(tmp_path, EXIT_ARTIFACT, "init", tmp_path / "m.joblib", "--target", "lambda",
                "--output", tmp_path / "out")


def test_unknown_extension(cli, tmp_path):
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n")
    msg = cli.refused(tmp_path, EXIT_ARTIFACT, "init", tmp_path / "model.h5", "--target", "lambda",
                      "--output", tmp_path / "out")
    assert "--framework custom" in msg


def test_file_that_is_not_a_pickle(cli, tmp_path):
    (tmp_path / "model.pkl").write_text("just some text\n")
    cli.refused(tmp_path, EXIT_ARTIFACT, "init", tmp_path / "model.pkl", "--target", "lambda",
                "--output", tmp_path / "out")


def test_truncated_pickle(cli, iris_pickle, tmp_path):
    data = iris_pickle.read_bytes()
    (tmp_path / "model.pkl").write_bytes(data[: len(data) // 2])
    cli.refused(tmp_path, EXIT_ARTIFACT, "init", tmp_path / "model.pkl", "--target", "lambda",
                "--output", tmp_path / "out")


def test_pickle_that_is_not_scikit_learn(cli, tmp_path):
    import pickle

    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    msg = cli.refused(tmp_path, EXIT_ARTIFACT, "init", tmp_path / "model.pkl", "--target", "lambda",
                      "--output", tmp_path / "out")
    assert "not a scikit-learn model" in msg


def test_pickle_that_runs_code_is_refused_and_not_run(cli, tmp_path):
    import pickle

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "model.pkl").write_bytes(pickle.dumps(Evil()))
    msg = cli.refused(tmp_path, EXIT_ARTIFACT, "init", tmp_path / "model.pkl", "--target", "lambda",
                      "--output", tmp_path / "out")
    assert "system" in msg and not marker.exists()


@pytest.mark.parametrize(
    "options, field",
    [
        (["--memory", "127"], "--memory"),
        (["--memory", "10241"], "--memory"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "901"], "--timeout"),
        (["--ephemeral-storage", "511"], "--ephemeral-storage"),
        (["--ephemeral-storage", "10241"], "--ephemeral-storage"),
        (["--reserved-concurrency", "0"], "--reserved-concurrency"),
        (["--provisioned-concurrency", "0:3"], "--provisioned-concurrency"),
        (["--provisioned-concurrency", "5:2"], "--provisioned-concurrency"),
        (["--reserved-concurrency", "3", "--provisioned-concurrency", "1:5"], "--provisioned-concurrency"),
        (["--front", "http-api", "--timeout", "31"], "--timeout"),
        (["--region", "mars-1"], "--region"),
        (["--region", "ca-west-1"], "--front http-api"),
        (["--name", "日本語"], "--name"),
        (["--provisioned-concurrency", "3"], "MIN:MAX"),
        (["--mode", "serverless"], "--target sagemaker"),
        (["--max-rps", "5"], "--target sagemaker"),
    ],
)
def test_out_of_range_options(cli, iris_model, tmp_path, options, field):
    msg = cli.refused(tmp_path, EXIT_SPEC, "init", iris_model, "--target", "lambda",
                      "--output", tmp_path / "out", *options)
    assert field in msg


def test_malformed_option_values_are_usage_errors(cli, iris_model, tmp_path):
    before = tree_snapshot(tmp_path)
    for options in (["--memory", "lots"], ["--arch", "sparc"], ["--instances", "two"]):
        result = cli("init", iris_model, "--target", "lambda", "--output", tmp_path / "out", *options)
        assert result.exit_code == 2, result.output
    assert tree_snapshot(tmp_path) == before


def test_existing_output_is_refused_without_force(cli, iris_model, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    msg = cli.refused(tmp_path, EXIT_EXISTS, "init", iris_model, "--target", "lambda", "--output", out)
    assert "--force" in msg


def test_force_keeps_user_files_and_edits(cli, iris_model, tmp_path):
    out = tmp_path / "out"
    cli("init", iris_model, "--target", "lambda", "--output", out)
    (out / "notes.txt").write_text("mine")
    (out / "src" / "inference.py").write_text("# my own predict code\n")
    (out / "Dockerfile").write_text("# my edits\n")
    template = out / "infra" / "template.yaml"
    template.write_text(template.read_text() + "# my note at the end\n")
    readme = out / "README.md"
    readme.write_text("my own readme\n")

    result = cli("init", iris_model, "--target", "lambda", "--output", out, "--force", "--memory", "2048",
                 "--timeout", "60")
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "src" / "inference.py").read_text() == "# my own predict code\n"
    # deploygen's Dockerfile did not change with --memory: the edit stands, nothing to save aside
    assert (out / "Dockerfile").read_text() == "# my edits\n" and not (out / "Dockerfile.orig").exists()
    # the template changed (memory) and so did the user's copy (a line at the end): merged, both kept
    merged = template.read_text()
    assert "MemorySize: 2048" in merged and merged.endswith("# my note at the end\n") and "<<<<<<<" not in merged
    assert "infra/template.yaml" in result.output and "merged your edits" in result.output
    # the README changed too (it names the timeout), and the user's replaced it whole: a conflict, marked
    assert "<<<<<<< yours" in readme.read_text() and ">>>>>>> deploygen now" in readme.read_text()


def test_force_into_a_folder_of_unrelated_files_deletes_nothing(cli, iris_model, tmp_path):
    out = tmp_path / "out"
    (out / "src").mkdir(parents=True)
    (out / "src" / "inference.py").write_text("# was here before\n")
    (out / "README.md").write_text("my readme\n")
    result = cli("init", iris_model, "--target", "lambda", "--output", out, "--force")
    assert result.exit_code == 0, result.output
    assert (out / "src" / "inference.py").read_text() == "# was here before\n"
    assert (out / "README.md.orig").read_text() == "my readme\n"


def test_no_prompt_and_no_files_in_home(iris_model, tmp_path):
    """Run the real console script with no terminal and a fresh HOME: nothing asks, nothing litters."""
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "generator", "init", str(iris_model), "--target", "lambda",
         "--output", str(tmp_path / "p")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert list(home.iterdir()) == []
