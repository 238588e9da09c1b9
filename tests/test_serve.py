"""`deploygen serve`: the project's real handler behind a real HTTP port on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import joblib
import numpy as np
import pytest

from served import free_port, request


@pytest.fixture
def served(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "lambda", "--output", project)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "generator", "serve", str(project), "--port", str(port)],
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)
    yield url, project
    proc.terminate()
    proc.wait(timeout=10)


def test_predictions_over_http_match_the_model(served, iris_model):
    url, project = served
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    status, content_type, body = request(url, json.dumps({"instances": rows}).encode())
    assert (status, content_type) == (200, "application/json")
    expected = joblib.load(iris_model).predict(np.asarray(rows)).tolist()
    assert json.loads(body) == {"predictions": expected}


def test_csv_and_errors_over_http(served):
    url, _ = served
    assert request(url, b"5.1,3.5,1.4,0.2\n", "text/csv")[0] == 200
    status, _, body = request(url, b"{not json", "application/json")
    assert status == 400 and json.loads(body)["error"]["code"]
    assert request(url, b"x", "image/png")[0] == 415
    assert request(url, method="GET")[0] == 200


def test_serve_refuses_a_folder_that_is_not_a_project(cli, tmp_path):
    result = cli("serve", tmp_path, "--port", str(free_port()))
    assert result.exit_code == 4 and "deploygen init" in result.output


@pytest.mark.parametrize("target", ["sagemaker", "ecs"])
def test_serve_runs_the_container_server_of_a_sagemaker_or_ecs_project(cli, iris_model, tmp_path, target):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", target, "--output", project)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "generator", "serve", str(project), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_ready(proc, port)
        rows = [[5.1, 3.5, 1.4, 0.2]]
        status, _, body = request(f"http://127.0.0.1:{port}/invocations", json.dumps({"instances": rows}).encode())
        assert status == 200
        assert json.loads(body) == {"predictions": joblib.load(iris_model).predict(np.asarray(rows)).tolist()}
    finally:
        proc.terminate()  # SIGTERM reaches gunicorn itself: deploygen serve exec'd it
        assert proc.wait(timeout=30) == 0


def _wait_until_ready(proc, port: int, seconds: float = 60) -> None:
    """Until /ping answers 200 (it answers 503 while the model loads)."""
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as sock:
            listening = sock.connect_ex(("127.0.0.1", port)) == 0
        if listening and request(f"http://127.0.0.1:{port}/ping", method="GET")[0] == 200:
            return
        assert proc.poll() is None and time.monotonic() < deadline, "server did not become ready"
        time.sleep(0.2)


@pytest.mark.parametrize("target", ["lambda", "sagemaker"])
def test_a_taken_port_is_a_one_line_error(cli, iris_model, tmp_path, target):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", target, "--output", project)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = cli("serve", project, "--port", str(taken.getsockname()[1]))
    assert result.exit_code == 6 and "choose another --port" in result.output, result.output
