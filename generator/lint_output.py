"""Lint findings written out: text for people, JSON for scripts, SARIF 2.1.0 for code scanning, JUnit XML for CI.

SARIF is built with sarif-om and jschema-to-python, JUnit with junit-xml: cfn-lint's own optional
formatter dependencies (the cfn-lint[sarif,junit] extras), so nothing here writes either by hand.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from .lint import LEVELS, Finding, rule_info

FORMATS = ("text", "json", "sarif", "junit")
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/cos02/schemas/sarif-schema-2.1.0.json"
SARIF_LEVELS = {"error": "error", "warning": "warning", "informational": "note"}


def render(findings: list[Finding], output_format: str, version: str) -> str:
    return {"text": text, "json": as_json, "sarif": sarif, "junit": junit}[output_format](findings, version)


def text(findings: list[Finding], version: str) -> str:
    lines = []
    for f in findings:
        where = f"{f.path}:{f.line}:{f.column}" + (f" ({f.resource})" if f.resource else "")
        if f.suppressed:
            lines.append(f"{where}: suppressed {f.rule} {f.message} (reason: {f.suppressed})")
        else:
            lines.append(f"{where}: {f.level} {f.rule} {f.message}")
    active = [f for f in findings if not f.suppressed]
    counts = ", ".join(f"{sum(f.level == level for f in active)} {level}" for level in LEVELS)
    suppressed = len(findings) - len(active)
    lines.append(f"{len(active)} finding(s): {counts}" + (f"; {suppressed} suppressed" if suppressed else "")
                 if findings else "clean: no findings")
    return "\n".join(lines) + "\n"


def as_json(findings: list[Finding], version: str) -> str:
    return json.dumps([asdict(f) for f in findings], indent=2) + "\n"


def _uri(path: str) -> str:
    """A path relative to the working folder where it lies inside it (code scanning maps those to the repo)."""
    absolute = Path(path).absolute()
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_uri()


def sarif(findings: list[Finding], version: str) -> str:
    import sarif_om as om
    from jschema_to_python.to_json import to_json

    rule_ids = sorted({f.rule for f in findings})
    rules = []
    for rule_id in rule_ids:
        info = rule_info(rule_id)
        rules.append(om.ReportingDescriptor(
            id=rule_id, short_description=om.MultiformatMessageString(text=info.shortdesc),
            full_description=om.MultiformatMessageString(text=info.description), help_uri=info.url or None))
    results = []
    for f in findings:
        uri = _uri(f.path)
        location = om.Location(physical_location=om.PhysicalLocation(
            artifact_location=om.ArtifactLocation(uri=uri, uri_base_id=None if uri.startswith("file:") else "%SRCROOT%"),
            region=om.Region(start_line=max(1, f.line), start_column=max(1, f.column))))
        suppressions = [om.Suppression(kind="external", justification=f.suppressed)] if f.suppressed else None
        results.append(om.Result(rule_id=f.rule, rule_index=rule_ids.index(f.rule), level=SARIF_LEVELS[f.level],
                                 message=om.Message(text=f.message), locations=[location],
                                 suppressions=suppressions))
    run = om.Run(
        tool=om.Tool(driver=om.ToolComponent(name="deploygen lint", version=version, rules=rules)),
        results=results,
        original_uri_base_ids={"%SRCROOT%": om.ArtifactLocation(uri=Path.cwd().as_uri() + "/")},
    )
    document = json.loads(to_json(om.SarifLog(version="2.1.0", schema_uri=SARIF_SCHEMA, runs=[run])))
    for result in document["runs"][0]["results"]:
        result.setdefault("level", "warning")  # jschema_to_python drops the default; code scanning wants it
    return json.dumps(document, indent=2) + "\n"


def junit(findings: list[Finding], version: str) -> str:
    from junit_xml import TestCase, TestSuite, to_xml_report_string

    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.path, []).append(f)
    cases = []
    for path, found in sorted(by_file.items()):
        for f in found:
            case = TestCase(name=f"{f.rule} {rule_info(f.rule).shortdesc}", classname=path,
                            file=path, line=f.line, allow_multiple_subelements=True)
            if f.suppressed:
                case.add_skipped_info(message=f"suppressed: {f.suppressed}")
            elif f.level == "informational":
                case.add_skipped_info(message=f"informational: {f.message}")
            else:
                case.add_failure_info(message=f"{f.message} at {path}:{f.line}:{f.column}", failure_type=f.level)
            cases.append(case)
    if not cases:
        cases.append(TestCase(name="deploygen lint: no findings", classname="deploygen"))
    return to_xml_report_string([TestSuite("deploygen lint", cases)], prettyprint=True)
