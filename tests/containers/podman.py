"""podman as the tests run it: installed with apt when missing, configured for this machine, and its commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build" / "containers"  # gitignored: the wheelhouse, podman's settings, the last run's image sizes
TOOLS = {"podman": "podman", "buildah": "buildah", "runc": "runc", "debootstrap": "debootstrap"}  # command: package
# runc, not crun (podman's preferred runtime, which fails on these machines' cgroups); explicit ulimits:
# without them runc cannot set the container's RLIMIT_NOFILE here ("operation not permitted").
CONTAINERS_CONF = """\
# podman's settings for deploygen's container tests (tests/containers/podman.py writes this file).
[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
"""


def unavailable() -> str | None:
    """Why podman cannot run here, or None once it can: installs the tools with apt when any is missing."""
    missing = sorted(package for command, package in TOOLS.items() if not shutil.which(command))
    if missing:
        if not shutil.which("apt-get"):
            return f"no apt-get to install {' '.join(missing)} with"
        if os.geteuid() != 0:
            return f"not root: cannot apt-get install {' '.join(missing)}"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                return f"`{' '.join(command)}` failed: {(done.stderr or done.stdout).strip()[-500:]}"
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "containers.conf").write_text(CONTAINERS_CONF)
    except OSError as error:
        return f"cannot write podman's settings: {error}"
    probe = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
    if probe.returncode != 0:
        return f"podman does not run here: {probe.stderr.strip()[-500:]}"
    return None


def podman(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONTAINERS_CONF": str(CACHE / "containers.conf")}
    done = subprocess.run(["podman", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}"
                             f"\n{done.stderr[-3000:]}")
    return done


def exists(image: str) -> bool:
    return podman("image", "exists", image, check=False).returncode == 0


def label(image: str, name: str) -> str | None:
    """A label of a local image, None when the image or the label is missing."""
    if not exists(image):
        return None
    return json.loads(podman("image", "inspect", image).stdout)[0].get("Labels", {}).get(name)


def build(context: Path, tag: str, *options: str) -> float:
    """`podman build` with no network and no pulls: every base image and package must already be here.

    Layers are cached in podman's storage, as a developer's builds are: a layer is built again when what it
    is built from changes (the base image, requirements.txt, the model, src/). Returns the seconds it took."""
    started = time.monotonic()
    podman("build", "--pull=never", "--network=none", "--layers", "--tag", tag, *options, str(context))
    return time.monotonic() - started


def size(image: str) -> int:
    """The image's size in bytes, uncompressed, every layer (what Lambda's 10 GB limit counts)."""
    return int(json.loads(podman("image", "inspect", image).stdout)[0]["Size"])


class Container:
    """A container started with `podman run --detach`; removed, with its anonymous volumes, on exit."""

    def __init__(self, image: str, *options: str, command: tuple[str, ...] = ()):
        self.started = time.monotonic()
        self.id = podman("run", "--detach", *options, image, *command).stdout.strip()

    def state(self) -> dict:
        return json.loads(podman("inspect", self.id).stdout)[0]["State"]

    def running(self) -> bool:
        return self.state()["Running"]

    def logs(self) -> str:
        done = podman("logs", self.id, check=False)
        return done.stdout + done.stderr

    def users(self) -> list[str]:
        """The host user (a number where the host has no name for it) of every process in the container."""
        lines = podman("top", self.id, "huser").stdout.splitlines()[1:]
        return [line.strip() for line in lines if line.strip()]

    def stop(self, timeout: int) -> tuple[float, int]:
        """`podman stop`: SIGTERM, then SIGKILL after `timeout` s. Seconds it took, and the exit code."""
        started = time.monotonic()
        podman("stop", "--time", str(timeout), self.id)
        return time.monotonic() - started, self.state()["ExitCode"]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        podman("rm", "--force", "--volumes", "--time", "0", self.id, check=False)
