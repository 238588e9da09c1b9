"""`deploygen lint`: cfn-lint with every rule plus the spec's checks, as CI would run it."""

from __future__ import annotations

import json

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
    assert result.exit_code == 1
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
    assert result.exit_code == 1
    assert "DG001" in result.output and "--memory" in result.output


def test_a_changed_model_is_a_warning(cli, iris_model, iris_pickle, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "lambda", "--output", project)
    (project / "model" / "model.joblib").write_bytes(iris_pickle.read_bytes())
    result = cli("lint", project)
    assert result.exit_code == 1 and "DG002" in result.output


def test_a_missing_path_is_an_error_not_a_finding(cli, tmp_path):
    result = cli("lint", tmp_path / "nope")
    assert result.exit_code == 2 and result.output.startswith("deploygen: error:")
