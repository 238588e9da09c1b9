"""`make demo`: the main job on the example model, step by step, as a user would run it.

Trains the example model, compares what each target would cost for it, renders a project for every target,
lints each, runs each project's own tests, then serves the Lambda and the
SageMaker projects on 127.0.0.1 and sends each a request.
"""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from train_iris import train

TARGETS = ["lambda", "sagemaker", "ecs"]
DEPLOYGEN = [sys.executable, "-m", "generator"]


def step(title: str, *command: str, cwd: Path | None = None) -> None:
    print(f"\n== {title}\n$ {' '.join(command)}", flush=True)
    subprocess.run(command, check=True, cwd=cwd)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def serve_and_ask(project: Path, path: str, health: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}{path}"
    body = (project / "tests" / "sample_request.json").read_bytes()
    print(f"\n== serve {project.name} and send it a request\n$ deploygen serve {project} --port {port}")
    server = subprocess.Popen([*DEPLOYGEN, "serve", str(project), "--port", str(port)])
    try:
        wait_until_up(f"http://127.0.0.1:{port}{health}")
        request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
        print(f"$ curl -X POST {url} -H 'content-type: application/json' -d '{body.decode().strip()}'")
        with urllib.request.urlopen(request, timeout=10) as response:
            print(response.status, json.loads(response.read()))
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    model = train(workdir / "iris.joblib")
    print(f"trained the example model: {model}")
    step("which target, at what cost (the model measured in a separate process)", *DEPLOYGEN, "compare",
         str(model), "--requests-per-month", "3e6")
    projects = []
    for target in TARGETS:
        project = workdir / f"iris-{target}"
        step(f"render the {target} project", *DEPLOYGEN, "init", str(model), "--target", target,
             "--name", "iris", "--output", str(project))
        step(f"lint the {target} project", *DEPLOYGEN, "lint", str(project))
        step(f"run the {target} project's own tests", sys.executable, "-m", "pytest", "-q", "-p",
             "no:cacheprovider", cwd=project)
        projects.append(project)
    serve_and_ask(projects[0], "/", "/")  # Lambda: a Function URL event for the real handler
    serve_and_ask(projects[1], "/invocations", "/ping")  # SageMaker (and ECS): the container's own server
    print("\ndemo done: the projects are in", workdir)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/demo"))
