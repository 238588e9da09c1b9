"""The Lambda template's infrastructure files, rendered over the option matrix.

Covers infra/template.yaml (zero cfn-lint findings of any severity, and the
wiring that matters: least-privilege role, auth, HTTP API timeout, provisioned
concurrency), scripts/deploy.sh and scripts/destroy.sh (shellcheck, and a run
against stand-in `aws` and `docker` commands), README.md and the CI workflow.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from pathlib import Path

import pytest

import stacks
from generator.limits import limit
from stacks import depends_on, heredoc, parse, resources_of_type

TARGET = "lambda"
SHARED_CODEC = stacks.SHARED_DIR / "serving" / "codec.py"

TEST_ACCOUNT_ID = stacks.TEST_ACCOUNT_ID
HTTP_API_MAX_TIMEOUT_S = limit("lambda", "http_api_timeout_s")["max"]

default_context = functools.partial(stacks.default_context, TARGET)
render = functools.partial(stacks.render, TARGET)


# --- the option matrix -----------------------------------------------------

SIZED = ("memory_mb", "timeout_s", "ephemeral_storage_mb")
# Lambda's minimum and maximum of each, all at once.
SIZINGS = {
    bound: tuple(limit("lambda", name)[bound] for name in SIZED) for bound in ("min", "max")
}


def stack_options(front, auth, architecture, reserved, provisioned, sizing):
    memory_mb, timeout_s, storage_mb = SIZINGS[sizing]
    if front == "http-api":
        timeout_s = min(timeout_s, HTTP_API_MAX_TIMEOUT_S)  # the CLI refuses more
    provisioned_min, provisioned_max = provisioned
    return {
        "front": front,
        "auth": auth,
        "architecture": architecture,
        "reserved_concurrency": reserved,
        "provisioned_min": provisioned_min,
        "provisioned_max": provisioned_max,
        "memory_mb": memory_mb,
        "timeout_s": timeout_s,
        "ephemeral_storage_mb": storage_mb,
    }


MATRIX = [
    pytest.param(
        stack_options(*combination),
        id="-".join(
            [combination[0], combination[1], combination[2]]
            + [f"reserved{combination[3]}", f"provisioned{combination[4][0]}", combination[5]]
        ),
    )
    for combination in itertools.product(
        ["url", "http-api"],
        ["iam", "none"],
        ["x86_64", "arm64"],
        [0, 100],
        [(0, 0), (2, 10)],
        sorted(SIZINGS),
    )
]

FRONT_AUTH = [
    pytest.param(front, auth, id=f"{front}-{auth}")
    for front, auth in itertools.product(["url", "http-api"], ["iam", "none"])
]


# cfn-lint, with its rules loaded once: the session fixture `cfn_lint` (conftest.py).


def test_the_shared_linter_still_finds_problems(cfn_lint):
    broken = render("infra/template.yaml").replace(
        "MemorySize: 1024", "MemorySize: 999999"
    )
    assert any(match.rule.id.startswith("E") for match in cfn_lint(broken))


@pytest.mark.parametrize("options", MATRIX)
def test_stack_is_lint_clean_and_wired_as_asked(options, cfn_lint):
    text, template = stacks.lint_clean_stack(TARGET, options, cfn_lint)
    assert_parameters(template)
    assert_function(template, options)
    assert_role_only_writes_its_log_group(template)
    assert_version_follows_the_image(template)
    if options["front"] == "url":
        assert_function_url(template, options["auth"])
    else:
        assert_http_api(template, options)
    assert_provisioned_concurrency(template, options)
    assert set(template["Outputs"]) == {"Url", "AliasArn", "FunctionName"}


def assert_parameters(template: dict) -> None:
    parameters = template["Parameters"]
    retention = parameters["LogRetentionInDays"]
    assert retention["Default"] == default_context()["log_retention_days"]
    assert retention["Default"] in retention["AllowedValues"]
    image_pattern = re.compile(parameters["ImageUri"]["AllowedPattern"])
    by_digest = f"{TEST_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/my-model@sha256:{'0' * 64}"
    assert image_pattern.match(by_digest)
    assert not image_pattern.match(by_digest.replace("@sha256:" + "0" * 64, ":latest"))


def assert_function(template: dict, options: dict) -> None:
    (function,) = resources_of_type(template, "AWS::Lambda::Function").values()
    properties = function["Properties"]
    assert properties["PackageType"] == "Image"
    assert properties["FunctionName"] == default_context()["function_name"]
    assert properties["Architectures"] == [options["architecture"]]
    assert properties["MemorySize"] == options["memory_mb"]
    assert properties["Timeout"] == options["timeout_s"]
    assert properties["EphemeralStorage"] == {"Size": options["ephemeral_storage_mb"]}
    assert properties["Environment"]["Variables"]["MODEL_DIR"] == "/opt/ml/model"
    if options["reserved_concurrency"]:
        assert properties["ReservedConcurrentExecutions"] == options["reserved_concurrency"]
    else:
        assert "ReservedConcurrentExecutions" not in properties

    (log_group_id,) = resources_of_type(template, "AWS::Logs::LogGroup")
    log_group = template["Resources"][log_group_id]["Properties"]
    assert log_group["LogGroupName"] == f"/aws/lambda/{properties['FunctionName']}"
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}


def assert_role_only_writes_its_log_group(template: dict) -> None:
    (role,) = resources_of_type(template, "AWS::IAM::Role").values()
    properties = role["Properties"]
    assert "ManagedPolicyArns" not in properties
    (log_group_id,) = resources_of_type(template, "AWS::Logs::LogGroup")
    statements = [
        statement
        for policy in properties["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
        assert statement["Resource"] == {"Fn::GetAtt": [log_group_id, "Arn"]}
    assert "*" not in json.dumps(properties["Policies"])


def assert_version_follows_the_image(template: dict) -> None:
    (version,) = resources_of_type(template, "AWS::Lambda::Version").values()
    description = json.dumps(version["Properties"]["Description"])
    assert '"Ref": "ImageUri"' in description
    (alias,) = resources_of_type(template, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["Name"] == "live"


def alias_id(template: dict) -> str:
    (logical_id,) = resources_of_type(template, "AWS::Lambda::Alias")
    return logical_id


def assert_function_url(template: dict, auth: str) -> None:
    (url,) = resources_of_type(template, "AWS::Lambda::Url").values()
    assert url["Properties"]["AuthType"] == ("NONE" if auth == "none" else "AWS_IAM")
    assert url["Properties"]["Qualifier"] == "live"
    assert alias_id(template) in depends_on(url)
    assert not resources_of_type(template, "AWS::ApiGatewayV2::Api")

    permissions = [
        resource["Properties"]
        for resource in resources_of_type(template, "AWS::Lambda::Permission").values()
    ]
    if auth == "none":
        by_action = {permission["Action"]: permission for permission in permissions}
        assert set(by_action) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
        assert by_action["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
        assert by_action["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
        for permission in permissions:
            assert permission["Principal"] == "*"
            assert permission["FunctionName"] == {"Ref": alias_id(template)}
    else:
        assert permissions == []


def assert_http_api(template: dict, options: dict) -> None:
    assert not resources_of_type(template, "AWS::Lambda::Url")
    (api_id,) = resources_of_type(template, "AWS::ApiGatewayV2::Api")

    (integration,) = resources_of_type(template, "AWS::ApiGatewayV2::Integration").values()
    integration = integration["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"] == {"Ref": alias_id(template)}
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["TimeoutInMillis"] <= HTTP_API_MAX_TIMEOUT_S * 1000
    assert integration["TimeoutInMillis"] == options["timeout_s"] * 1000

    (route,) = resources_of_type(template, "AWS::ApiGatewayV2::Route").values()
    assert route["Properties"]["RouteKey"] == "$default"
    expected_authorization = "NONE" if options["auth"] == "none" else "AWS_IAM"
    assert route["Properties"]["AuthorizationType"] == expected_authorization

    (stage,) = resources_of_type(template, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["AutoDeploy"] is True

    (permission,) = resources_of_type(template, "AWS::Lambda::Permission").values()
    permission = permission["Properties"]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["FunctionName"] == {"Ref": alias_id(template)}
    assert f"${{{api_id}}}" in permission["SourceArn"]["Fn::Sub"]


def assert_provisioned_concurrency(template: dict, options: dict) -> None:
    alias = template["Resources"][alias_id(template)]["Properties"]
    targets = resources_of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = resources_of_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    if not options["provisioned_min"]:
        assert "ProvisionedConcurrencyConfig" not in alias
        assert not targets and not policies
        return

    assert alias["ProvisionedConcurrencyConfig"] == {
        "ProvisionedConcurrentExecutions": options["provisioned_min"]
    }
    ((target_id, target),) = targets.items()
    assert alias_id(template) in depends_on(target)
    target = target["Properties"]
    assert target["ServiceNamespace"] == "lambda"
    assert target["ScalableDimension"] == "lambda:function:ProvisionedConcurrency"
    assert target["ResourceId"]["Fn::Sub"].endswith(":live")
    assert target["MinCapacity"] == options["provisioned_min"]
    assert target["MaxCapacity"] == options["provisioned_max"]

    (policy,) = policies.values()
    policy = policy["Properties"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["ScalingTargetId"] == {"Ref": target_id}
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "LambdaProvisionedConcurrencyUtilization"
    )
    assert 0 < tracking["TargetValue"] < 1


# --- scripts ----------------------------------------------------------------

SCRIPT_OPTIONS = [
    pytest.param(
        {"architecture": architecture, "front": front, "provisioned_min": provisioned},
        id=f"{architecture}-{front}-provisioned{provisioned}",
    )
    for architecture, front, provisioned in itertools.product(
        ["x86_64", "arm64"], ["url", "http-api"], [0, 1]
    )
]


@pytest.mark.parametrize("script", ["deploy.sh", "destroy.sh"])
@pytest.mark.parametrize("options", SCRIPT_OPTIONS)
def test_script_is_shellcheck_clean(script, options, tmp_path):
    stacks.assert_script_is_clean(TARGET, script, options, tmp_path)


STAND_IN_AWS = stacks.stand_in_aws(
    "  \"cloudformation describe-stacks\") printf 'Url\\thttps://example.invalid/\\n' ;;\n",
)


def run_script(
    tmp_path: Path,
    script: str,
    options: dict,
    env: dict,
    *args: str,
    repository_exists: bool = False,
):
    """Render the project's scripts and template, then run `script` from another directory."""
    project = stacks.write_project(tmp_path, TARGET, ("deploy.sh", "destroy.sh"), options)
    result, recorded = stacks.run_with_stand_ins(
        tmp_path, TARGET, project, script, args, aws=STAND_IN_AWS, env=env,
        state=("repository",) if repository_exists else (),
    )
    return result, recorded, project


