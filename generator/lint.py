"""Lint: cfn-lint over a project's CloudFormation with deploygen's own rules, its Dockerfiles, and its spec.

cfn-lint runs through its Python API with every rule, informational and
experimental ones included, plus deploygen's model-deployment rules
(generator/rules, also usable as `cfn-lint --append-rules`); the rules are
built once per process, which is most of cfn-lint's start-up cost.
Dockerfiles get the target's serving-contract checks and hadolint (when
installed); deploygen.yaml gets the spec's checks. Suppressions: cfn-lint's
own template Metadata, and a .deploygen-lint.yaml file whose every entry
carries a reason, printed with the finding it suppresses.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, replace
from pathlib import Path

from . import dockerlint, spec as specs
from .errors import EXIT_LINT_FAILED, DeployGenError, SpecError
from .frameworks import artifact_sha256, artifact_size
from .rules import RULES_DIR
from .targets import fit_problems

TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".deploygen", ".pytest_cache", "cdk.out"}
# A CloudFormation template says so in its content, whatever its file is called.
TEMPLATE_MARK = re.compile(r"AWSTemplateFormatVersion|[\"']?Type[\"']?\s*:\s*[\"']?AWS::[A-Za-z0-9]+::")
LEVELS = ("error", "warning", "informational")
EXIT_FLAGS = {"error": 2, "warning": 4, "informational": 8}  # as cfn-lint's: OR-ed together
SUPPRESSIONS_FILE = ".deploygen-lint.yaml"
RULES_PATH = RULES_DIR  # deploygen's cfn-lint rules, one class per file (cfn-lint --append-rules takes it)
SPEC_RULES = {
    "DG001": ("error", "deploygen.yaml is invalid", "The spec cannot be read or breaks a limit; nothing renders "
              "from it.", ""),
    "DG002": ("warning", "The model file is missing or changed", "The model in model/ is not the one the spec "
              "recorded: the image would ship another model than the one tested.",
              ""),
    "DG003": ("error", "The model does not fit the target", "The model is larger than the target's memory or "
              "image limit.", "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"),
}


class LintUsageError(DeployGenError):
    """lint could not run: a path that does not exist, or a bad suppressions file."""

    exit_code = EXIT_LINT_FAILED


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    level: str  # error | warning | informational
    rule: str  # cfn-lint's id (E3012...), deploygen's (W9xxx, DG...), hadolint's (DL3008...)
    message: str
    resource: str = ""  # the template's logical id, when the finding is on a resource
    suppressed: str = ""  # the reason, when a suppression covers the finding


@dataclass(frozen=True)
class RuleInfo:
    shortdesc: str
    description: str
    url: str


@functools.lru_cache(maxsize=1)
def _cfn_rules():
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(include_checks=["I"], include_experimental=True,
                              append_rules=[str(RULES_PATH)])).rules


def rule_info(rule: str) -> RuleInfo:
    """What a rule id means, for SARIF and JUnit: from cfn-lint's rules, deploygen's, or hadolint's wiki."""
    known = {**SPEC_RULES, **dockerlint.RULES}
    if rule in known:
        _, short, long, url = known[rule]
        return RuleInfo(short, long, url)
    if rule.startswith("DL") or rule.startswith("SC"):
        url = dockerlint.HADOLINT_URL.format(rule) if rule.startswith("DL") else \
            f"https://www.shellcheck.net/wiki/{rule}"
        return RuleInfo(f"hadolint {rule}", f"hadolint rule {rule}", url)
    cfn = _cfn_rules()
    try:
        found = cfn[rule]
    except (KeyError, TypeError):
        found = None
    if found is not None:
        return RuleInfo(found.shortdesc, found.description, found.source_url or
                        "https://github.com/aws-cloudformation/cfn-lint/blob/main/docs/rules.md")
    return RuleInfo(rule, rule, "https://github.com/aws-cloudformation/cfn-lint/blob/main/docs/rules.md")


def lint_template(path: Path, regions: list[str]) -> list[Finding]:
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode import decode
    from cfnlint.runner import run_template_by_data

    template, matches = decode(str(path))
    if template is not None and not matches:
        config = ConfigMixIn(include_checks=["I"], include_experimental=True, regions=regions,
                             append_rules=[str(RULES_PATH)])
        matches = list(run_template_by_data(template, config, _cfn_rules()))
    return [
        Finding(str(path), m.linenumber, m.columnnumber, m.rule.severity.lower(), m.rule.id, m.message,
                _resource(m))
        for m in matches
    ]


def _resource(match) -> str:
    path = list(getattr(match, "path", None) or [])
    return str(path[1]) if len(path) > 1 and path[0] == "Resources" else ""


