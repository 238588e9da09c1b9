"""Benchmark: the generated model server against MLflow's scoring server, and the server setups considered.

Requests per second and p50/p99 latency of POST /invocations for the example model (iris,
examples/train_iris.py), one row per request, on loopback, at 1 and at 16 concurrent connections,
2 worker processes everywhere; the worst /ping latency seen meanwhile; the time from SIGTERM to
the last process gone, with a kept-alive connection idle as a load balancer leaves them. Then, for
every server but MLflow, /ping under overload: 48 connections sending predictions that hold the CPU
(and the GIL) for 100 ms each. The servers take turns, in the same run.

The load generator: threads with one persistent http.client connection each, a fixed request
count per level, a duration cap. It runs on the same 2 cores as the servers, as any loopback
benchmark does, so the absolute figures are the machine's and the comparison is what counts.

Every server but MLflow runs from this virtualenv (`pip install -e '.[test]'` has the server's
packages). MLflow is installed by this script from PyPI into a virtualenv of its own,
build/bench-mlflow-venv, with this one's scikit-learn and numpy so the model loads as is, and
serves the same model saved with mlflow.sklearn.save_model, with `mlflow models serve -m DIR
--env-manager local -w 2`; if the install fails it is skipped, with a message.

Usage: .venv/bin/python bench/serve.py [--requests N] [--duration S] [--rounds N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "examples"), str(REPO / "tests")]

from test_server import render_sagemaker  # noqa: E402  (`deploygen init MODEL --target sagemaker`)

WORK = REPO / "build" / "bench-serve"
MLFLOW_VENV = REPO / "build" / "bench-mlflow-venv"
GENERATED = "**generated: gunicorn + uvicorn worker on asyncio and h11 (pure Python), 1 prediction thread per worker**"
MLFLOW = "MLflow scoring server"
OUR_NAMES = ("gunicorn", "uvicorn-worker", "uvicorn", "httptools", "uvloop", "scikit-learn", "numpy")
MLFLOW_NAMES = ("mlflow", "uvicorn", "fastapi", "pandas", "scikit-learn", "numpy")
WORKERS = 2
BODY = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode()  # MLflow reads "instances" too
HEADERS = {"Content-Type": "application/json"}

# Appended to the rendered src/inference.py here: {"inputs": {"spin": seconds}} holds the CPU that long.
SPIN_HOOK = """

import time as _time

_real_predict = predict


def predict(model, inputs):
    if isinstance(inputs, dict) and "spin" in inputs:
        end = _time.thread_time() + inputs["spin"]  # CPU time of this thread, whatever the others do
        while _time.thread_time() < end:
            pass
        return [0]
    return _real_predict(model, inputs)
"""

# The WSGI candidates: the same codec and model code behind a WSGI application, for gunicorn's
# sync and gthread workers (the generated server is ASGI).
WSGI_CANDIDATE = """
from serving import codec, server

server.load_model()


def app(environ, start_response):
    if environ["PATH_INFO"] == "/ping":
        response = codec.ready_response() if server.ready.is_set() else codec.not_ready_response()
    else:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        response = codec.respond(body, environ.get("CONTENT_TYPE"), environ.get("HTTP_ACCEPT"), server._predict,
                                 server.MAX_BODY_BYTES)
    start_response(f"{response.status} -", [("Content-Type", response.content_type),
                                            ("Content-Length", str(len(response.body)))])
    return [response.body]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def virtualenv(path: Path, packages: list[str], what: str) -> Path | None:
    """A virtualenv at path with packages, installed from PyPI unless already there; None (and why) if that fails."""
    python = path / "bin" / "python"
    marker = path / ".installed"
    if marker.exists() and marker.read_text() == " ".join(packages):
        return python
    print(f"Installing {' '.join(packages)} into {path} (pip, from PyPI) ...", file=sys.stderr)
    shutil.rmtree(path, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages],
                       check=True, timeout=1200)
    except (subprocess.SubprocessError, OSError) as err:
        print(f"SKIPPING {what}: installing {' '.join(packages)} into {path} failed ({err})", file=sys.stderr)
        return None
    marker.write_text(" ".join(packages))
    return python