def test_deploy_builds_pushes_and_deploys_by_digest(tmp_path):
    options = {"architecture": "arm64"}
    result, calls, project = run_script(tmp_path, "deploy.sh", options, {})
    assert result.returncode == 0, result.stderr

    region = default_context()["region"]
    repository = default_context()["ecr_repository"]
    stack = default_context()["stack_name"]
    assert calls[0] == "aws sts get-caller-identity --query Account --output text"
    create = next(call for call in calls if call.startswith("aws ecr create-repository"))
    assert f"--repository-name {repository}" in create
    assert "--image-scanning-configuration scanOnPush=true" in create
    build = next(call for call in calls if call.startswith("docker buildx build"))
    assert "--platform linux/arm64" in build and "--provenance=false" in build
    assert build.endswith(str(project))
    assert any(call.startswith("docker push ") for call in calls)

    deploy = next(call for call in calls if call.startswith("aws cloudformation deploy"))
    assert f"--region {region}" in deploy and f"--stack-name {stack}" in deploy
    assert f"--template-file {project / 'infra' / 'template.yaml'}" in deploy
    assert "--capabilities CAPABILITY_IAM" in deploy
    assert "--no-fail-on-empty-changeset" in deploy
    image_uri = re.search(r"ImageUri=(\S+)", deploy).group(1)
    pattern = parse(render("infra/template.yaml", **options))["Parameters"]["ImageUri"]
    assert re.match(pattern["AllowedPattern"], image_uri)
    assert "https://example.invalid/" in result.stdout


