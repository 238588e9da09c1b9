"""checkov over every generated CloudFormation template and Dockerfile of a matrix of projects: zero failed checks.

A check that does not apply is skipped in the template itself, with its reason beside it: for CloudFormation
the resource's `Metadata: checkov: skip: [{id, comment}]`, for a Dockerfile a `# checkov:skip=ID:reason`
comment. The second test holds every such skip to a reason; the first also proves checkov applied each skip
written, so a mistyped id or a skip on the wrong resource cannot sit there hiding nothing.

checkov lives in a virtualenv of its own, build/checkov-venv (its pins conflict with ours), installed from
PyPI by this file when missing. A marker written only after a successful install names what was installed,
so a half-made virtualenv, or one for another checkov or Python, is rebuilt. checkov runs offline: no
platform download (--skip-download), no update check, no API key.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from stacks import parse

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CHECKOV_VENV = REPO / "build" / "checkov-venv"
# Pinned: a new checkov release brings new checks, and the scan should change only when we bump this.
CHECKOV_REQUIREMENT = "checkov==3.3.30"
INSTALL_TIMEOUT_S = 1200
SCAN_TIMEOUT_S = 600

CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/abcd1234-ab12-cd34-ef56-abcdef123456"
# name -> (model, target, extra `deploygen init` options); the model is "iris" or a model_zoo name.
MATRIX = {
    "lambda": ("iris", "lambda", ()),
    "lambda-http-api": ("iris", "lambda", ("--front", "http-api")),
    "lambda-auth-none": ("iris", "lambda", ("--auth", "none")),
    "lambda-provisioned": ("iris", "lambda", ("--provisioned-concurrency", "1:2")),
    "sagemaker": ("iris", "sagemaker", ()),
    "sagemaker-serverless": ("iris", "sagemaker", ("--mode", "serverless")),
    "sagemaker-async": ("iris", "sagemaker", ("--mode", "async", "--output-path", "s3://my-bucket/p")),
    "ecs": ("iris", "ecs", ()),
    "ecs-create-vpc": ("iris", "ecs", ("--create-vpc",)),
    "ecs-https": ("iris", "ecs", ("--certificate-arn", CERTIFICATE_ARN)),
    # The Dockerfile lines only some frameworks get: OpenMP (libgomp) for LightGBM, CPU-only torch for
    # TorchScript; each on Lambda's Dockerfile and on the shared one of SageMaker and ECS.
    "lambda-lightgbm": ("lightgbm", "lambda", ()),
    "ecs-lightgbm": ("lightgbm", "ecs", ()),
    "lambda-torchscript": ("torchscript", "lambda", ()),
    "sagemaker-torchscript": ("torchscript", "sagemaker", ()),
}
# What a rendered Dockerfile must contain for the variant the project is in the matrix for.
DOCKERFILE_VARIANTS = {"lightgbm": "libgomp", "torchscript": "--index-url"}

SKIP_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
# A Dockerfile skip as checkov reads it (checkov.common.comment.enum.COMMENT_REGEX): id, then an optional ":reason".
DOCKER_SKIP = re.compile(r"(?:checkov|bridgecrew):skip=\s*([A-Za-z0-9_-]*)(?::(.*))?")
CHECKOV_NO_REASON = "No comment provided"  # what checkov records for a skip without one


# --- checkov's virtualenv ------------------------------------------------------


def checkov_executable() -> Path:
    """build/checkov-venv/bin/checkov, installing CHECKOV_REQUIREMENT from PyPI first unless the marker says it's there."""
    python = CHECKOV_VENV / "bin" / "python"
    checkov = CHECKOV_VENV / "bin" / "checkov"
    marker = CHECKOV_VENV / ".installed"
    wanted = f"{CHECKOV_REQUIREMENT} python{sys.version_info.major}.{sys.version_info.minor}"
    if marker.is_file() and marker.read_text() == wanted and python.exists() and checkov.exists():
        return checkov
    print(f"Installing {CHECKOV_REQUIREMENT} into {CHECKOV_VENV} (pip, from PyPI) ...", file=sys.stderr)
    started = time.monotonic()
    shutil.rmtree(CHECKOV_VENV, ignore_errors=True)  # whatever a failed or older install left
    steps = [
        [sys.executable, "-m", "venv", str(CHECKOV_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", CHECKOV_REQUIREMENT],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"installing checkov timed out after {INSTALL_TIMEOUT_S} s: {' '.join(step)}")
        if done.returncode != 0:
            pytest.fail(f"installing checkov failed ({' '.join(step)}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    if not checkov.exists():
        pytest.fail(f"pip installed {CHECKOV_REQUIREMENT} but {checkov} is missing")
    marker.write_text(wanted)  # only now: an interrupted install leaves no marker and is redone
    print(f"Installed {CHECKOV_REQUIREMENT} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return checkov


# --- the matrix ----------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    root: Path  # the folder every project is rendered into; checkov runs there
    projects: dict[str, Path]  # matrix name -> project folder

    def files(self) -> dict[str, list[Path]]:
        """checkov framework -> the files of every project it scans, relative to root."""
        return {
            "cloudformation": [(p / "infra" / "template.yaml").relative_to(self.root) for p in self.projects.values()],
            "dockerfile": [(p / "Dockerfile").relative_to(self.root) for p in self.projects.values()],
        }


@pytest.fixture(scope="module")
def rendered(iris_model, zoo, tmp_path_factory) -> Rendered:
    """Every MATRIX project, rendered with `deploygen init` run as a user runs it."""
    root = tmp_path_factory.mktemp("security-scan")
    projects = {}
    for name, (model_name, target, options) in MATRIX.items():
        if model_name == "iris":
            model, model_args = iris_model, ()
        else:
            built = zoo(model_name)
            model, model_args = built.path, built.init_args
        project = root / name
        done = subprocess.run(
            [sys.executable, "-m", "generator", "init", str(model), "--target", target, "--output", str(project),
             *model_args, *options],
            cwd=REPO, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
        for path in (project / "infra" / "template.yaml", project / "Dockerfile"):
            assert path.is_file(), f"{name}: {path} was not rendered"
        if model_name in DOCKERFILE_VARIANTS:
            assert DOCKERFILE_VARIANTS[model_name] in (project / "Dockerfile").read_text(), (
                f"{name}: the Dockerfile lacks the {model_name} variant this project is scanned for")
        projects[name] = project
    return Rendered(root, projects)


# --- the scan ------------------------------------------------------------------


def run_checkov(checkov: Path, rendered: Rendered) -> list[dict]:
    """One checkov process over every file of the matrix; its JSON reports, one per framework."""
    files = rendered.files()
    command = [str(checkov), "--framework", *files, "--output", "json", "--skip-download"]
    for paths in files.values():
        for path in paths:
            command += ["--file", str(path)]
    # Nothing from the caller's environment steers checkov: no platform key or URL, no check or framework filter.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("BC_", "PRISMA_", "CKV_", "CHECKOV_"))}
    env["CKV_SKIP_PACKAGE_UPDATE_CHECK"] = "true"  # no query to PyPI for a newer checkov
    # Its own session, so a hang (checkov waits forever on a parser process that died) can be killed whole.
    process = subprocess.Popen(command, cwd=rendered.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=SCAN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"checkov did not finish within {SCAN_TIMEOUT_S} s")
    # 0: nothing failed, 1: something failed; anything else is checkov itself failing.
    assert process.returncode in (0, 1), f"checkov exited {process.returncode}:\n{err[-5000:]}"
    try:
        reports = json.loads(out)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON:\n{out[-3000:]}\n{err[-3000:]}")
    return reports if isinstance(reports, list) else [reports]


@pytest.fixture(scope="module")
def scan(rendered) -> dict[str, dict]:
    """checkov's report per framework (cloudformation, dockerfile) over the whole matrix."""
    reports = run_checkov(checkov_executable(), rendered)
    return {report.get("check_type"): report for report in reports}


def result_file(rendered: Rendered, result: dict) -> Path:
    """The scanned file a checkov result is about, relative to the matrix root."""
    return (rendered.root / result["file_path"].lstrip("/")).resolve().relative_to(rendered.root.resolve())


def logical_id(result: dict) -> str:
    """AWS::Lambda::Function.Function -> Function."""
    return result["resource"].rsplit(".", 1)[-1]


def describe(result: dict) -> str:
    return f"{result['check_id']} ({result['check_name']}) on {result['resource']} in {result['file_path'].lstrip('/')}"


def test_checkov_finds_no_failed_check(rendered, scan):
    expected = rendered.files()
    assert sorted(scan) == sorted(expected), f"checkov reported on {sorted(scan)}, not on {sorted(expected)}"
    failures = []
    for framework, report in scan.items():
        assert report["summary"]["parsing_errors"] == 0, report["results"].get("parsing_errors")
        results = report["results"]
        scanned = {result_file(rendered, r) for kind in ("passed_checks", "failed_checks", "skipped_checks")
                   for r in results[kind]}
        missing = set(expected[framework]) - scanned
        assert not missing, f"checkov ({framework}) reported nothing on {sorted(map(str, missing))}"
        failures += [describe(r) for r in results["failed_checks"]]
        for skipped in results["skipped_checks"]:
            reason = (skipped["check_result"].get("suppress_comment") or "").strip()
            assert reason and reason != CHECKOV_NO_REASON, f"checkov read no reason for the skip of {describe(skipped)}"
    assert not failures, f"{len(failures)} failed checkov check(s):\n" + "\n".join(sorted(failures))

    # Every skip written in the files is one checkov applied (a mistyped id, or a skip on a resource the
    # check does not cover, would hide nothing and mislead the reader).
    applied = {
        (str(result_file(rendered, r)), logical_id(r) if framework == "cloudformation" else "", r["check_id"])
        for framework, report in scan.items() for r in report["results"]["skipped_checks"]
    }
    written = {(str(path), resource, check) for path, resource, check, _ in written_skips(rendered)}
    assert written <= applied, f"skips checkov did not apply: {sorted(written - applied)}"


# --- the skips, read from the files ----------------------------------------------


def written_skips(rendered: Rendered) -> list[tuple[Path, str, str, object]]:
    """(file relative to root, resource logical id or "" for a Dockerfile, check id, reason) of every skip."""
    skips = []
    files = rendered.files()
    for path in files["cloudformation"]:
        template = parse((rendered.root / path).read_text())
        for resource_id, resource in template.get("Resources", {}).items():
            metadata = resource.get("Metadata") or {}
            for tool in ("checkov", "bridgecrew"):
                for skip in (metadata.get(tool) or {}).get("skip") or []:
                    skips.append((path, resource_id, skip.get("id"), skip.get("comment")))
    for path in files["dockerfile"]:
        for line in (rendered.root / path).read_text().splitlines():
            match = DOCKER_SKIP.search(line)
            if match:
                skips.append((path, "", match.group(1), match.group(2)))
    return skips


def test_every_skip_carries_a_reason(rendered):
    skips = written_skips(rendered)
    assert {path.name for path, *_ in skips} == {"template.yaml", "Dockerfile"}, "expected skips in both kinds of file"
    bad = [
        f"{path}{f' {resource}' if resource else ''}: {check!r} reason {reason!r}"
        for path, resource, check, reason in skips
        if not (isinstance(check, str) and SKIP_ID.match(check))
        or not isinstance(reason, str) or not reason.strip() or reason.strip() == CHECKOV_NO_REASON
    ]
    assert not bad, "checkov skips without a check id or a reason:\n" + "\n".join(bad)
