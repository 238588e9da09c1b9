"""The SageMaker template's infrastructure files, rendered over the option matrix.

Covers infra/template.yaml (zero cfn-lint findings of any severity for every
mode, and the wiring that matters: unnamed Model and EndpointConfig, the
scalable target after the endpoint, async scale-to-zero, a role that names its
own resources), scripts/pack_model.sh (run for real: the model at the root of
the archive), scripts/deploy.sh and scripts/destroy.sh (shellcheck, and runs
against stand-in `aws` and `docker` commands), README.md and the CI workflow.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import stacks
from generator.limits import limit
from generator.sagemaker_instances import instance_types
from stacks import call, depends_on, heredoc, parse, resources_of_type, the_one

TARGET = "sagemaker"
PROJECT_TEMPLATE_DIR = stacks.project_template_dir(TARGET)
SHARED_CODEC = stacks.SHARED_DIR / "serving" / "codec.py"

TEST_ACCOUNT_ID = stacks.TEST_ACCOUNT_ID
SUCCESS_TOPIC = f"arn:aws:sns:us-east-1:{TEST_ACCOUNT_ID}:model-results"
ERROR_TOPIC = f"arn:aws:sns:us-east-1:{TEST_ACCOUNT_ID}:model-errors"
SCRIPTS = ("deploy.sh", "destroy.sh", "pack_model.sh")

default_context = functools.partial(stacks.default_context, TARGET)
render = functools.partial(stacks.render, TARGET)


def autoscaled(options: dict) -> bool:
    context = {**default_context(), **options}
    return context["mode"] != "serverless" and context["max_instances"] > context["min_instances"]


# --- the option matrix -----------------------------------------------------

SERVERLESS_MEMORY = limit("sagemaker", "serverless_memory_mb")["allowed"]
SERVERLESS_CONCURRENCY = limit("sagemaker", "serverless_max_concurrency")

REALTIME_INSTANCES = [  # (instance type, architecture): Intel, AMD-free x86, Graviton, GPU
    ("ml.m5.large", "x86_64"),
    ("ml.c6i.xlarge", "x86_64"),
    ("ml.c7g.large", "arm64"),
    ("ml.m6g.large", "arm64"),
    ("ml.g4dn.xlarge", "x86_64"),
]
COUNTS = [(1, 1, 1), (1, 2, 1), (2, 10, 4)]  # (min, max, initial)


def realtime(instance_type, architecture, counts, target):
    low, high, initial = counts
    return {
        "mode": "realtime", "instance_type": instance_type, "architecture": architecture,
        "min_instances": low, "max_instances": high, "initial_instances": initial,
        "invocations_per_instance_target": target,
    }


def serverless(memory_mb, concurrency, provisioned):
    return {
        "mode": "serverless", "architecture": "x86_64", "serverless_memory_mb": memory_mb,
        "serverless_max_concurrency": concurrency,
        "serverless_provisioned_concurrency": concurrency if provisioned else 0,
    }


def asynchronous(counts, topics, instance_type="ml.m5.large", architecture="x86_64"):
    low, high, initial = counts
    success, error = topics
    return {
        "mode": "async", "instance_type": instance_type, "architecture": architecture,
        "min_instances": low, "max_instances": high, "initial_instances": initial,
        "async_s3_bucket": "model-io-bucket", "async_s3_prefix": "team/my-model/async",
        "async_max_concurrent_invocations": 4, "sns_success_topic": success, "sns_error_topic": error,
    }


MATRIX = (
    [
        pytest.param(realtime(itype, arch, counts, target), id=f"realtime-{itype}-{counts[0]}to{counts[1]}-t{target}")
        for (itype, arch), counts, target in itertools.product(REALTIME_INSTANCES, COUNTS, [30, 1800])
        if not (target == 30 and counts[1] == 1)
    ]
    + [
        pytest.param(serverless(memory, concurrency, provisioned),
                     id=f"serverless-{memory}MB-c{concurrency}-p{int(provisioned)}")
        for memory, concurrency, provisioned in itertools.product(
            [SERVERLESS_MEMORY[0], SERVERLESS_MEMORY[-1]],
            [SERVERLESS_CONCURRENCY["min"], SERVERLESS_CONCURRENCY["max"]],
            [False, True],
        )
    ]
    + [
        pytest.param(asynchronous(counts, topics), id=f"async-{counts[0]}to{counts[1]}-{label}")
        for counts, (label, topics) in itertools.product(
            [(0, 2, 1), (1, 1, 1), (1, 3, 1)],
            [("no-sns", ("", "")), ("success-sns", (SUCCESS_TOPIC, "")), ("both-sns", (SUCCESS_TOPIC, ERROR_TOPIC))],
        )
    ]
    + [pytest.param(asynchronous((0, 4, 1), ("", ERROR_TOPIC), "ml.c7g.xlarge", "arm64"), id="async-arm64-error-sns")]
)

MODES = [pytest.param({"mode": "realtime"}, id="realtime"), pytest.param({"mode": "serverless"}, id="serverless"),
         pytest.param(asynchronous((0, 2, 1), (SUCCESS_TOPIC, ERROR_TOPIC)), id="async")]


# cfn-lint, with its rules loaded once: the session fixture `cfn_lint` (conftest.py).


def test_the_shared_linter_still_finds_problems(cfn_lint):
    broken = render("infra/template.yaml", instance_type="ml.m7g.large")  # no such hosting type
    assert any(match.rule.id == "E3030" for match in cfn_lint(broken))
    broken = render("infra/template.yaml", **serverless(2048, 201, False))
    assert any(match.rule.id.startswith("E") for match in cfn_lint(broken))


def test_the_matrix_uses_instance_types_deploygen_accepts():
    known = instance_types()
    for itype, arch in REALTIME_INSTANCES:
        assert known[itype]["arch"] == arch


@pytest.mark.parametrize("options", MATRIX)
def test_stack_is_lint_clean_and_wired_as_asked(options, cfn_lint):
    text, template = stacks.lint_clean_stack(TARGET, options, cfn_lint, arns=(SUCCESS_TOPIC, ERROR_TOPIC))
    assert_parameters(template, options)
    assert_model_and_configuration(template, options)
    assert_endpoint_and_logs(template, options)
    assert_scaling(template, options)
    assert_role_names_only_its_own_resources(template, options)
    assert_outputs(template, options)


def assert_parameters(template: dict, options: dict) -> None:
    parameters = template["Parameters"]
    context = {**default_context(), **options}

    image_pattern = re.compile(parameters["ImageUri"]["AllowedPattern"])
    by_digest = f"{TEST_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/my-model@sha256:{'0' * 64}"
    assert image_pattern.match(by_digest)
    assert not image_pattern.match(by_digest.replace("@sha256:" + "0" * 64, ":latest"))

    name = parameters["EndpointName"]
    assert name["Default"] == context["endpoint_name"]
    assert name["MaxLength"] == limit("sagemaker", "endpoint_name")["max"] == 63
    assert name["AllowedPattern"] == limit("sagemaker", "endpoint_name")["pattern"]
    name_pattern = re.compile(name["AllowedPattern"])
    for good in ("my-model", "A", "a" * 63, "model--2"):
        assert name_pattern.match(good), good
    for bad in ("-model", "model-", "my_model", "my.model", "a" * 64, ""):
        assert not name_pattern.match(bad), bad

    assert parameters["EcrRepository"]["Default"] == context["ecr_repository"]
    assert re.match(parameters["ModelKey"]["AllowedPattern"], f"my-model/model/{'a' * 64}/model.tar.gz")
    assert re.match(parameters["ModelBucket"]["AllowedPattern"], "my-model-artifacts")

    timeouts = ("ContainerStartupHealthCheckTimeoutInSeconds", "ModelDataDownloadTimeoutInSeconds")
    if context["mode"] == "serverless":  # serverless has its own fixed budget (3 minutes)
        assert not set(timeouts) & set(parameters)
    else:
        for timeout in timeouts:
            assert (parameters[timeout]["MinValue"], parameters[timeout]["MaxValue"]) == (60, 3600)
            assert 60 <= parameters[timeout]["Default"] <= 3600

    retention = parameters["LogRetentionInDays"]
    assert retention["Default"] == context["log_retention_days"] in retention["AllowedValues"]


def assert_model_and_configuration(template: dict, options: dict) -> None:
    context = {**default_context(), **options}
    model_id, model = the_one(template, "AWS::SageMaker::Model")
    model = model["Properties"]
    assert "ModelName" not in model, "a named Model cannot be replaced"
    container = model["PrimaryContainer"]
    assert container["Image"] == {"Ref": "ImageUri"}
    assert container["ModelDataUrl"] == {"Fn::Sub": "s3://${ModelBucket}/${ModelKey}"}
    assert container["Environment"] == {"MODEL_DIR": "/opt/ml/model"}

    _, config = the_one(template, "AWS::SageMaker::EndpointConfig")
    config = config["Properties"]
    assert "EndpointConfigName" not in config, "a named EndpointConfig cannot be replaced"
    (variant,) = config["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert variant["ModelName"] == {"Fn::GetAtt": [model_id, "ModelName"]}

    if context["mode"] == "serverless":
        expected = {"MemorySizeInMB": context["serverless_memory_mb"],
                    "MaxConcurrency": context["serverless_max_concurrency"]}
        if context["serverless_provisioned_concurrency"]:
            expected["ProvisionedConcurrency"] = context["serverless_provisioned_concurrency"]
        assert variant["ServerlessConfig"] == expected
        assert not {"InstanceType", "InitialInstanceCount", "ContainerStartupHealthCheckTimeoutInSeconds",
                    "ModelDataDownloadTimeoutInSeconds"} & set(variant)
    else:
        assert "ServerlessConfig" not in variant
        assert variant["InstanceType"] == context["instance_type"]
        assert variant["InitialInstanceCount"] == context["initial_instances"] >= 1
        assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == {
            "Ref": "ContainerStartupHealthCheckTimeoutInSeconds"}
        assert variant["ModelDataDownloadTimeoutInSeconds"] == {"Ref": "ModelDataDownloadTimeoutInSeconds"}

    if context["mode"] != "async":
        assert "AsyncInferenceConfig" not in config
        return
    root = f"s3://{context['async_s3_bucket']}/{context['async_s3_prefix']}"
    asynchronous_config = config["AsyncInferenceConfig"]
    output = asynchronous_config["OutputConfig"]
    assert output["S3OutputPath"] == f"{root}/output"
    assert output["S3FailurePath"] == f"{root}/failure"
    topics = {"SuccessTopic": context["sns_success_topic"], "ErrorTopic": context["sns_error_topic"]}
    topics = {key: topic for key, topic in topics.items() if topic}
    assert output.get("NotificationConfig", {}) == topics
    assert asynchronous_config["ClientConfig"] == {
        "MaxConcurrentInvocationsPerInstance": context["async_max_concurrent_invocations"]}


def assert_endpoint_and_logs(template: dict, options: dict) -> None:
    config_id, _ = the_one(template, "AWS::SageMaker::EndpointConfig")
    log_group_id, log_group = the_one(template, "AWS::Logs::LogGroup")
    assert log_group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/sagemaker/Endpoints/${EndpointName}"}
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}

    _, endpoint = the_one(template, "AWS::SageMaker::Endpoint")
    assert log_group_id in depends_on(endpoint), "the log group must exist before the container logs"
    properties = endpoint["Properties"]
    assert properties["EndpointName"] == {"Ref": "EndpointName"}
    assert properties["EndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
    if autoscaled(options):
        assert properties["RetainAllVariantProperties"] is True
    else:
        assert "RetainAllVariantProperties" not in properties


def assert_scaling(template: dict, options: dict) -> None:
    context = {**default_context(), **options}
    targets = resources_of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = resources_of_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    if not autoscaled(options):
        assert not targets and not policies and not alarms
        return

    endpoint_id, _ = the_one(template, "AWS::SageMaker::Endpoint")
    ((target_id, target),) = targets.items()
    assert endpoint_id in depends_on(target), "registering the variant fails before the endpoint exists"
    target = target["Properties"]
    assert target["ServiceNamespace"] == "sagemaker"
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert target["ResourceId"] == {"Fn::Sub": "endpoint/${EndpointName}/variant/AllTraffic"}
    assert (target["MinCapacity"], target["MaxCapacity"]) == (context["min_instances"], context["max_instances"])

    by_type = {}
    for policy_id, policy in policies.items():
        assert policy["Properties"]["ScalingTargetId"] == {"Ref": target_id}
        by_type.setdefault(policy["Properties"]["PolicyType"], []).append((policy_id, policy["Properties"]))
    ((_, tracking),) = by_type.pop("TargetTrackingScaling")
    tracking = tracking["TargetTrackingScalingPolicyConfiguration"]
    assert (tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (600, 300)

    if context["mode"] == "realtime":
        assert tracking["PredefinedMetricSpecification"] == {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
        assert tracking["TargetValue"] == context["invocations_per_instance_target"]
        assert not by_type and not alarms
        return

    assert tracking["CustomizedMetricSpecification"] == {
        "Namespace": "AWS/SageMaker", "MetricName": "ApproximateBacklogSizePerInstance",
        "Dimensions": [{"Name": "EndpointName", "Value": {"Ref": "EndpointName"}}], "Statistic": "Average"}
    assert tracking["TargetValue"] > 0
    if context["min_instances"] > 0:  # never at zero: nothing to scale out of
        assert not by_type and not alarms
        return

    ((step_id, step),) = by_type.pop("StepScaling")
    assert not by_type
    step = step["StepScalingPolicyConfiguration"]
    assert step["AdjustmentType"] == "ChangeInCapacity"
    assert step["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
    ((_, alarm),) = alarms.items()
    alarm = alarm["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SageMaker", "HasBacklogWithoutCapacity")
    assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": {"Ref": "EndpointName"}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["AlarmActions"] == [{"Ref": step_id}]


def statements_of(role: dict) -> list[dict]:
    return [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def assert_role_names_only_its_own_resources(template: dict, options: dict) -> None:
    context = {**default_context(), **options}
    log_group_id, _ = the_one(template, "AWS::Logs::LogGroup")
    role_id, role = the_one(template, "AWS::IAM::Role")
    _, model = the_one(template, "AWS::SageMaker::Model")
    assert model["Properties"]["ExecutionRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert "ManagedPolicyArns" not in role["Properties"]
    assert "FullAccess" not in json.dumps(role)
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}

    granted = {}  # action -> its resources
    for statement in statements_of(role):
        assert statement["Effect"] == "Allow"
        actions, resources = as_list(statement["Action"]), as_list(statement["Resource"])
        assert all("*" not in action for action in actions)
        if "*" in resources:
            assert resources == ["*"]
            assert actions in (["ecr:GetAuthorizationToken"], ["cloudwatch:PutMetricData"]), actions
            if actions == ["cloudwatch:PutMetricData"]:
                assert statement["Condition"] == {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}
        for action in actions:
            granted.setdefault(action, []).extend(resources)

    repository = {"Fn::Sub": "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${EcrRepository}"}
    for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"):
        assert granted.pop(action) == [repository]
    assert granted.pop("ecr:GetAuthorizationToken") == ["*"]
    assert granted.pop("cloudwatch:PutMetricData") == ["*"]
    for action in ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"):
        assert granted.pop(action) == [{"Fn::GetAtt": [log_group_id, "Arn"]}]

    model_object = {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ModelBucket}/${ModelKey}"}
    if context["mode"] != "async":
        assert granted.pop("s3:GetObject") == [model_object]
        assert granted == {}
        return
    prefix = f"arn:${{AWS::Partition}}:s3:::{context['async_s3_bucket']}/{context['async_s3_prefix']}"
    assert sorted(map(json.dumps, granted.pop("s3:GetObject"))) == sorted(
        map(json.dumps, [model_object, {"Fn::Sub": f"{prefix}/input/*"}]))
    assert granted.pop("s3:PutObject") == [{"Fn::Sub": f"{prefix}/output/*"}, {"Fn::Sub": f"{prefix}/failure/*"}]
    topics = sorted({topic for topic in (context["sns_success_topic"], context["sns_error_topic"]) if topic})
    if topics:
        assert sorted(granted.pop("sns:Publish")) == topics
    assert granted == {}


def assert_outputs(template: dict, options: dict) -> None:
    context = {**default_context(), **options}
    outputs = template["Outputs"]
    expected = {"EndpointName", "EndpointArn", "InvokeUrl", "ModelDataUrl", "LogGroupName"}
    if context["mode"] == "async":
        expected |= {"AsyncInputPrefix", "AsyncOutputPath", "AsyncFailurePath"}
        root = f"s3://{context['async_s3_bucket']}/{context['async_s3_prefix']}"
        assert outputs["AsyncInputPrefix"]["Value"] == f"{root}/input/"
    assert set(outputs) == expected
    endpoint_id, _ = the_one(template, "AWS::SageMaker::Endpoint")
    assert outputs["EndpointName"]["Value"] == {"Fn::GetAtt": [endpoint_id, "EndpointName"]}
    runtime = "https://runtime.sagemaker.${AWS::Region}.${AWS::URLSuffix}"
    path = "async-invocations" if context["mode"] == "async" else "invocations"
    assert outputs["InvokeUrl"]["Value"] == {"Fn::Sub": f"{runtime}/endpoints/${{{endpoint_id}.EndpointName}}/{path}"}


@settings(max_examples=30, deadline=None)
@given(
    slug=st.from_regex(r"[a-z][a-z0-9]{0,30}(-[a-z0-9]{1,15}){0,2}", fullmatch=True),
    mode=st.sampled_from(["realtime", "serverless", "async"]),
)
def test_any_project_name_gives_an_endpoint_name_the_stack_accepts(slug, mode):
    options = {"project_slug": slug, "stack_name": slug, "ecr_repository": slug, "endpoint_name": slug, "mode": mode}
    template = parse(render("infra/template.yaml", **options))
    name = template["Parameters"]["EndpointName"]
    assert re.fullmatch(name["AllowedPattern"], name["Default"]) and len(name["Default"]) <= name["MaxLength"]
    repository = template["Parameters"]["EcrRepository"]
    assert re.fullmatch(repository["AllowedPattern"], repository["Default"])


# --- scripts ----------------------------------------------------------------

SCRIPT_OPTIONS = [
    pytest.param({"mode": mode, "architecture": arch, "min_instances": low, "max_instances": high},
                 id=f"{mode}-{arch}-{low}to{high}")
    for mode, arch, (low, high) in itertools.product(
        ["realtime", "serverless", "async"], ["x86_64", "arm64"], [(0, 2), (1, 1)]
    )
    if not (mode == "realtime" and low == 0)
]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("options", SCRIPT_OPTIONS)
def test_script_is_shellcheck_clean(script, options, tmp_path):
    stacks.assert_script_is_clean(TARGET, script, options, tmp_path)


def test_the_scripts_are_executable_in_the_template():
    stacks.assert_scripts_are_executable(TARGET, SCRIPTS)


def make_project(tmp_path: Path, options: dict, model_files: dict | None = None) -> Path:
    """A rendered project's scripts and stack, with a model folder, in tmp_path/project."""
    project = stacks.write_project(tmp_path, TARGET, SCRIPTS, options)
    model_files = {"model.joblib": b"not really a model\n"} if model_files is None else model_files
    (project / "model").mkdir()
    for relative, data in model_files.items():
        (project / "model" / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / "model" / relative).write_bytes(data)
    return project


