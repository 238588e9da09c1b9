"""Benchmark: the example model's image on each target: its size, what deploygen adds, and its start-up time.

For the example model (iris, examples/train_iris.py) a project per target is rendered with `deploygen init`
and its image built from the generated Dockerfile with podman, on the stand-in base images of the container
tests (tests/containers/standins.py says how they differ from the real ones). Figures per target:

- image: its size, every layer, as podman counts it (`podman image inspect`: the uncompressed tar streams,
  which carry a 512-byte header per file and pad each file to 512 bytes); base: the same for the stand-in
  its final FROM names; added = image - base: everything the generated Dockerfile puts on top.
- What the added bytes are, measured inside the image and counted as a layer counts them: the model (none
  on SageMaker, where the endpoint mounts it), the framework's prediction dependencies (the Python
  distributions the model's own requirement lines pull in, as installed, bytecode included), the model
  server's (SageMaker, ECS), and the rest (the project's code and its bytecode, directories, the user).
- Goal: added <= model + framework dependencies + 5 MB.
- First answer: seconds from `podman run` to the first 200 on /ping (SageMaker, ECS: run as their stacks
  run them, tests/containers/platforms.py), or to the answer of a Lambda invocation queued at the start
  (the Runtime API of tests/containers/runtime_api.py). Median of --rounds runs, after one untimed run.

Usage: .venv/bin/python bench/images.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "examples"), str(REPO / "tests")]

from containers import podman, standins, wheelhouse  # noqa: E402
from containers.platforms import lambda_options, server_options, wait_for_ping  # noqa: E402
from containers.runtime_api import RuntimeAPI  # noqa: E402
from served import free_port  # noqa: E402
from train_iris import train  # noqa: E402

from generator.cli import main as deploygen  # noqa: E402
from generator.serve import function_url_event  # noqa: E402

TARGETS = ("lambda", "sagemaker", "ecs")
GOAL_SLACK = 5e6
MB = 1e6
# Run inside an image: every Python distribution its `python` sees, what it requires, and its size as a
# layer counts it (podman's sizes are the uncompressed tar stream: a 512-byte header per file, and each
# file padded to a multiple of 512 bytes).
INVENTORY = r"""
import importlib.metadata as md, json, os, re
def norm(name): return re.sub(r"[-_.]+", "-", name).lower()
def in_tar(path): return 512 + -(-os.path.getsize(path) // 512) * 512
found = {}
for dist in md.distributions():
    paths = [dist.locate_file(f) for f in dist.files or []]
    requires = [norm(re.split(r"[\s;<>=!~\[(]", r, maxsplit=1)[0]) for r in dist.requires or []
                if "extra" not in r.partition(";")[2]]
    found[norm(dist.metadata["Name"])] = [sum(in_tar(p) for p in paths if os.path.isfile(p)), requires]
print(json.dumps(found))
"""


def render(model: Path, target: str, work: Path) -> Path:
    project = work / target
    result = CliRunner().invoke(deploygen, ["init", str(model), "--target", target, "--output", str(project)])
    assert result.exit_code == 0, result.output
    return project


def build(project: Path, target: str) -> str:
    wheels = wheelhouse.download((project / "requirements.txt").read_text())
    tag = f"localhost/deploygen-bench/iris-{target}"
    podman.build(project, tag, "--volume", f"{wheels}:/wheels:ro")
    return tag


def requirement_names(requirements: Path) -> set[str]:
    """The distribution names a requirements file asks for, normalised as INVENTORY does."""
    lines = [line.strip() for line in requirements.read_text().splitlines()]
    return {re.sub(r"[-_.]+", "-", re.split(r"[\s;<>=!~\[(]", line, maxsplit=1)[0]).lower()
            for line in lines if line and not line.startswith("#")}


def inventory(image: str) -> dict[str, list]:
    return json.loads(podman.podman("run", "--rm", "--network=none", "--entrypoint", "python", image,
                                    "-c", INVENTORY).stdout)


def closure(found: dict[str, list], names: set[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in found and name not in seen:
            seen.add(name)
            stack.extend(found[name][1])
    return seen


def composition(tag: str, base: str, project: Path, framework_names: set[str], target: str) -> dict:
    """The added bytes of the image, by what they are."""
    in_image, in_base = inventory(tag), inventory(base)
    new = {name: value for name, value in in_image.items() if name not in in_base}
    framework = closure(new, framework_names)
    model = 0 if target == "sagemaker" else sum(512 + -(-p.stat().st_size // 512) * 512
                                                for p in (project / "model").rglob("*") if p.is_file())
    added = podman.size(tag) - podman.size(base)
    figures = {
        "image": podman.size(tag), "base": podman.size(base), "added": added, "model": model,
        "framework": sum(new[name][0] for name in framework),
        "server": {name: new[name][0] for name in sorted(new, key=lambda n: -new[n][0]) if name not in framework},
    }
    figures["rest"] = added - model - figures["framework"] - sum(figures["server"].values())
    return figures


def first_answer(tag: str, project: Path, target: str, work: Path) -> float:
    if target == "lambda":
        api = RuntimeAPI()
        try:
            with podman.Container(tag, *lambda_options(api.address)) as function:
                body = (project / "tests" / "sample_request.json").read_bytes()
                event = function_url_event("POST", "/", {"content-type": "application/json"}, body)
                kind, answer = api.invoke(event, alive=function.running)
                seconds = time.monotonic() - function.started
                assert kind == "response" and answer["statusCode"] == 200, answer
                return seconds
        finally:
            api.close()
    options, _ = server_options(project, target, work)
    port = free_port()
    with podman.Container(tag, "--publish", f"127.0.0.1:{port}:8080", *options, command=("serve",)) as server:
        return wait_for_ping(server, f"http://127.0.0.1:{port}/ping")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    version = podman.podman("version", "--format", "{{.Client.Version}}").stdout.strip()
    return f"{len(os.sched_getaffinity(0))} cores ({cpu}), Linux {platform.release()}, podman {version}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    reason = podman.unavailable()
    if reason:
        sys.exit(f"bench/images.py: {reason}")
    standins.ensure()
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        model = train(work / "iris.joblib")
        projects = {target: render(model, target, work) for target in TARGETS}
        framework_names = requirement_names(projects["lambda"] / "requirements.txt")  # the model's own lines
        for target in TARGETS:
            project = projects[target]
            tag = build(project, target)
            base = standins.LAMBDA if target == "lambda" else standins.SLIM
            figures = composition(tag, base, project, framework_names, target)
            first_answer(tag, project, target, work)  # untimed: the page cache
            times = [first_answer(tag, project, target, work) for _ in range(args.rounds)]
            rows.append((target, figures, statistics.median(times), min(times), max(times)))
            print(f"{target}: {figures['image'] / MB:.0f} MB, first answer {statistics.median(times):.2f} s",
                  file=sys.stderr)

    print(f"\nMachine: {machine()}. {args.rounds} runs per target. Sizes in MB (10^6 bytes), as a layer "
          "counts them.\n")
    print("| target | image | base | added | model | framework deps | server deps | rest | goal: added ≤ "
          "model + framework + 5 | first answer median s (min–max) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for target, f, median, low, high in rows:
        limit = f["model"] + f["framework"] + GOAL_SLACK
        over = f["added"] - (f["model"] + f["framework"])
        mark = "✔" if f["added"] <= limit else "✘"
        print(f"| {target} | {f['image'] / MB:.1f} | {f['base'] / MB:.1f} | {f['added'] / MB:.1f} | "
              f"{f['model'] / MB:.3f} | {f['framework'] / MB:.1f} | {sum(f['server'].values()) / MB:.1f} | "
              f"{f['rest'] / MB:.2f} | {over / MB:+.1f} MB {mark} | {median:.2f} ({low:.2f}–{high:.2f}) |")
    for target, f, *_ in rows:
        if f["server"]:
            parts = ", ".join(f"{name} {size / MB:.1f}" for name, size in f["server"].items())
            print(f"\n{target}: the server's distributions, MB: {parts}")


if __name__ == "__main__":
    main()
