"""`deploygen lint`: cfn-lint with every rule plus the spec's checks, as CI would run it."""

from __future__ import annotations

import json

import pytest
import yaml

BROKEN_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 7
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      MemorySize: lots
      Role: arn:aws:iam::123456789012:role/example
      PackageType: Image
      Code:
        ImageUri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/x@sha256:abc
"""


def test_a_fresh_project_is_clean(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "lambda", "--output", project)
    result = cli("lint", project)
    assert result.exit_code == 0, result.output
    assert "clean: no findings" in result.output


def test_templates_are_found_by_content_and_findings_fail(cli, tmp_path):
    (tmp_path / "stack.txt.yml").write_text(BROKEN_TEMPLATE)
    (tmp_path / "other.yaml").write_text("just: yaml\n")
    result = cli("lint", tmp_path, "--format", "json")
    assert result.exit_code == 2  # errors: cfn-lint's flag
    findings = json.loads(result.stdout)
    assert any(f["rule"] == "E3012" and "lots" in f["message"] for f in findings), findings
    assert {f["path"] for f in findings} == {str(tmp_path / "stack.txt.yml")}


def test_an_invalid_spec_is_a_finding(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "lambda", "--output", project)
    spec = yaml.safe_load((project / "deploygen.yaml").read_text())
    spec["lambda"]["memory_mb"] = 99999
    (project / "deploygen.yaml").write_text(yaml.safe_dump(spec))
    result = cli("lint", project / "deploygen.yaml")
    assert result.exit_code == 2
    assert "DG001" in result.output and "--memory" in result.output


def test_a_changed_model_is_a_warning(cli, iris_model, iris_pickle, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "lambda", "--output", project)
    (project / "model" / "model.joblib").write_bytes(iris_pickle.read_bytes())
    result = cli("lint", project)
    assert result.exit_code == 4 and "DG002" in result.output  # a warning
    assert "deploygen render" in result.output


def test_a_missing_path_is_an_error_not_a_finding(cli, tmp_path):
    result = cli("lint", tmp_path / "nope")
    assert result.exit_code == 32 and result.output.startswith("deploygen: error:")
    assert cli("lint", tmp_path, "--format", "xml").exit_code == 32  # lint's own usage errors: 32, as cfn-lint


# --- exit codes: cfn-lint's bit flags, and --fail-on ------------------------------------------------

PARAMETER_UNUSED = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Unused:
    Type: String
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    DeletionPolicy: Delete
    UpdateReplacePolicy: Delete
    Metadata:
      com.aws.cloudformation.Context:
        why: a test fixture's log group
    Properties:
      RetentionInDays: 7
"""
NO_CONTEXT = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 7
"""


def _levels(result) -> set[str]:
    return {f["level"] for f in json.loads(result.stdout)}


@pytest.mark.parametrize("template, fail_on, code", [
    (BROKEN_TEMPLATE, "warning", 2),
    (PARAMETER_UNUSED, "warning", 4),
    (PARAMETER_UNUSED, "error", 0),
    (BROKEN_TEMPLATE + "Parameters:\n  Unused:\n    Type: String\n", "warning", 6),
    (BROKEN_TEMPLATE + "Parameters:\n  Unused:\n    Type: String\n", "error", 2),
])
def test_exit_codes_are_cfn_lint_s_bit_flags(cli, tmp_path, template, fail_on, code):
    (tmp_path / "t.yaml").write_text(template)
    result = cli("lint", tmp_path / "t.yaml", "--fail-on", fail_on)
    assert result.exit_code == code, result.output


def test_informational_findings_fail_only_when_asked(cli, tmp_path):
    (tmp_path / "t.yaml").write_text(NO_CONTEXT)
    found = cli("lint", tmp_path / "t.yaml", "--format", "json")
    assert _levels(found) == {"informational"} and found.exit_code == 0
    assert cli("lint", tmp_path / "t.yaml", "--fail-on", "informational").exit_code == 8


# --- SARIF and JUnit ---------------------------------------------------------------------------------

def test_sarif_is_what_github_code_scanning_reads(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(BROKEN_TEMPLATE + "Parameters:\n  Unused:\n    Type: String\n")
    result = cli("lint", "t.yaml", "--format", "sarif", "--output", "out.sarif")
    assert result.exit_code == 6
    assert "E3012" in result.output  # the findings for the person reading the CI log, too
    log = json.loads((tmp_path / "out.sarif").read_text())
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "deploygen lint"
    assert {r["id"] for r in rules} >= {"E3012", "W2001"}
    assert all(r["shortDescription"]["text"] and r["fullDescription"]["text"] for r in rules)
    assert run["results"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "t.yaml"  # relative: code scanning maps it to the repo
        assert physical["region"]["startLine"] >= 1 and physical["region"]["startColumn"] >= 1
    assert {"error", "warning"} <= {r["level"] for r in run["results"]}


def test_junit_has_a_failure_per_finding(cli, tmp_path):
    import xml.etree.ElementTree as ET

    (tmp_path / "t.yaml").write_text(BROKEN_TEMPLATE + "Parameters:\n  Unused:\n    Type: String\n")
    found = json.loads(cli("lint", tmp_path / "t.yaml", "--format", "json").stdout)
    result = cli("lint", tmp_path / "t.yaml", "--format", "junit")
    suite = ET.fromstring(result.stdout).find("testsuite")
    failures = suite.findall("testcase/failure")
    assert len(failures) == sum(f["level"] in ("error", "warning") for f in found) > 0
    assert {case.get("classname") for case in suite.findall("testcase")} == {str(tmp_path / "t.yaml")}


# --- suppressions --------------------------------------------------------------------------------------

def test_a_suppression_needs_a_reason_and_the_reason_is_printed(cli, tmp_path):
    (tmp_path / "t.yaml").write_text(PARAMETER_UNUSED)
    (tmp_path / ".deploygen-lint.yaml").write_text("suppressions:\n  - rule: W2001\n    path: t.yaml\n")
    refused = cli("lint", tmp_path)
    assert refused.exit_code == 32 and "needs a 'reason'" in refused.output
    (tmp_path / ".deploygen-lint.yaml").write_text(
        "suppressions:\n  - rule: W2001\n    path: t.yaml\n    reason: kept for the next release\n")
    result = cli("lint", tmp_path)
    assert result.exit_code == 0, result.output
    assert "suppressed W2001" in result.output and "kept for the next release" in result.output
    sarif = json.loads(cli("lint", tmp_path, "--format", "sarif").stdout)
    (finding,) = sarif["runs"][0]["results"]
    assert finding["suppressions"] == [{"kind": "external", "justification": "kept for the next release"}]


def test_cfn_lint_s_own_metadata_suppressions_are_honoured(cli, tmp_path):
    (tmp_path / "t.yaml").write_text(PARAMETER_UNUSED.replace(
        'AWSTemplateFormatVersion: "2010-09-09"\n',
        'AWSTemplateFormatVersion: "2010-09-09"\nMetadata:\n  cfn-lint:\n    config:\n'
        '      ignore_checks: [W2001]\n'))
    assert cli("lint", tmp_path / "t.yaml").exit_code == 0


def test_pre_commit_hook_manifest_is_valid():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", ".pre-commit-hooks.yaml"],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (hook,) = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "deploygen lint" and hook["pass_filenames"] is False


def test_rules_path_is_the_folder_cfn_lint_appends(cli):
    from pathlib import Path

    result = cli("lint", "--rules-path")
    folder = Path(result.stdout.strip())
    assert result.exit_code == 0 and folder.is_dir()
    assert len([p for p in folder.glob("*.py") if not p.name.startswith("_")]) >= 16


def test_a_fixed_size_sagemaker_endpoint_says_why_it_has_no_scaling_policy(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "sagemaker", "--min-instances", "2", "--max-instances", "2",
        "--instances", "2", "--output", project)
    assert cli("lint", project).exit_code == 0  # W9104 suppressed in the template, with the reason beside it
    assert "W9104  # no scaling policy on purpose" in (project / "infra" / "template.yaml").read_text()