def pack(project: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(project / "scripts" / "pack_model.sh")], cwd=cwd,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)


def test_pack_model_puts_the_model_files_at_the_root_of_the_archive(tmp_path):
    files = {"model.joblib": b"\x80\x05weights", "vocab/words.txt": b"a\nb\n", "-starts-with-dash": b"x"}
    project = make_project(tmp_path, {}, files)
    (project / "model" / "model.joblib").chmod(0o600)  # the container's unprivileged user must still read it
    result = pack(project, cwd=tmp_path)  # from another directory
    assert result.returncode == 0, result.stderr
    archive = Path(result.stdout.strip())
    assert archive == project / "build" / "model.tar.gz"

    with tarfile.open(archive, "r:gz") as tar:
        members = {member.name: member for member in tar.getmembers()}
        assert set(members) == {"model.joblib", "vocab", "vocab/words.txt", "-starts-with-dash"}
        assert not any(name.startswith(("model/", "./", "/")) for name in members)
        assert tar.extractfile("model.joblib").read() == files["model.joblib"]
        assert tar.extractfile("vocab/words.txt").read() == files["vocab/words.txt"]
        for member in members.values():
            assert (member.uid, member.gid, member.mtime) == (0, 0, 0)
            assert member.mode & 0o444 == 0o444 and not member.mode & 0o022, oct(member.mode)


