"""`deploygen compare`: measuring a real model in its own process, the outputs, the README estimate, bad input."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from generator import costs

DEPLOYGEN = [sys.executable, "-m", "generator"]
GIVEN = ["--duration-ms", "20", "--memory-mb", "300"]  # skips measuring


@pytest.fixture(scope="module")
def forest(tmp_path_factory) -> Path:
    """A model slow enough (milliseconds a request) that timing it is about the model, not the codec."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    features, labels = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("forest") / "forest.joblib"
    joblib.dump(RandomForestClassifier(n_estimators=150, random_state=0).fit(features, labels), path)
    return path


@pytest.fixture(scope="module")
def forest_project(forest, tmp_path_factory) -> Path:
    from click.testing import CliRunner

    from generator.cli import main

    project = tmp_path_factory.mktemp("projects") / "forest"
    assert CliRunner().invoke(main, ["init", str(forest), "--target", "lambda", "--output", str(project)]).exit_code == 0
    return project


def direct_timing_ms(project: Path, calls: int = 30) -> list[float]:
    """The project's own predict on its sample rows, timed here, in this process."""
    sys.path.insert(0, str(project / "src"))
    try:
        import inference

        model = inference.load(str(project / "model"))
        rows = json.loads((project / "tests" / "sample_request.json").read_text())["instances"]
        inference.predict(model, rows)
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            inference.predict(model, rows)
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        sys.path.remove(str(project / "src"))
        sys.modules.pop("inference", None)


