"""deploygen's own cfn-lint rules (generator/rules), run by the real cfn-lint.

Every rule has tests/fixtures/rules/<RULE_ID>/bad.yaml, a realistic stack that
breaks it, and good.yaml, the same stack fixed. The rules are appended to
cfn-lint's own, as generator/lint.py builds them, and also run by the plain
`cfn-lint --append-rules` command line; the projects deploygen renders must
give none of their findings.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.config import ConfigMixIn
from cfnlint.decode import decode
from cfnlint.helpers import create_rules, import_filename, load_plugins
from cfnlint.runner import Runner, run_template_by_data
from cfnlint.template import Template

from generator.rules import RULES_DIR

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules"
OURS = re.compile(r"[EWI]9\d{3}")

# The rules and their severities: errors break a deployment, warnings are risky
# choices, informational is a tuning hint (shown by deploygen lint, never failing it).
EXPECTED = {
    "E9101": "error",  # SageMaker scalable target not ordered after its endpoint
    "E9102": "error",  # SageMaker EndpointConfigName set: replacement fails
    "E9103": "error",  # SageMaker serverless memory / provisioned concurrency
    "W9104": "warning",  # real-time SageMaker variant without a scaling policy
    "W9105": "warning",  # SageMaker execution role with a *FullAccess policy
    "W9201": "warning",  # Lambda function URL with AuthType NONE
    "E9202": "error",  # Lambda Timeout over the HTTP API's 30 s
    "E9203": "error",  # Lambda MemorySize / Timeout over Lambda's limits
    "E9204": "error",  # Lambda provisioned concurrency not on an alias/version
    "E9301": "error",  # ECS service not ordered after its listener
    "W9302": "warning",  # ECS service without the deployment circuit breaker
    "W9303": "warning",  # ECS health check grace period under 30 s (or unset)
    "I9304": "informational",  # target group keeps the 300 s deregistration delay
    "W9305": "warning",  # ECS task security group open to the internet
    "W9401": "warning",  # log group without retention
    "W9402": "warning",  # IAM s3:*/ecr:*/sagemaker:*/* on Resource *
}
# cfn-lint's own findings a fixture may have: its built-in Timeout check agrees with E9203.
BUILT_IN = {("E9203", "bad"): {"E3717"}}
FIXTURE_CASES = [(rule, kind) for rule in sorted(EXPECTED) for kind in ("bad", "good")]


def config() -> ConfigMixIn:
    """What generator/lint.py runs with: every rule, informational and experimental ones too."""
    return ConfigMixIn(include_checks=["I"], include_experimental=True, regions=["us-east-1"])


@pytest.fixture(scope="module")
def rules():
    """cfn-lint's rules with ours appended through its Python API, built once."""
    return Runner(
        ConfigMixIn(include_checks=["I"], include_experimental=True, append_rules=[str(RULES_DIR)])
    ).rules


def lint(rules, template: dict) -> set[str]:
    matches = list(run_template_by_data(template, config(), rules))
    crashes = [m.message for m in matches if m.rule.id == "E0002"]
    assert not crashes, crashes  # a rule raised
    return {m.rule.id for m in matches}


def lint_file(rules, path: Path) -> set[str]:
    template, errors = decode(str(path))
    assert template is not None and not errors, errors
    return lint(rules, template)


def ours(ids: set[str]) -> set[str]:
    return {i for i in ids if OURS.fullmatch(i)}


# --- the rules as cfn-lint loads them --------------------------------------------------


def rule_files() -> list[Path]:
    return sorted(p for p in RULES_DIR.glob("*.py") if not p.name.startswith("_"))


def test_the_folder_loads_one_rule_per_file_and_the_helper_cleanly():
    loaded = load_plugins(str(RULES_DIR))  # what --append-rules DIR does
    assert sorted(r.id for r in loaded) == sorted(EXPECTED)
    for path in rule_files():
        assert len(create_rules(import_filename(path.stem, str(RULES_DIR)))) == 1, path.name
    helper = import_filename("_deploygen_rules", str(RULES_DIR))
    assert helper is not None and create_rules(helper) == []


def test_every_rule_has_its_metadata_severity_and_fixtures():
    built_in = {r.id for r in Runner(ConfigMixIn(include_checks=["I"], include_experimental=True)).rules.values()}
    for rule in load_plugins(str(RULES_DIR)):
        assert rule.id not in built_in and OURS.fullmatch(rule.id)
        assert rule.severity == EXPECTED[rule.id]
        assert isinstance(rule.shortdesc, str) and rule.shortdesc.strip()
        assert isinstance(rule.description, str) and len(rule.description) > len(rule.shortdesc)
        assert re.fullmatch(r"https://docs\.aws\.amazon\.com/\S+", rule.source_url), rule.source_url
        assert rule.tags and all(isinstance(t, str) and t for t in rule.tags)
        assert {p.name for p in (FIXTURES / rule.id).iterdir()} == {"bad.yaml", "good.yaml"}
    for path in rule_files():
        docstring = ast.get_docstring(ast.parse(path.read_text()))
        assert docstring and OURS.match(docstring), f"{path.name}: a docstring starting with the rule id"
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(EXPECTED)


