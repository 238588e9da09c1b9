"""How each platform runs the generated image, as `podman run` options read from the project's own stack."""

from __future__ import annotations

import subprocess
import tarfile
import time
from pathlib import Path

from served import request
from stacks import parse, the_one

from .podman import Container

SAGEMAKER_STOP_TIMEOUT = 30  # SageMaker sends SIGTERM and waits this long before SIGKILL
LAMBDA_USER = "993:990"  # Lambda runs a function as its own user (sbx_user1051 is uid 993), whatever USER says


def server_options(project: Path, target: str, scratch: Path) -> tuple[list[str], int]:
    """`podman run` options for the SageMaker/ECS container as its stack runs it, and its stop timeout.

    ECS: the task definition's user, read-only root filesystem (the image's /tmp volume writable),
    environment and StopTimeout. SageMaker: the model's environment, and the model as SageMaker gives it:
    scripts/pack_model.sh's archive unpacked into /opt/ml/model.
    """
    template = parse((project / "infra" / "template.yaml").read_text())
    if target == "ecs":
        _, task = the_one(template, "AWS::ECS::TaskDefinition")
        [container] = task["Properties"]["ContainerDefinitions"]
        options = ["--user", container["User"],
                   *env_options({item["Name"]: item["Value"] for item in container.get("Environment", [])})]
        if container.get("ReadonlyRootFilesystem"):
            options += ["--read-only", "--read-only-tmpfs=false"]
        return options, int(container["StopTimeout"])
    _, model = the_one(template, "AWS::SageMaker::Model")
    packed = subprocess.run([str(project / "scripts" / "pack_model.sh")], capture_output=True, text=True, check=False)
    assert packed.returncode == 0, packed.stderr
    unpacked = scratch / "opt-ml-model"
    with tarfile.open(packed.stdout.strip()) as archive:
        archive.extractall(unpacked, filter="data")
    options = [f"--volume={unpacked}:/opt/ml/model:ro",
               *env_options(model["Properties"]["PrimaryContainer"].get("Environment", {}))]
    return options, SAGEMAKER_STOP_TIMEOUT


def lambda_options(runtime_api: str) -> list[str]:
    """As Lambda runs a function: its own user, a read-only root filesystem with a writable /tmp, the
    function's environment, and the Runtime API at AWS_LAMBDA_RUNTIME_API on the loopback address (host
    networking: the tests serve the API on this machine's 127.0.0.1)."""
    environment = {"AWS_LAMBDA_RUNTIME_API": runtime_api, "AWS_LAMBDA_FUNCTION_NAME": "deploygen-test",
                   "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
                   "AWS_REGION": "us-east-1"}
    return ["--network=host", "--read-only", "--user", LAMBDA_USER, *env_options(environment)]


def env_options(environment: dict) -> list[str]:
    return [f"--env={name}={value}" for name, value in environment.items()]


def wait_for_ping(server: Container, url: str, seconds: float = 120) -> float:
    """Seconds from `podman run` to the first 200 on /ping, asked every 20 ms."""
    checked = time.monotonic()
    while True:
        try:
            if request(url, method="GET")[0] == 200:
                return time.monotonic() - server.started
        except OSError:
            pass
        if time.monotonic() - checked > 1:  # `podman inspect` takes a while: once a second
            assert server.running(), f"the container exited:\n{server.logs()[-3000:]}"
            checked = time.monotonic()
        assert time.monotonic() - server.started < seconds, f"no 200 on /ping in {seconds} s:\n{server.logs()[-3000:]}"
        time.sleep(0.02)