def test_pack_model_is_reproducible(tmp_path):
    project = make_project(tmp_path, {}, {"model.joblib": b"weights", "b.txt": b"b", "a.txt": b"a"})
    assert pack(project, cwd=tmp_path).returncode == 0
    first = (project / "build" / "model.tar.gz").read_bytes()
    os.utime(project / "model" / "model.joblib", (1_000_000_000, 1_000_000_000))
    assert pack(project, cwd=project).returncode == 0
    assert (project / "build" / "model.tar.gz").read_bytes() == first
    (project / "model" / "model.joblib").write_bytes(b"other weights")
    assert pack(project, cwd=project).returncode == 0
    assert (project / "build" / "model.tar.gz").read_bytes() != first
    assert [p.name for p in (project / "build").iterdir()] == ["model.tar.gz"], "no partial archive left"


def test_pack_model_refuses_an_empty_model_folder(tmp_path):
    project = make_project(tmp_path, {}, {})
    result = pack(project, cwd=tmp_path)
    assert result.returncode != 0
    assert "empty" in result.stderr
    assert not (project / "build" / "model.tar.gz").exists()


STAND_IN_AWS = stacks.stand_in_aws(r"""  "s3api get-bucket-location") echo "${BUCKET_LOCATION:-None}" ;;
  "s3api head-object")
    [[ -f "$STATE/object" ]] || { echo "Not Found" >&2; exit 254; }
    echo "{}" ;;
  "s3 cp") touch "$STATE/object" ;;
  "s3 rm") ;;
  "cloudformation describe-stacks")
    if [[ "$*" == *Parameters* ]]; then
      [[ -f "$STATE/stack" ]] || { echo "Stack does not exist" >&2; exit 254; }
      echo "${STACK_MODEL_BUCKET}"
    else
      printf 'EndpointName\tmy-model\n'
    fi ;;
""")