# --- fixtures, through the Python API and the command line -------------------------


@pytest.mark.parametrize(("rule", "kind"), FIXTURE_CASES)
def test_fixture(rules, rule, kind):
    ids = lint_file(rules, FIXTURES / rule / f"{kind}.yaml")
    assert ours(ids) == ({rule} if kind == "bad" else set())
    # Otherwise a valid stack: no error or warning of cfn-lint's own (its informational
    # hints, such as I4010's request for architecture metadata, are left aside).
    assert {i for i in ids - ours(ids) if i[0] in "EW"} == BUILT_IN.get((rule, kind), set())


def test_plain_cfn_lint_reports_the_same_ids(rules):
    """One run of the venv's cfn-lint command over every fixture, configured as generator/lint.py is."""
    paths = sorted(FIXTURES.glob("*/*.yaml"))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--append-rules", "generator/rules",
         "--include-checks", "I", "--include-experimental", "--format", "json",
         "--", *(str(p.relative_to(REPO)) for p in paths)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode in range(0, 16, 2), result.stderr  # cfn-lint's bit flags: 2 error, 4 warning, 8 info
    by_file: dict[str, set[str]] = {str(p.relative_to(REPO)): set() for p in paths}
    for finding in json.loads(result.stdout):
        by_file[finding["Filename"]].add(finding["Rule"]["Id"])
    assert by_file == {str(p.relative_to(REPO)): lint_file(rules, p) for p in paths}
    assert {i for ids in by_file.values() for i in ours(ids)} == set(EXPECTED)