def test_measures_the_model_in_a_separate_process_close_to_a_direct_timing(forest_project):
    out = subprocess.run(DEPLOYGEN + ["compare", str(forest_project), "--format", "json"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    direct = direct_timing_ms(forest_project)
    measured = report["inputs"]["duration_ms"]
    assert measured["source"].startswith("measured: median of")
    # Both time the same predict on the same rows; the measured one adds the codec's JSON work (microseconds).
    assert min(direct) / 3 <= measured["value"] <= max(direct) * 3, (measured, statistics.median(direct))
    memory = report["inputs"]["memory_mb"]
    assert memory["source"].startswith("measured: peak") and 64 <= memory["value"] <= 4096
    assert report["inputs"]["load_s"]["source"] == "measured" and 0 < report["inputs"]["load_s"]["value"] < 60
    options = {o["id"]: o for o in report["options"]}
    # This project's function as configured; its other Lambda variants keep that memory (a switch of --arch would).
    assert options["lambda-x86_64"]["size"] == options["lambda-arm64"]["size"] == "1024 MB"
    assert options["lambda-x86_64"]["this_project"] and not options["lambda-arm64"]["this_project"]
    assert options["lambda-x86_64"]["cold_start_s"] == report["inputs"]["load_s"]["value"]


def test_the_measuring_process_is_not_the_clis(forest_project, tmp_path):
    # The project's own load() (user-owned code) writes down which process runs it.
    marker = tmp_path / "pids"
    edited = forest_project.parent / "forest-pid"
    subprocess.run(["cp", "-r", str(forest_project), str(edited)], check=True)
    inference = edited / "src" / "inference.py"
    inference.write_text(inference.read_text().replace(
        "def load(model_dir):\n",
        f"def load(model_dir):\n    open({str(marker)!r}, 'a').write(str(os.getpid()) + '\\n')\n"))
    cli = subprocess.Popen(DEPLOYGEN + ["compare", str(edited)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    stdout, stderr = cli.communicate(timeout=300)
    assert cli.returncode == 0, stderr
    pids = [int(line) for line in marker.read_text().split()]
    assert len(pids) == 1 and pids[0] != cli.pid
    assert "measured: median of" in stdout


@pytest.mark.parametrize("crash, why", [
    ("raise RuntimeError('the weights are corrupt')", "RuntimeError: the weights are corrupt"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "killed by signal 11"),
])
def test_a_model_that_crashes_on_load_is_a_clear_error(forest_project, tmp_path, crash, why):
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(forest_project), str(broken)], check=True)
    inference = broken / "src" / "inference.py"
    inference.write_text(inference.read_text().replace("def load(model_dir):\n", f"def load(model_dir):\n    {crash}\n"))
    out = subprocess.run(DEPLOYGEN + ["compare", str(broken)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 6 and out.stdout == ""
    message = out.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert message.startswith("deploygen: error: could not measure the model in a separate process (")
    assert why in message and "give --duration-ms and --memory-mb to skip measuring" in message


def test_a_bare_model_file_is_measured_through_the_project_init_would_render(iris_model):
    out = subprocess.run(DEPLOYGEN + ["compare", str(iris_model), "--format", "json"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["inputs"]["duration_ms"]["source"].startswith("measured")
    assert not any(o["this_project"] for o in report["options"])
    memory = report["inputs"]["memory_mb"]["value"]
    assert next(o for o in report["options"] if o["id"] == "lambda-arm64")["size"] == f"{memory:.0f} MB"


def test_table_says_what_was_measured_given_and_assumed(cli, iris_model):
    result = cli("compare", iris_model, "--requests-per-month", "2000000", *GIVEN)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:3] == ["requests", "a", "month"] and line.rstrip().endswith("given") for line in lines)
    assert any("time per request" in line and "20 ms" in line and line.rstrip().endswith("given") for line in lines)
    assert any("peak" in line and "assumed: 3x the average" in line for line in lines)
    assert any("model load" in line and "not measured" in line for line in lines)
    assert "Recommendation:" in result.output and "Break-even" in result.output
    # Every option is listed, the recommended one starred.
    for estimate_id in costs.OPTIONS:
        assert any(estimate_id.split("-")[0] in line.lower() for line in lines)
    assert sum(line.startswith("* ") for line in lines) == 1


def test_json_agrees_with_the_estimator(cli, iris_model):
    result = cli("compare", iris_model, "--format", "json", "--free-tier", "--requests-per-month", "3000000",
                 "--duration-ms", "120", "--memory-mb", "1536", "--peak-rps", "5")
    report = json.loads(result.output)
    lambda_x86 = next(o for o in report["options"] if o["id"] == "lambda-x86_64")
    assert lambda_x86["monthly_usd"] == pytest.approx(2.73, abs=0.01)  # the Lambda pricing page's example
    fitting = [o for o in report["options"] if o["fits"]]
    best = report["recommendation"]["option"]
    assert best == min((o for o in fitting if o["synchronous"]), key=lambda o: o["monthly_usd"])["id"]
    assert report["break_even"]["against"] in costs.ON_DEMAND_LAMBDA
    assert set(report["break_even"]["requests_per_month"]) == {o["id"] for o in fitting if o["always_on"]}
    assert report["prices"] == {"region": "us-east-1", "file": "generator/data/prices.yaml", "currency": "USD",
                                "free_tier": True}


def test_a_project_is_estimated_as_configured(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "ecs", "--arch", "arm64", "--cpu", "2048", "--memory", "4096",
        "--min-tasks", "2", "--output", project)
    report = json.loads(cli("compare", project, "--format", "json", *GIVEN).output)
    mine = [o for o in report["options"] if o["this_project"]]
    assert [o["id"] for o in mine] == ["fargate-arm64"]
    assert mine[0]["size"] == "2 x 2 vCPU, 4 GB"


def test_plot_draws_a_png(cli, iris_model, tmp_path):
    out = tmp_path / "costs.png"
    result = cli("compare", iris_model, *GIVEN, "--plot", out)
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert not list(tmp_path.glob(".*partial"))


def test_plot_without_matplotlib_is_a_clear_error(iris_model, tmp_path):
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    out = subprocess.run(DEPLOYGEN + ["compare", str(iris_model), *GIVEN, "--plot", str(tmp_path / "p.png")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 5 and out.stdout == ""
    assert out.stderr.strip() == ("deploygen: error: --plot needs matplotlib, which is not installed: "
                                  "pip install 'deploygen[plot]', or leave out --plot")
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("args, code, text", [
    (["--requests-per-month", "-5"], 4, "--requests-per-month must be a number 0 or more"),
    (["--requests-per-month", "1e15"], 4, "at most 100,000,000,000"),
    (["--peak-rps", "nan"], 4, "--peak-rps must be a number above 0"),
    (["--requests-per-month", "1e9", "--peak-rps", "2"], 4, "--peak-rps 2 is below the average rate"),
    (["--region", "eu-west-1"], 4, "no prices for region eu-west-1"),
    (["--region", "mars"], 4, "region (--region) must be an AWS region code"),
    (["--pricing", "no-such-prices.yaml"], 2, "pricing file no-such-prices.yaml does not exist"),
    (["--plot", "no/such/folder/p.png"], 5, "its folder does not exist"),
])
def test_bad_input_is_one_line_and_an_exit_code(cli, iris_model, tmp_path, monkeypatch, args, code, text):
    monkeypatch.chdir(tmp_path)
    message = cli.refused(tmp_path, code, "compare", iris_model, *GIVEN, *args)
    assert text in message


def test_a_missing_model_or_a_pricing_file_without_a_price(cli, iris_model, tmp_path):
    assert "does not exist" in cli.refused(tmp_path, 2, "compare", tmp_path / "missing.joblib")
    prices = yaml.safe_load((Path(costs.__file__).parent / "data" / "prices.yaml").read_text())
    del prices["regions"]["us-east-1"]["elb"]["lcu_hour"]
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(prices))
    message = cli.refused(tmp_path, 4, "compare", iris_model, *GIVEN, "--pricing", path)
    assert message.endswith(f"pricing file {path} has no price elb.lcu_hour in us-east-1: add it as a number "
                            "(see generator/data/prices.yaml)")


# --- the README estimate ---------------------------------------------------------------------


def _readme_rows(project: Path) -> list[str]:
    text = (project / "README.md").read_text()
    estimate = text[text.index("### Estimate"):]
    return [line for line in estimate.splitlines() if line.startswith("| ") and "---" not in line][1:]


@pytest.mark.parametrize("target, label", [("lambda", "Lambda x86_64"), ("sagemaker", "SageMaker real-time"),
                                           ("ecs", "ECS Fargate x86_64")])
def test_every_readme_carries_the_estimate_compare_prints(cli, iris_model, tmp_path, target, label):
    project = tmp_path / target
    cli("init", iris_model, "--target", target, "--output", project)
    rows = _readme_rows(project)
    assert rows[0].startswith(f"| **{label}** (this project) |") and len(rows) == 1 + 2
    # The README's assumptions, given to compare: its markdown has every row the README has.
    spec = yaml.safe_load((project / "deploygen.yaml").read_text())
    assert spec["traffic"] == {"requests_per_month": 1000000, "peak_rps": None, "payload_kb": None,
                               "duration_ms": None, "memory_mb": None}
    text = (project / "README.md").read_text()
    assumed_mb = text.split("ms per request on one vCPU and ")[1].split(" MB")[0]
    full = cli("compare", project, "--format", "markdown", "--duration-ms", "100", "--memory-mb", assumed_mb).output
    for row in rows:
        assert row in full


def test_traffic_in_the_spec_updates_the_readme_on_render(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "lambda", "--output", project)
    before = _readme_rows(project)
    spec_file = project / "deploygen.yaml"
    spec_file.write_text(spec_file.read_text().replace("requests_per_month: 1000000", "requests_per_month: 50000000")
                         .replace("duration_ms: null", "duration_ms: 250"))
    assert cli("render", project).exit_code == 0
    after = _readme_rows(project)
    assert after != before and "At 50,000,000 requests a month" in (project / "README.md").read_text()
    assert "Assumed, not measured: peak, response body, memory needed." in (project / "README.md").read_text()


def test_a_bad_traffic_value_in_the_spec_is_refused_by_name(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "lambda", "--output", project)
    spec_file = project / "deploygen.yaml"
    spec_file.write_text(spec_file.read_text().replace("peak_rps: null", "peak_rps: -3"))
    message = cli.refused(project, 4, "render", project)
    assert "traffic.peak_rps must be a number above 0 (got -3)" in message


def test_an_instance_type_without_a_price_is_priced_as_the_cheapest_that_fits_and_says_so(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "sagemaker", "--instance-type", "ml.m6i.large", "--output", project)
    report = json.loads(cli("compare", project, "--format", "json", *GIVEN).output)
    realtime = next(o for o in report["options"] if o["id"] == "sagemaker-realtime")
    assert realtime["this_project"] and realtime["size"] == "1 x ml.t2.medium"
    assert realtime["notes"] == ["ml.m6i.large has no price in generator/data/prices.yaml: priced as the cheapest "
                                 "type that fits"]


def test_a_function_too_small_for_the_model_is_ruled_out_as_configured(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "lambda", "--memory", "256", "--output", project)
    report = json.loads(cli("compare", project, "--format", "json", "--duration-ms", "5", "--memory-mb", "700").output)
    mine = next(o for o in report["options"] if o["this_project"])
    assert mine["ruled_out"] == ["memory: the model needs 700 MB, the function has 256 MB: raise --memory"]
    assert report["recommendation"]["option"] != mine["id"]


def test_a_peak_below_the_average_in_the_spec_is_refused_and_a_region_without_prices_is_said(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "lambda", "--output", project)
    spec_file = project / "deploygen.yaml"
    spec_file.write_text(spec_file.read_text().replace("peak_rps: null", "peak_rps: 0.01"))
    assert "traffic.peak_rps 0.01 is below the average rate of 1,000,000 requests a month" in cli.refused(
        project, 4, "render", project)
    other = tmp_path / "eu"
    assert cli("init", iris_model, "--target", "lambda", "--region", "eu-west-1", "--output", other).exit_code == 0
    assert "No estimate: no prices for region eu-west-1 in generator/data/prices.yaml (it has: us-east-1)" in (
        other / "README.md").read_text()