def run_script(tmp_path: Path, script: str, options: dict, env: dict, *args: str,
               repository_exists: bool = False, object_exists: bool = False, stack_exists: bool = False):
    """Render the project, then run `script` from another directory with stand-in aws and docker."""
    project = make_project(tmp_path, options)
    flags = ((repository_exists, "repository"), (object_exists, "object"), (stack_exists, "stack"))
    result, recorded = stacks.run_with_stand_ins(
        tmp_path, TARGET, project, script, args, aws=STAND_IN_AWS, env=env,
        state=tuple(marker for flag, marker in flags if flag),
        script_env=(*stacks.SCRIPT_ENV, "MODEL_BUCKET", "ENDPOINT_NAME"),
        extra_env={"STACK_MODEL_BUCKET": "bucket-from-the-stack"},
    )
    return result, recorded, project


def overrides(deploy: str) -> dict:
    return dict(re.findall(r"(ImageUri|EcrRepository|ModelBucket|ModelKey|EndpointName)=(\S+)", deploy))


def test_deploy_builds_pushes_uploads_the_model_and_deploys_by_digest(tmp_path):
    options = {"mode": "realtime", "instance_type": "ml.c7g.large", "architecture": "arm64"}
    result, calls, project = run_script(tmp_path, "deploy.sh", options, {"MODEL_BUCKET": "my-artifacts"})
    assert result.returncode == 0, result.stderr
    context = default_context()
    region, stack = context["region"], context["stack_name"]

    assert calls[0] == "aws sts get-caller-identity --query Account --output text"
    assert "--bucket my-artifacts" in call(calls, "aws s3api get-bucket-location")
    create = call(calls, "aws ecr create-repository")
    assert f"--repository-name {context['ecr_repository']}" in create
    assert "--image-scanning-configuration scanOnPush=true" in create
    build = call(calls, "docker buildx build")
    assert "--platform linux/arm64" in build and "--provenance=false" in build
    assert build.endswith(str(project))
    assert any(line.startswith("docker push ") for line in calls)

    sha256 = hashlib.sha256((project / "build" / "model.tar.gz").read_bytes()).hexdigest()
    key = f"{stack}/model/{sha256}/model.tar.gz"
    upload = call(calls, "aws s3 cp")
    assert upload.endswith(f"{project / 'build' / 'model.tar.gz'} s3://my-artifacts/{key}")

    deploy = call(calls, "aws cloudformation deploy")
    assert f"--region {region}" in deploy and f"--stack-name {stack}" in deploy
    assert f"--template-file {project / 'infra' / 'template.yaml'}" in deploy
    assert "--capabilities CAPABILITY_IAM" in deploy and "--no-fail-on-empty-changeset" in deploy
    parameters = parse(render("infra/template.yaml", **options))["Parameters"]
    given = overrides(deploy)
    assert set(given) == {"ImageUri", "EcrRepository", "ModelBucket", "ModelKey", "EndpointName"}
    for name, value in given.items():  # every override passes the stack's own constraint
        assert re.fullmatch(parameters[name]["AllowedPattern"], value), (name, value)
    assert given["ModelKey"] == key and given["ModelBucket"] == "my-artifacts"
    assert given["EcrRepository"] == context["ecr_repository"]
    assert given["EndpointName"] == context["endpoint_name"]

    waited = call(calls, "aws sagemaker wait endpoint-in-service")
    assert f"--endpoint-name {context['endpoint_name']}" in waited
    order = [next(i for i, line in enumerate(calls) if line.startswith(prefix)) for prefix in (
        "aws s3 cp", "aws cloudformation deploy", "aws sagemaker wait", "aws cloudformation describe-stacks")]
    assert order == sorted(order)
    assert "EndpointName\tmy-model" in result.stdout