def test_a_copy_of_the_folder_works_where_generator_cannot_be_imported(tmp_path):
    """The folder is self-contained: cfn-lint loads each file alone, the helper from beside it."""
    shutil.copytree(RULES_DIR, tmp_path / "rules", ignore=shutil.ignore_patterns("__pycache__"))
    program = (
        "import sys; sys.modules['generator'] = None\n"  # `import generator` now fails
        "from cfnlint.runner import main\n"
        "sys.argv = ['cfn-lint', *sys.argv[1:]]\n"
        "main()\n"
    )
    fixtures = [str(FIXTURES / rule / "bad.yaml") for rule in ("E9101", "W9402", "I9304")]
    result = subprocess.run(
        [sys.executable, "-c", program, "--append-rules", str(tmp_path / "rules"), "--include-checks", "I",
         "--format", "parseable", "--", *fixtures],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert {line.split(":")[5] for line in result.stdout.splitlines()} == {"E9101", "W9402", "I9304"}


# --- intrinsic functions: read when they can be, never guessed -------------------------


def patched(rule: str, kind: str, path: str, value) -> dict:
    """A fixture with the value at `path` (dotted; digits index lists) replaced; a condition and a parameter added."""
    template, _ = decode(str(FIXTURES / rule / f"{kind}.yaml"))
    template = copy.deepcopy(template)
    template.setdefault("Conditions", {})["Big"] = {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    template["Parameters"]["Knob"] = {"Type": "String", "Default": "x"}
    node = template
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return template


SERVERLESS = "Resources.EndpointConfig.Properties.ProductionVariants.0.ServerlessConfig"
EDGE_CASES = [
    # (rule, fixture, path, value, reported?)
    ("E9103", "good", f"{SERVERLESS}.MemorySizeInMB", {"Ref": "Knob"}, False),
    ("E9103", "good", f"{SERVERLESS}.MemorySizeInMB", {"Fn::If": ["Big", 3000, 2048]}, True),
    ("E9103", "good", f"{SERVERLESS}.MemorySizeInMB", "5120", False),
    ("E9202", "bad", "Resources.Function.Properties.Timeout", {"Ref": "Knob"}, False),
    ("E9202", "good", "Resources.HttpApiIntegration.Properties.IntegrationUri",
     {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                 "${Function.Arn}/invocations"}, False),
    ("E9202", "bad", "Resources.HttpApiIntegration.Properties.IntegrationUri",
     {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:iris-predict"}, True),
    ("E9204", "good", "Resources.ProvisionedConcurrencyTarget.Properties.ResourceId",
     {"Fn::Sub": "function:${Knob}"}, False),
    ("E9204", "good", "Resources.ProvisionedConcurrencyTarget.Properties.ResourceId",
     "function:iris-predict:$LATEST", True),
    ("E9204", "good", "Resources.ProvisionedConcurrencyTarget.Properties.ResourceId",
     {"Fn::Join": [":", ["function", {"Ref": "Function"}, "live"]]}, False),
    ("E9204", "good", "Resources.ProvisionedConcurrencyTarget.Properties.ResourceId",
     {"Fn::Sub": "function:${Function}:${FunctionVersion.Version}"}, False),
    ("E9101", "bad", "Resources.ScalableTarget.Properties.ResourceId",
     {"Fn::Sub": "endpoint/${Endpoint.EndpointName}/variant/AllTraffic"}, False),  # the GetAtt orders it
    ("E9101", "bad", "Resources.ScalableTarget.Properties.ResourceId", {"Ref": "Knob"}, False),
    ("W9104", "good", "Resources.ScalableTarget.Properties.ResourceId",
     {"Fn::Sub": "endpoint/${EndpointName}/variant/Other"}, True),  # the policy scales another variant
    ("W9105", "good", "Resources.ExecutionRole.Properties.ManagedPolicyArns", [{"Ref": "Knob"}], False),
    ("E9102", "good", "Resources.EndpointConfig.Properties.EndpointConfigName",
     {"Fn::If": ["Big", "iris-config", {"Ref": "AWS::NoValue"}]}, False),
    ("E9301", "good", "Resources.Service.DependsOn", "LoadBalancer", True),  # the load balancer is not enough
    ("W9302", "good", "Resources.Service.Properties.DeploymentConfiguration.DeploymentCircuitBreaker.Enable",
     {"Ref": "Knob"}, False),
    ("W9303", "good", "Resources.Service.Properties.HealthCheckGracePeriodSeconds", 10, True),
    ("I9304", "good", "Resources.TargetGroup.Properties.TargetGroupAttributes",
     {"Fn::If": ["Big", [], {"Ref": "AWS::NoValue"}]}, False),
    ("W9305", "good", "Resources.TaskIngressFromLoadBalancer.Properties",
     {"GroupId": {"Ref": "TaskSecurityGroup"}, "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
      "CidrIpv6": "::/0"}, True),
    ("W9401", "bad", "Resources.LogGroup.Properties.RetentionInDays", {"Ref": "Knob"}, False),
    ("W9402", "good", "Resources.ExecutionRole.Properties.Policies.1.PolicyDocument",
     json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}), True),
    ("W9402", "good", "Resources.ExecutionRole.Properties.Policies.1.PolicyDocument.Statement.0.Action",
     "sagemaker:InvokeEndpoint", False),
]


@pytest.mark.parametrize(("rule", "kind", "path", "value", "reported"), EDGE_CASES)
def test_intrinsic_values(rules, rule, kind, path, value, reported):
    assert (rule in lint(rules, patched(rule, kind, path, value))) is reported


ODD_VALUES = [
    None, 0, True, "text", [], {}, [None, 3], {"Ref": "AWS::NoValue"}, {"Ref": "Nowhere"},
    {"Fn::If": ["Big", {"Ref": "AWS::NoValue"}, [1]]}, {"Fn::If": "malformed"}, {"Fn::GetAtt": 7},
    {"Fn::Sub": ["${X}", {"X": {"Fn::ImportValue": "y"}}]}, {"Fn::Join": ["", "malformed"]},
]


def test_no_rule_raises_on_odd_values():
    """Every property of every bad fixture, replaced by odd values: the rules read them or skip them."""
    loaded = load_plugins(str(RULES_DIR))
    for path in sorted(FIXTURES.glob("*/bad.yaml")):
        template, _ = decode(str(path))
        for name, resource in template["Resources"].items():
            for key in list(resource.get("Properties", {})) + ["Properties", "DependsOn"]:
                for odd in ODD_VALUES:
                    mutated = copy.deepcopy(template)
                    target = mutated["Resources"][name]
                    (target if key in ("Properties", "DependsOn") else target["Properties"])[key] = copy.deepcopy(odd)
                    cfn = Template(str(path), mutated, ["us-east-1"])
                    for rule in loaded:
                        list(rule.match(cfn))


# --- the projects deploygen renders ------------------------------------------------------

PROJECTS = [
    # (target, options, our findings expected)
    ("lambda", [], set()),
    ("lambda", ["--front", "http-api"], set()),
    ("lambda", ["--front", "http-api", "--auth", "none"], set()),
    ("lambda", ["--auth", "none"], {"W9201"}),  # a public function URL, asked for
    ("lambda", ["--provisioned-concurrency", "1:3"], set()),
    ("sagemaker", [], set()),
    ("sagemaker", ["--mode", "serverless"], set()),
    ("sagemaker", ["--mode", "serverless", "--provisioned-concurrency", "2"], set()),
    ("sagemaker", ["--mode", "async", "--output-path", "s3://my-bucket/p"], set()),
    ("ecs", [], set()),
    ("ecs", ["--create-vpc"], set()),
    ("ecs", ["--internal", "--certificate-arn",
             "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"], set()),
]


@pytest.mark.parametrize(("target", "options", "expected"), PROJECTS, ids=[" ".join([t, *o]) for t, o, _ in PROJECTS])
def test_rendered_project(rules, iris_model, tmp_path, target, options, expected):
    project = tmp_path / "project"
    result = subprocess.run(
        [sys.executable, "-m", "generator", "init", str(iris_model), "--target", target, *options,
         "--output", str(project)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ours(lint_file(rules, project / "infra" / "template.yaml")) == expected