def lint_dockerfile(path: Path, target: str | None, hadolint=None) -> list[Finding]:
    """The contract checks and hadolint's findings (hadolint: a run started earlier, else one now)."""
    hadolint = hadolint if hadolint is not None else dockerlint.start_hadolint(path)
    found = dockerlint.check_contract(path, target) + dockerlint.hadolint_findings(hadolint)
    return [Finding(str(path), f.line, 1, f.level, f.rule, f.message) for f in found]


def lint_spec(project_dir: Path) -> tuple[list[Finding], specs.ProjectSpec | None]:
    """The spec's findings, and the spec (None when it is invalid): its region and target guide the rest."""
    path = project_dir / specs.SPEC_FILE
    try:
        spec = specs.load(project_dir)
    except SpecError as err:
        return [Finding(str(path), 1, 1, "error", "DG001", str(err))], None
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
    return findings, spec


def lint_paths(paths: list[Path], suppressions_file: Path | None = None) -> list[Finding]:
    for path in paths:
        if not path.exists():
            raise LintUsageError(f"{path} does not exist: give a project folder, a template, a Dockerfile "
                                 "or a deploygen.yaml")
    findings: list[Finding] = []
    for path, found in zip(paths, map(_lint_one, paths)):
        local = path / SUPPRESSIONS_FILE if path.is_dir() else None
        for source in (suppressions_file, local):
            if source is not None and source.is_file():
                found = apply_suppressions(found, read_suppressions(source), source.parent)
        findings.extend(found)
    return findings


def _lint_one(path: Path) -> list[Finding]:
    if path.is_file() and path.name == specs.SPEC_FILE:
        return lint_spec(path.parent)[0]
    if path.is_file() and dockerlint.looks_like_dockerfile(path):
        return lint_dockerfile(path, None)
    if path.is_file():
        return lint_template(path, ["us-east-1"])
    findings, spec = lint_spec(path) if (path / specs.SPEC_FILE).is_file() else ([], None)
    regions, target = ([spec.region], spec.target) if spec else (["us-east-1"], None)
    dockerfiles = {dockerfile: dockerlint.start_hadolint(dockerfile) for dockerfile in find_dockerfiles(path)}
    for template in find_templates(path):  # while hadolint runs beside
        findings.extend(lint_template(template, regions))
    for dockerfile, hadolint in dockerfiles.items():
        findings.extend(lint_dockerfile(dockerfile, target if dockerfile.parent == path else None, hadolint))
    return findings


def find_dockerfiles(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and dockerlint.looks_like_dockerfile(p)
            and not SKIP_DIRS.intersection(p.relative_to(root).parts)]


# --- suppressions -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Suppression:
    rule: str
    reason: str
    path: str = "*"  # a glob, relative to the suppressions file's folder
    resource: str = ""


def read_suppressions(source: Path) -> list[Suppression]:
    data = specs.read_yaml(source) if source.stat().st_size else None
    entries = (data or {}).get("suppressions") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise LintUsageError(f"{source}: expected a mapping with a 'suppressions' list; see the README's lint section")
    out = []
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("rule"), str) or not entry["rule"]:
            raise LintUsageError(f"{source}: suppression {i} needs a 'rule' (a rule id such as W9101)")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise LintUsageError(f"{source}: suppression {i} ({entry['rule']}) needs a 'reason': say why the "
                                 "finding is accepted")
        unknown = set(entry) - {"rule", "reason", "path", "resource"}
        if unknown:
            raise LintUsageError(f"{source}: suppression {i} has unknown keys {', '.join(sorted(unknown))}")
        out.append(Suppression(entry["rule"], reason.strip(), str(entry.get("path") or "*"),
                               str(entry.get("resource") or "")))
    return out


def apply_suppressions(findings: list[Finding], suppressions: list[Suppression], base: Path) -> list[Finding]:
    out = []
    for finding in findings:
        try:
            rel = Path(finding.path).resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            rel = finding.path
        match = next((s for s in suppressions if s.rule == finding.rule and fnmatch.fnmatch(rel, s.path)
                      and (not s.resource or s.resource == finding.resource)), None)
        out.append(replace(finding, suppressed=match.reason) if match and not finding.suppressed else finding)
    return out


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


def exit_code(findings: list[Finding], fail_on: str = "warning") -> int:
    """cfn-lint's bit flags (2 errors, 4 warnings, 8 informational) of the unsuppressed findings at or
    above the fail_on level; 0 when there are none."""
    counted = LEVELS[: LEVELS.index(fail_on) + 1]
    code = 0
    for finding in findings:
        if not finding.suppressed and finding.level in counted:
            code |= EXIT_FLAGS[finding.level]
    return code