def test_deploy_skips_the_upload_of_a_model_already_in_s3(tmp_path):
    result, calls, _ = run_script(tmp_path, "deploy.sh", {}, {"MODEL_BUCKET": "my-artifacts"},
                                  repository_exists=True, object_exists=True)
    assert result.returncode == 0, result.stderr
    assert not any(line.startswith("aws s3 cp") for line in calls)
    assert not any(line.startswith("aws ecr create-repository") for line in calls)
    assert "already there" in result.stderr


def test_deploy_honours_region_stack_and_endpoint_overrides(tmp_path):
    env = {"MODEL_BUCKET": "eu-artifacts", "AWS_REGION": "eu-west-1", "BUCKET_LOCATION": "EU",
           "STACK_NAME": "other-stack", "ENDPOINT_NAME": "my-model-2", "ECR_REPOSITORY": "team/models"}
    result, calls, _ = run_script(tmp_path, "deploy.sh", {}, env)
    assert result.returncode == 0, result.stderr
    assert "--platform linux/amd64" in call(calls, "docker buildx build")
    deploy = call(calls, "aws cloudformation deploy")
    assert "--region eu-west-1" in deploy and "--stack-name other-stack" in deploy
    given = overrides(deploy)
    assert given["EndpointName"] == "my-model-2" and given["EcrRepository"] == "team/models"
    assert given["ModelKey"].startswith("other-stack/model/")
    assert given["ImageUri"].startswith("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/models@sha256:")


