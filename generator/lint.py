"""Lint: cfn-lint over a project's CloudFormation, plus the spec's own checks.

cfn-lint runs through its Python API with every rule, informational and
experimental ones included; the rules are built once per process, which is
most of cfn-lint's start-up cost.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from . import spec as specs
from .errors import PathError, SpecError
from .frameworks import artifact_sha256, artifact_size
from .targets import fit_problems

TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".deploygen", ".pytest_cache", "cdk.out"}
# A CloudFormation template says so in its content, whatever its file is called.
TEMPLATE_MARK = re.compile(r"AWSTemplateFormatVersion|[\"']?Type[\"']?\s*:\s*[\"']?AWS::[A-Za-z0-9]+::")
FAILING_LEVELS = ("error", "warning")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    level: str  # error | warning | informational
    rule: str  # cfn-lint's id (E3012...) or deploygen's (DG...)
    message: str


@functools.lru_cache(maxsize=1)
def _cfn_rules():
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(include_checks=["I"], include_experimental=True)).rules


def lint_template(path: Path, regions: list[str]) -> list[Finding]:
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode import decode
    from cfnlint.runner import run_template_by_data

    template, matches = decode(str(path))
    if template is not None and not matches:
        config = ConfigMixIn(include_checks=["I"], include_experimental=True, regions=regions)
        matches = list(run_template_by_data(template, config, _cfn_rules()))
    return [
        Finding(str(path), m.linenumber, m.columnnumber, m.rule.severity.lower(), m.rule.id, m.message)
        for m in matches
    ]


def lint_spec(project_dir: Path) -> tuple[list[Finding], list[str]]:
    """The spec's findings, and the regions its templates should be checked in."""
    path = project_dir / specs.SPEC_FILE
    try:
        spec = specs.load(project_dir)
    except SpecError as err:
        return [Finding(str(path), 1, 1, "error", "DG001", str(err))], []
    findings = []
    model = project_dir / spec.model.path
    if not (model.is_dir() if spec.model.framework == "transformers" else model.is_file()):
        findings.append(Finding(str(path), 1, 1, "error", "DG002", f"model.path {spec.model.path} is missing"))
    else:
        if artifact_sha256(model) != spec.model.sha256:
            findings.append(Finding(str(path), 1, 1, "warning", "DG002",
                                    f"{spec.model.path} changed since it was recorded: run `deploygen render` to take it"))
        for problem in fit_problems(spec, artifact_size(model)):
            findings.append(Finding(str(path), 1, 1, "error", "DG003", problem))
    return findings, [spec.region]


def lint_paths(paths: list[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for path in paths:
        if not path.exists():
            raise PathError(f"{path} does not exist: give a project folder, a template or a deploygen.yaml")
        findings.extend(_lint_one(path))
    return findings


def _lint_one(path: Path) -> list[Finding]:
    if path.is_file() and path.name == specs.SPEC_FILE:
        return lint_spec(path.parent)[0]
    if path.is_file():
        return lint_template(path, ["us-east-1"])
    findings, regions = [], ["us-east-1"]
    if (path / specs.SPEC_FILE).is_file():
        findings, regions = lint_spec(path)
        regions = regions or ["us-east-1"]
    for template in find_templates(path):
        findings.extend(lint_template(template, regions))
    return findings


def find_templates(root: Path) -> list[Path]:
    """CloudFormation templates below root, recognised by their content."""
    found = []
    for path in sorted(root.rglob("*")):
        if SKIP_DIRS.intersection(path.relative_to(root).parts) or path.suffix not in TEMPLATE_SUFFIXES:
            continue
        if path.is_file() and path.name != specs.SPEC_FILE and _looks_like_template(path):
            found.append(path)
    return found


def _looks_like_template(path: Path) -> bool:
    try:
        return bool(TEMPLATE_MARK.search(path.read_text(encoding="utf-8", errors="replace")[:65536]))
    except OSError:
        return False


def format_findings(findings: list[Finding], output_format: str) -> str:
    if output_format == "json":
        return json.dumps([asdict(f) for f in findings], indent=2) + "\n"
    lines = [f"{f.path}:{f.line}:{f.column}: {f.level} {f.rule} {f.message}" for f in findings]
    failing = sum(f.level in FAILING_LEVELS for f in findings)
    lines.append(f"{len(findings)} finding(s), {failing} failing" if findings else "clean: no findings")
    return "\n".join(lines) + "\n"


def exit_code(findings: list[Finding]) -> int:
    return 1 if any(f.level in FAILING_LEVELS for f in findings) else 0