def test_deploy_honours_region_and_stack_overrides(tmp_path):
    overrides = {"AWS_REGION": "eu-west-1", "STACK_NAME": "other-stack"}
    result, calls, _ = run_script(tmp_path, "deploy.sh", {}, overrides)
    assert result.returncode == 0, result.stderr
    build = next(call for call in calls if call.startswith("docker buildx build"))
    assert "--platform linux/amd64" in build
    deploy = next(call for call in calls if call.startswith("aws cloudformation deploy"))
    assert "--region eu-west-1" in deploy and "--stack-name other-stack" in deploy
    assert "ImageUri=123456789012.dkr.ecr.eu-west-1.amazonaws.com/" in deploy


def test_destroy_deletes_the_stack_even_without_a_repository(tmp_path):
    result, calls, _ = run_script(tmp_path, "destroy.sh", {}, {}, "--yes")
    assert result.returncode == 0, result.stderr
    stack = default_context()["stack_name"]
    assert any(call.startswith("aws cloudformation delete-stack") and stack in call for call in calls)
    assert any("cloudformation wait stack-delete-complete" in call for call in calls)
    assert not any("ecr delete-repository" in call for call in calls)
    assert "permanently deletes" in result.stderr


def test_destroy_removes_the_stack_then_the_repository_with_its_images(tmp_path):
    result, calls, _ = run_script(
        tmp_path, "destroy.sh", {}, {}, "--yes", repository_exists=True
    )
    assert result.returncode == 0, result.stderr
    delete_stack = next(i for i, call in enumerate(calls) if "delete-stack" in call)
    wait = next(i for i, call in enumerate(calls) if "stack-delete-complete" in call)
    delete_repository = next(i for i, call in enumerate(calls) if "ecr delete-repository" in call)
    assert delete_stack < wait < delete_repository
    assert calls[delete_repository].endswith("--force")