def test_deploy_requires_a_model_bucket_before_touching_aws(tmp_path):
    result, calls, _ = run_script(tmp_path, "deploy.sh", {}, {})
    assert result.returncode != 0
    assert "MODEL_BUCKET" in result.stderr
    assert calls == []


def test_deploy_refuses_a_bucket_in_another_region(tmp_path):
    env = {"MODEL_BUCKET": "far-away", "BUCKET_LOCATION": "eu-west-1"}
    result, calls, _ = run_script(tmp_path, "deploy.sh", {}, env)
    assert result.returncode != 0
    assert "eu-west-1" in result.stderr and default_context()["region"] in result.stderr
    assert not any(line.startswith(("docker", "aws cloudformation", "aws s3 cp")) for line in calls)


@pytest.mark.parametrize("options", MODES)
def test_destroy_removes_the_stack_then_the_repository_and_the_model_archives(options, tmp_path):
    result, calls, _ = run_script(tmp_path, "destroy.sh", options, {}, "--yes",
                                  repository_exists=True, stack_exists=True)
    assert result.returncode == 0, result.stderr
    stack = default_context()["stack_name"]
    steps = ["aws cloudformation delete-stack", "aws cloudformation wait stack-delete-complete",
             "aws ecr delete-repository", "aws s3 rm"]
    order = [next(i for i, line in enumerate(calls) if line.startswith(step)) for step in steps]
    assert order == sorted(order)
    assert f"--stack-name {stack}" in call(calls, "aws cloudformation delete-stack")
    assert call(calls, "aws ecr delete-repository").endswith("--force")
    removal = call(calls, "aws s3 rm")
    assert removal.endswith(f"--recursive --only-show-errors s3://bucket-from-the-stack/{stack}/model/")
    assert "permanently deletes" in result.stderr
    if options["mode"] == "async":
        assert "keeps the requests and results" in result.stderr