def servers(project: Path, mlflow: Path | None) -> list[dict]:
    """Each server to measure: name, command, environment, working directory; the generated one first."""
    src = project / "src"
    ours = [sys.executable, "-m", "serving", "serve"]
    base = {"SERVING_HOST": "127.0.0.1", "MODEL_DIR": str(project / "model"), "MODEL_SERVER_WORKERS": str(WORKERS)}
    (WORK / "wsgi_candidate.py").write_text(WSGI_CANDIDATE)
    wsgi = [sys.executable, "-m", "gunicorn", "wsgi_candidate:app", "--workers", str(WORKERS), "--keep-alive", "75",
            "--no-control-socket", "--bind"]
    wsgi_env = {**base, "PYTHONPATH": f"{src}{os.pathsep}{WORK}"}
    found = [
        {"name": GENERATED, "command": ours, "cwd": src, "env": base},
        {"name": "the same, 4 prediction threads per worker", "command": ours, "cwd": src,
         "env": {**base, "MODEL_SERVER_THREADS": "4"}},
        {"name": "the same, uvicorn worker on uvloop and httptools (compiled; +15.8 MB in the image)", "command": ours,
         "cwd": src, "env": {**base, "GUNICORN_CMD_ARGS": "--worker-class uvicorn_worker.UvicornWorker"}},
        {"name": "the same app, gunicorn's own asgi worker", "command": ours, "cwd": src,
         "env": {**base, "GUNICORN_CMD_ARGS": "--worker-class asgi"}},
        {"name": "the same app, uvicorn alone (--workers 2)", "cwd": src, "env": base,
         "command": [sys.executable, "-m", "uvicorn", "serving.server:app", "--host", "127.0.0.1", "--workers",
                     str(WORKERS), "--no-access-log", "--timeout-keep-alive", "75", "--port"]},
        {"name": "WSGI: gunicorn gthread, 4 threads", "cwd": WORK, "env": wsgi_env,
         "command": wsgi[:-1] + ["--worker-class", "gthread", "--threads", "4", "--bind"]},
        {"name": "WSGI: gunicorn sync", "cwd": WORK, "env": wsgi_env,
         "command": wsgi[:-1] + ["--worker-class", "sync", "--bind"]},
    ]
    if mlflow is not None:
        saved = WORK / "mlflow-model"
        if not saved.exists():
            save = ("import joblib, mlflow.sklearn, sys; "
                    "mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2])")
            subprocess.run([str(mlflow), "-c", save, str(project / "model" / "model.joblib"), str(saved)], check=True)
        command = [str(mlflow), "-m", "mlflow", "models", "serve", "-m", str(saved), "--env-manager", "local",
                   "-h", "127.0.0.1", "-w", str(WORKERS), "-p"]
        path = {"PATH": f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # it runs `uvicorn` by name
        found.append({"name": MLFLOW, "command": command, "cwd": WORK, "env": path})
    return found


def start(server: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    last = server["command"][-1]
    command = server["command"] + ([str(port)] if last in ("-p", "--port") else
                                   [f"127.0.0.1:{port}"] if last == "--bind" else [])
    env = {**os.environ, **server["env"], "SAGEMAKER_BIND_TO_PORT": str(port)}
    log = open(WORK / "server.log", "a")
    proc = subprocess.Popen(command, cwd=server["cwd"], env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{server['name']} exited: see {WORK / 'server.log'}"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server['name']} did not answer /ping within 120 s")


def stop(proc: subprocess.Popen, port: int) -> float:
    """SIGTERM to the server's main process only, as `docker stop` sends it, while a kept-alive connection
    sits idle, as a load balancer's do; seconds until no process of the server is left."""
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    idle.request("GET", "/ping")
    idle.getresponse().read()
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
        while time.monotonic() - started < 60:
            os.killpg(proc.pid, 0)  # raises once no process of the group is left
            time.sleep(0.02)
    except ProcessLookupError:
        return time.monotonic() - started
    except subprocess.TimeoutExpired:
        pass
    finally:
        idle.close()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return float("inf")


def load(port: int, connections: int, requests: int, duration: float) -> dict:
    """`requests` POSTs spread over `connections` threads, each with one persistent http.client connection,
    stopping early at `duration` seconds; plus /ping on a connection of its own every 50 ms meanwhile."""
    latencies: list[float] = []
    errors: list[str] = []
    pings: list[float] = []
    begin = threading.Barrier(connections + 1)
    done = threading.Event()

    def client(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        begin.wait()
        deadline = time.perf_counter() + duration
        try:
            for _ in range(count):
                if time.perf_counter() > deadline:
                    break
                sent = time.perf_counter()
                conn.request("POST", "/invocations", BODY, HEADERS)
                response = conn.getresponse()
                response.read()
                mine.append(time.perf_counter() - sent)
                if response.status != 200:
                    errors.append(str(response.status))
        except Exception as err:  # noqa: BLE001  (counted, not raised: a failed request is a result)
            errors.append(repr(err))
        finally:
            conn.close()
            latencies.extend(mine)

    def pinger() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not done.wait(0.05):
            sent = time.perf_counter()
            conn.request("GET", "/ping")
            conn.getresponse().read()
            pings.append(time.perf_counter() - sent)
        conn.close()

    threads = [threading.Thread(target=client, args=(requests // connections,)) for _ in range(connections)]
    for thread in threads:
        thread.start()
    ping_thread = threading.Thread(target=pinger)
    begin.wait()
    started = time.perf_counter()
    ping_thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    done.set()
    ping_thread.join()
    latencies.sort()
    return {
        "requests": len(latencies), "errors": len(errors), "error_samples": errors[:3],
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "ping_max_ms": 1000 * max(pings, default=0.0),
    }


def overload(port: int, connections: int = 48, spin: float = 0.1, duration: float = 8.0) -> dict:
    """/ping latency, each on a new connection, while `connections` keep CPU-bound predictions in flight."""
    body = json.dumps({"inputs": {"spin": spin}}).encode()
    stop_at = time.monotonic() + duration
    answered = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.monotonic() < stop_at:
            conn.request("POST", "/invocations", body, HEADERS)
            response = conn.getresponse()
            response.read()
            answered.append(response.status)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # let the queues fill
    pings = []
    while time.monotonic() < stop_at - 0.5:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        sent = time.perf_counter()
        conn.request("GET", "/ping")
        conn.getresponse().read()
        pings.append(time.perf_counter() - sent)
        conn.close()
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    pings.sort()
    return {"ping_p50_ms": 1000 * pings[len(pings) // 2], "ping_max_ms": 1000 * pings[-1],
            "predictions": answered.count(200), "errors": len(answered) - answered.count(200)}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{len(os.sched_getaffinity(0))} cores ({cpu}), Python {platform.python_version()}, {platform.platform()}"


def versions(python: Path | str, names: tuple[str, ...]) -> str:
    code = ("import sys; from importlib.metadata import version as v; "
            "print(', '.join(n + ' ' + v(n) for n in sys.argv[1:]))")
    return subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True).stdout.strip()


def measure(server: dict, requests: int, duration: float) -> dict:
    proc, port = start(server)
    try:
        load(port, 16, 800, 5.0)  # warm-up: every worker, every thread, every code path
        row = {connections: load(port, connections, requests, duration) for connections in (1, 16)}
    except BaseException:
        stop(proc, port)
        raise
    row["stop_s"] = stop(proc, port)
    return row


def median_row(rounds: list[dict]) -> dict:
    """Per figure, the median over the rounds; errors summed."""
    row = {"stop_s": max(r["stop_s"] for r in rounds)}
    for level in (1, 16):
        row[level] = {key: statistics.median(r[level][key] for r in rounds)
                      for key in ("rps", "p50_ms", "p99_ms", "ping_max_ms")}
        row[level]["errors"] = sum(r[level]["errors"] for r in rounds)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per level and round (default 4000)")
    parser.add_argument("--duration", type=float, default=20.0, help="cap per level and round, seconds (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all the servers, medians reported (3)")
    parser.add_argument("--only", nargs="*", help="measure only the servers whose name contains one of these")
    args = parser.parse_args()

    shutil.rmtree(WORK / "project", ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "server.log").write_text("")
    project = render_sagemaker(WORK / "project")
    inference = project / "src" / "inference.py"
    inference.write_text(inference.read_text() + SPIN_HOOK)
    from importlib.metadata import version

    same = [f"scikit-learn=={version('scikit-learn')}", f"numpy=={version('numpy')}"]  # the model's pickle loads as is
    mlflow = virtualenv(MLFLOW_VENV, ["mlflow>=3,<4", *same], "MLflow")
    chosen = [server for server in servers(project, mlflow)
              if not args.only or any(word in server["name"] for word in args.only)]
    rounds: dict[str, list[dict]] = {server["name"]: [] for server in chosen}
    for round_ in range(args.rounds):  # interleaved, so a slow spell of the machine hits every server alike
        for server in chosen:
            rounds[server["name"]].append(measure(server, args.requests, args.duration))
            print(f"round {round_ + 1}: {server['name']}: {json.dumps(rounds[server['name']][-1])}", file=sys.stderr)

    overloads = {}
    for server in chosen:
        if server["name"] == MLFLOW:
            continue  # MLflow serves the model without the spin hook
        proc, port = start(server)
        try:
            overloads[server["name"]] = overload(port)
        finally:
            stop(proc, port)
        print(f"overload: {server['name']}: {json.dumps(overloads[server['name']])}", file=sys.stderr)

    print(f"\nDate: {time.strftime('%Y-%m-%d %H:%M %Z')}. Machine: {machine()}.")
    print(f"Versions: this virtualenv (every server but MLflow): {versions(sys.executable, OUR_NAMES)}.")
    if mlflow is not None:
        print(f"MLflow's virtualenv: {versions(mlflow, MLFLOW_NAMES)}.")
    print(f"{WORKERS} worker processes each; {args.requests} requests per level (cap {args.duration:.0f} s), "
          f"one iris row per request, persistent connections; medians of {args.rounds} interleaved rounds.\n")
    print("| server | 1 conn: req/s | p50 ms | p99 ms | 16 conns: req/s | p50 ms | p99 ms "
          "| /ping max ms (16 conns) | errors | SIGTERM → exit s, a connection idle |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    results = {name: median_row(rows) for name, rows in rounds.items()}
    for name, row in results.items():
        one, many = row[1], row[16]
        print(f"| {name} | {one['rps']:.0f} | {one['p50_ms']:.2f} | {one['p99_ms']:.2f} "
              f"| {many['rps']:.0f} | {many['p50_ms']:.2f} | {many['p99_ms']:.2f} | {many['ping_max_ms']:.1f} "
              f"| {one['errors'] + many['errors']} | {row['stop_s']:.1f} |")
    print("\n/ping under overload: 48 connections, each prediction 100 ms of CPU (GIL held), 2 workers.\n")
    print("| server | /ping p50 ms | /ping max ms | predictions answered in 8 s | errors |")
    print("|---|---|---|---|---|")
    for name, row in overloads.items():
        print(f"| {name} | {row['ping_p50_ms']:.0f} | {row['ping_max_ms']:.0f} | {row['predictions']} "
              f"| {row['errors']} |")
    ours, theirs = results.get(GENERATED), results.get(MLFLOW)
    if ours and theirs:
        print(f"\nGenerated / MLflow at 16 connections: {ours[16]['rps'] / theirs[16]['rps']:.2f}x the requests/s; "
              f"p99 {ours[1]['p99_ms']:.2f} vs {theirs[1]['p99_ms']:.2f} ms at 1, "
              f"{ours[16]['p99_ms']:.2f} vs {theirs[16]['p99_ms']:.2f} ms at 16.")
    (WORK / "results.json").write_text(json.dumps({"rounds": rounds, "medians": results, "overload": overloads},
                                                  indent=1))


if __name__ == "__main__":
    main()