def test_destroy_refuses_without_confirmation(tmp_path):
    result, calls, _ = run_script(tmp_path, "destroy.sh", {}, {})
    assert result.returncode != 0
    assert not any("delete" in call for call in calls)


# --- README and CI workflow ------------------------------------------------


@pytest.mark.parametrize("front,auth", FRONT_AUTH)
def test_readme_shows_only_the_applicable_invocation(front, auth):
    text = render("README.md", front=front, auth=auth)
    sample = default_context()["sample_request"]

    assert text.startswith("<!--") and "generated by deploygen" in text.splitlines()[0]
    assert "{{" not in text and "{%" not in text
    assert text.count("```") % 2 == 0
    for needle in (
        "src/inference.py",
        "tests/test_inference.py",
        "deploygen.yaml",
        "python -m venv",
        "pip install -r requirements-dev.txt",
        "pytest",
        "deploygen serve .",
        "http://localhost:9000/2015-03-31/functions/function/invocations",
        "scripts/deploy.sh",
        "scripts/destroy.sh",
        "6 MB",
    ):
        assert needle in text, needle
    error_rows = {
        line.split("|")[1].strip(): line for line in text.splitlines() if re.match(r"\| \d{3} \|", line)
    }
    assert set(error_rows) == {"400", "405", "406", "413", "415", "500", "503"}
    codec_source = SHARED_CODEC.read_text()
    for status, row in error_rows.items():
        for code in re.findall(r"`([a-z_]+)`", row.split("|")[2]):
            assert f'"{code}"' in codec_source, f"{status}: {code} is not an error code of the codec"

    event = json.loads(heredoc(text, "cat > event.json"))
    assert event["version"] == "2.0" and event["body"] == sample
    assert heredoc(text, "cat > request.json") == sample

    signed = "--aws-sigv4" in text
    assert signed == (auth == "iam")
    if auth == "iam":
        service = "execute-api" if front == "http-api" else "lambda"
        other = "lambda" if front == "http-api" else "execute-api"
        assert f'"aws:amz:$REGION:{service}"' in text
        assert f"aws:amz:$REGION:{other}" not in text
        assert "x-amz-security-token" in text
    else:
        assert "x-amz-security-token" not in text
    assert ("HTTP API" in text) == (front == "http-api")


@pytest.mark.parametrize("front,auth", FRONT_AUTH)
def test_ci_workflow_lints_and_tests(front, auth):
    runs = stacks.ci_workflow_runs(TARGET, dict(front=front, auth=auth))
    assert runs == [
        "pip install -r requirements-dev.txt",
        "deploygen lint --format sarif --output deploygen-lint.sarif",
        "shellcheck scripts/*.sh",
        "pytest -q",
    ]