def test_destroy_uses_model_bucket_when_the_stack_is_gone(tmp_path):
    result, calls, _ = run_script(tmp_path, "destroy.sh", {}, {"MODEL_BUCKET": "named-bucket"}, "--yes")
    assert result.returncode == 0, result.stderr
    assert "s3://named-bucket/" in call(calls, "aws s3 rm")
    assert not any(line.startswith("aws ecr delete-repository") for line in calls)


def test_destroy_without_a_known_bucket_leaves_the_archives(tmp_path):
    result, calls, _ = run_script(tmp_path, "destroy.sh", {}, {}, "--yes")
    assert result.returncode == 0, result.stderr
    assert not any(line.startswith("aws s3 rm") for line in calls)
    assert "left in place" in result.stderr


def test_destroy_refuses_without_confirmation(tmp_path):
    result, calls, _ = run_script(tmp_path, "destroy.sh", {}, {}, stack_exists=True, repository_exists=True)
    assert result.returncode != 0
    assert "--yes" in result.stderr
    assert not any("delete" in line or line.startswith("aws s3 rm") for line in calls)


# --- README and CI workflow ------------------------------------------------


README_MODES = MODES + [
    pytest.param(serverless(6144, 200, True), id="serverless-provisioned"),
    pytest.param(realtime("ml.m5.large", "x86_64", (2, 2, 2), 600), id="realtime-fixed"),
    pytest.param(asynchronous((1, 1, 1), ("", "")), id="async-fixed-no-sns"),
]


@pytest.mark.parametrize("options", README_MODES)
def test_readme_shows_only_what_applies_to_the_mode(options):
    text = render("README.md", **options)
    context = {**default_context(), **options}
    mode = context["mode"]

    assert text.startswith("<!--") and "generated by deploygen" in text.splitlines()[0]
    assert "{{" not in text and "{%" not in text
    assert text.count("```") % 2 == 0
    for needle in (
        "src/inference.py", "tests/test_inference.py", "deploygen.yaml", "python -m venv",
        "pip install -r requirements-dev.txt", "pytest", "deploygen serve .", "scripts/pack_model.sh",
        '-v "$PWD/model:/opt/ml/model:ro"', "curl -s http://localhost:8080/ping",
        "http://localhost:8080/invocations", "MODEL_BUCKET=", "scripts/deploy.sh", "scripts/destroy.sh",
        f"/aws/sagemaker/Endpoints/{context['endpoint_name']}",
    ):
        assert needle in text, needle
    assert re.search(r"docker run .* serve\n", text)

    error_rows = {line.split("|")[1].strip(): line for line in text.splitlines() if re.match(r"\| \d{3} \|", line)}
    assert set(error_rows) == {"400", "404", "405", "406", "413", "415", "500", "503"}
    codec_source = SHARED_CODEC.read_text()
    for status, row in error_rows.items():
        for code in re.findall(r"`([a-z_]+)`", row.split("|")[2]):
            assert f'"{code}"' in codec_source, f"{status}: {code} is not an error code of the codec"
    assert heredoc(text, "cat > request.json") == context["sample_request"]

    asynchronous_mode = mode == "async"
    assert ("invoke-endpoint-async" in text) == asynchronous_mode
    assert ("aws sagemaker-runtime invoke-endpoint " in text) == (not asynchronous_mode)
    assert ("--body fileb://request.json out.json" in text) == (not asynchronous_mode)
    assert ("ModelError" in text) == (not asynchronous_mode)
    if asynchronous_mode:
        root = f"s3://{context['async_s3_bucket']}/{context['async_s3_prefix']}"
        assert f'--input-location "{root}/input/request.json"' in text
        assert f"{root}/output/" in text and f"{root}/failure/" in text
        assert "1 GB" in text and "one hour" in text
        for topic in filter(None, (context["sns_success_topic"], context["sns_error_topic"])):
            assert topic in text, topic
        assert ("SNS" in text) == bool(context["sns_success_topic"] or context["sns_error_topic"])
    assert ("6 MB" in text) == (mode == "realtime")
    assert ("4 MB" in text) == (mode == "serverless")
    assert ("## Cold starts" in text) == (mode == "serverless")
    assert ("No GPUs" in text) == (mode == "serverless")
    assert (context["instance_type"] in text) == (mode != "serverless")
    assert ("## Scaling to zero" in text) == (asynchronous_mode and context["min_instances"] == 0)
    assert ("Changing the instance type" in text) == autoscaled(options)
    assert ("Application Auto Scaling" in text) == autoscaled(options)
    if mode == "realtime" and autoscaled(options):
        assert str(context["invocations_per_instance_target"]) in text
    if mode == "serverless":
        assert f"{context['serverless_memory_mb']} MB" in text
        provisioned = context["serverless_provisioned_concurrency"]
        if provisioned:
            assert f"keeps {provisioned} of its {context['serverless_max_concurrency']} concurrent" in text
        else:
            assert "`--provisioned-concurrency`" in text
    assert "## What it costs" in text and "https://aws.amazon.com/sagemaker/pricing/" in text
    if mode == "realtime":
        assert "whether or\nnot requests arrive" in text


@pytest.mark.parametrize("options", MODES)
def test_ci_workflow_lints_packs_and_tests(options):
    runs = stacks.ci_workflow_runs(TARGET, options)
    model_file = default_context()["model_file"]
    assert runs == [
        "pip install -r requirements-dev.txt",
        "deploygen lint --format sarif --output deploygen-lint.sarif",
        "shellcheck scripts/*.sh",
        f"bash scripts/pack_model.sh && tar -tzf build/model.tar.gz | grep -qxF '{model_file}'",
        "pytest -q",
    ]
