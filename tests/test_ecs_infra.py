"""The ECS template's infrastructure files, rendered over the option matrix.

Covers infra/template.yaml (zero cfn-lint findings of any severity over the
network, TLS, scheme, architecture, size and scaling matrix, and the wiring
that matters: the service after its listeners, tasks reachable only from the
load balancer, roles that name their resources, the HTTPS redirect, the target
group, the autoscaling resource label, the task's platform, the stack's own
VPC), scripts/deploy.sh and scripts/destroy.sh (shellcheck, and runs against
stand-in `aws` and `docker` commands), README.md and the CI workflow.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from pathlib import Path

import pytest

import stacks
from generator.limits import data_file
from stacks import call, depends_on, heredoc, parse, resources_of_type, the_one

TARGET = "ecs"
PROJECT_TEMPLATE_DIR = stacks.project_template_dir(TARGET)
SHARED_CODEC = stacks.SHARED_DIR / "serving" / "codec.py"
SHARED_DOCKERFILE = stacks.SHARED_DIR / "container" / "Dockerfile"
SHARED_GUNICORN_CONF = stacks.SHARED_DIR / "serving" / "gunicorn_conf.py"

TEST_ACCOUNT_ID = stacks.TEST_ACCOUNT_ID
CERTIFICATE = f"arn:aws:acm:us-east-1:{TEST_ACCOUNT_ID}:certificate/12345678-1234-1234-1234-123456789012"
SCRIPTS = ("deploy.sh", "destroy.sh")
FARGATE = data_file("fargate.yaml")

default_context = functools.partial(stacks.default_context, TARGET)
render = functools.partial(stacks.render, TARGET)


def context_of(options: dict) -> dict:
    return {**default_context(), **options}


def autoscaled(options: dict) -> bool:
    context = context_of(options)
    return context["max_tasks"] > context["min_tasks"]


def uses_https(options: dict) -> bool:
    return bool(context_of(options)["certificate_arn"])


# --- the option matrix -----------------------------------------------------

SIZES = [(256, 512), (1024, 2048), (4096, 30720), (16384, 122880)]  # (CPU units, MiB)
COUNTS = [(1, 1), (2, 10)]  # (min, max) tasks


def variant(create_vpc: bool, certificate: str, internal: bool, architecture: str,
            size: tuple[int, int] = (1024, 2048), counts: tuple[int, int] = (1, 4)) -> dict:
    return {
        "create_vpc": create_vpc, "certificate_arn": certificate, "internal": internal,
        "architecture": architecture, "cpu": size[0], "memory_mb": size[1],
        "min_tasks": counts[0], "max_tasks": counts[1],
    }


def variant_id(options: dict) -> str:
    return "-".join([
        "own-vpc" if options["create_vpc"] else "given-vpc",
        "https" if options["certificate_arn"] else "http",
        "internal" if options["internal"] else "public",
        options["architecture"],
        f"{options['cpu']}cpu-{options['memory_mb']}mb",
        f"{options['min_tasks']}to{options['max_tasks']}",
    ])


MATRIX = [
    pytest.param(options, id=variant_id(options))
    for options in itertools.starmap(variant, itertools.product(
        [True, False], [CERTIFICATE, ""], [True, False], ["x86_64", "arm64"], SIZES, COUNTS))
]

# Every network, TLS, scheme and architecture variant, fixed and autoscaled, at the default size.
VARIANTS = [
    pytest.param(options, id=variant_id(options))
    for options in itertools.starmap(variant, itertools.product(
        [True, False], [CERTIFICATE, ""], [True, False], ["x86_64", "arm64"], [(1024, 2048)], COUNTS))
]


# cfn-lint, with its rules loaded once: the session fixture `cfn_lint` (conftest.py).


def stack(options: dict) -> dict:
    return parse(render("infra/template.yaml", **options))


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def group_id(logical_id: str) -> dict:
    return {"Fn::GetAtt": [logical_id, "GroupId"]}


def test_the_linter_still_finds_problems(cfn_lint):
    broken = render("infra/template.yaml", cpu=1024, memory_mb=512)  # not a Fargate pair
    assert any(match.rule.id == "E3047" for match in cfn_lint(broken))


def test_the_matrix_uses_sizes_fargate_offers():
    for cpu, memory in SIZES:
        assert memory in FARGATE["cpu_memory"][cpu]
        assert cpu in FARGATE["arm64_cpu"]


def test_the_fargate_data_file_has_its_sources_and_every_documented_pair():
    assert FARGATE["source"].startswith("https://docs.aws.amazon.com/")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(FARGATE["checked"]))
    gib = 1024
    expected = {
        256: [512, 1 * gib, 2 * gib],
        512: [n * gib for n in range(1, 5)],
        1024: [n * gib for n in range(2, 9)],
        2048: [n * gib for n in range(4, 17)],
        4096: [n * gib for n in range(8, 31)],
        8192: [n * gib for n in range(16, 61, 4)],
        16384: [n * gib for n in range(32, 121, 8)],
    }
    assert FARGATE["cpu_memory"] == expected
    assert set(FARGATE["arm64_cpu"]) <= set(expected)
    assert FARGATE["stop_timeout_max_s"] == 120


@pytest.mark.parametrize("options", MATRIX)
def test_stack_is_lint_clean(options, cfn_lint):
    text, template = stacks.lint_clean_stack(TARGET, options, cfn_lint, arns=(CERTIFICATE,))
    task_definition = the_one(template, "AWS::ECS::TaskDefinition")[1]["Properties"]
    assert (task_definition["Cpu"], task_definition["Memory"]) == (str(options["cpu"]), str(options["memory_mb"]))


# --- the named checks, over every variant -------------------------------------


@pytest.mark.parametrize("options", VARIANTS)
def test_the_service_depends_on_its_listeners(options):
    template = stack(options)
    listeners = resources_of_type(template, "AWS::ElasticLoadBalancingV2::Listener")
    assert len(listeners) == (2 if uses_https(options) else 1)
    _, service = the_one(template, "AWS::ECS::Service")
    assert set(listeners) <= set(depends_on(service))
    target_group_id, _ = the_one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    (attachment,) = service["Properties"]["LoadBalancers"]
    assert attachment["TargetGroupArn"] == {"Ref": target_group_id}
    assert attachment["ContainerPort"] == default_context()["container_port"]
    (container,) = the_one(template, "AWS::ECS::TaskDefinition")[1]["Properties"]["ContainerDefinitions"]
    assert attachment["ContainerName"] == container["Name"]


@pytest.mark.parametrize("options", VARIANTS)
def test_the_tasks_admit_only_the_load_balancer_on_the_container_port(options):
    template = stack(options)
    port = default_context()["container_port"]
    _, service = the_one(template, "AWS::ECS::Service")
    (task_group,) = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    task_group_id = task_group["Fn::GetAtt"][0]
    _, load_balancer = the_one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    (lb_group,) = load_balancer["Properties"]["SecurityGroups"]
    lb_group_id = lb_group["Fn::GetAtt"][0]
    groups = template["Resources"]

    assert "SecurityGroupIngress" not in groups[task_group_id]["Properties"]
    ingress_rules = [
        rule["Properties"] for rule in resources_of_type(template, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == group_id(task_group_id)
    ]
    assert len(ingress_rules) == 1
    (rule,) = ingress_rules
    assert rule["SourceSecurityGroupId"] == group_id(lb_group_id)
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", port, port)
    assert "CidrIp" not in rule

    # The tasks go out on HTTPS only (ECR, S3, CloudWatch Logs).
    (egress,) = groups[task_group_id]["Properties"]["SecurityGroupEgress"]
    assert (egress["IpProtocol"], egress["FromPort"], egress["ToPort"]) == ("tcp", 443, 443)

    # The load balancer: the listener ports from AllowedCidr in, the tasks' port out.
    lb_properties = groups[lb_group_id]["Properties"]
    ports = [80, 443] if uses_https(options) else [80]
    assert [(r["FromPort"], r["ToPort"], r["CidrIp"]) for r in lb_properties["SecurityGroupIngress"]] == [
        (p, p, {"Ref": "AllowedCidr"}) for p in ports]
    (lb_egress,) = lb_properties["SecurityGroupEgress"]
    assert lb_egress["DestinationSecurityGroupId"] == group_id(task_group_id)
    assert (lb_egress["FromPort"], lb_egress["ToPort"]) == (port, port)


@pytest.mark.parametrize("options", VARIANTS)
def test_allowed_cidr_defaults_to_the_scheme(options):
    parameter = stack(options)["Parameters"]["AllowedCidr"]
    assert parameter["Default"] == ("10.0.0.0/8" if options["internal"] else "0.0.0.0/0")
    pattern = re.compile(parameter["AllowedPattern"])
    for good in ("0.0.0.0/0", "10.0.0.0/8", "203.0.113.0/24", "192.168.1.1/32"):
        assert pattern.fullmatch(good), good
    for bad in ("10.0.0.0", "256.0.0.0/8", "10.0.0.0/33", "::/0"):
        assert not pattern.fullmatch(bad), bad


def statements_of(role: dict) -> list[dict]:
    return [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


@pytest.mark.parametrize("options", VARIANTS)
def test_no_role_grants_a_wildcard_resource_but_the_ecr_login(options):
    template = stack(options)
    log_group_id, _ = the_one(template, "AWS::Logs::LogGroup")
    _, task_definition = the_one(template, "AWS::ECS::TaskDefinition")
    properties = task_definition["Properties"]
    roles = resources_of_type(template, "AWS::IAM::Role")
    assert len(roles) == 2
    execution_id = properties["ExecutionRoleArn"]["Fn::GetAtt"][0]
    task_role_id = properties["TaskRoleArn"]["Fn::GetAtt"][0]
    assert execution_id != task_role_id and {execution_id, task_role_id} == set(roles)

    granted = {}
    for role in roles.values():
        assert "ManagedPolicyArns" not in role["Properties"]
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        for statement in statements_of(role):
            assert statement["Effect"] == "Allow"
            actions, resources = as_list(statement["Action"]), as_list(statement["Resource"])
            assert all("*" not in action for action in actions)
            if "*" in json.dumps(resources):
                assert resources == ["*"] and actions == ["ecr:GetAuthorizationToken"], statement
            for action in actions:
                granted.setdefault(action, []).extend(resources)

    assert statements_of(roles[task_role_id]) == [], "the model is in the image: the task role needs nothing"
    repository = {"Fn::Sub": "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${EcrRepository}"}
    for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"):
        assert granted.pop(action) == [repository]
    assert granted.pop("ecr:GetAuthorizationToken") == ["*"]
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert granted.pop(action) == [{"Fn::GetAtt": [log_group_id, "Arn"]}]
    assert granted == {}


@pytest.mark.parametrize("options", VARIANTS)
def test_https_redirects_http_and_plain_http_forwards(options):
    template = stack(options)
    target_group_id, _ = the_one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    load_balancer_id, _ = the_one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    listeners = {
        resource["Properties"]["Port"]: resource["Properties"]
        for resource in resources_of_type(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    for listener in listeners.values():
        assert listener["LoadBalancerArn"] == {"Ref": load_balancer_id}
    forward = [{"Type": "forward", "TargetGroupArn": {"Ref": target_group_id}}]
    http = listeners.pop(80)
    assert http["Protocol"] == "HTTP"
    if not uses_https(options):
        assert http["DefaultActions"] == forward
        assert listeners == {}
        assert "CertificateArn" not in template["Parameters"]
        return
    assert http["DefaultActions"] == [{
        "Type": "redirect",
        "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
    }]
    https = listeners.pop(443)
    assert listeners == {}
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-")
    assert https["DefaultActions"] == forward
    certificate = template["Parameters"]["CertificateArn"]
    assert certificate["Default"] == CERTIFICATE
    assert re.fullmatch(certificate["AllowedPattern"], CERTIFICATE)


@pytest.mark.parametrize("options", VARIANTS)
def test_the_target_group_checks_ping_on_ip_targets_and_drains_quickly(options):
    template = stack(options)
    _, target_group = the_one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    properties = target_group["Properties"]
    assert properties["TargetType"] == "ip"
    assert (properties["Protocol"], properties["Port"]) == ("HTTP", default_context()["container_port"])
    assert properties["HealthCheckPath"] == "/ping"
    assert properties["Matcher"] == {"HttpCode": "200"}
    attributes = {item["Key"]: item["Value"] for item in properties["TargetGroupAttributes"]}
    delay = int(attributes["deregistration_delay.timeout_seconds"])
    assert 0 < delay <= 60
    assert delay <= default_context()["request_timeout_s"]

    _, load_balancer = the_one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    lb = load_balancer["Properties"]
    assert lb["Type"] == "application"
    assert lb["Scheme"] == ("internal" if options["internal"] else "internet-facing")
    lb_attributes = {item["Key"]: item["Value"] for item in lb["LoadBalancerAttributes"]}
    keepalive = int(re.search(r"^keepalive = (\d+)", SHARED_GUNICORN_CONF.read_text(), re.M).group(1))
    assert int(lb_attributes["idle_timeout.timeout_seconds"]) < keepalive, "the server must outlive idle connections"


@pytest.mark.parametrize("options", VARIANTS)
def test_the_resource_label_joins_the_two_full_names(options):
    template = stack(options)
    targets = resources_of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = resources_of_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    service_id, service = the_one(template, "AWS::ECS::Service")
    context = context_of(options)
    if not autoscaled(options):
        assert not targets and not policies
        assert service["Properties"]["DesiredCount"] == context["min_tasks"]
        return

    # Application Auto Scaling owns the count: an update must not reset it.
    assert "DesiredCount" not in service["Properties"]
    ((target_id, target),) = targets.items()
    target = target["Properties"]
    assert (target["ServiceNamespace"], target["ScalableDimension"]) == ("ecs", "ecs:service:DesiredCount")
    cluster_id, _ = the_one(template, "AWS::ECS::Cluster")
    assert target["ResourceId"] == {"Fn::Sub": f"service/${{{cluster_id}}}/${{{service_id}.Name}}"}
    assert (target["MinCapacity"], target["MaxCapacity"]) == (context["min_tasks"], context["max_tasks"])

    load_balancer_id, _ = the_one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    target_group_id, _ = the_one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    by_metric = {}
    for policy in policies.values():
        properties = policy["Properties"]
        assert properties["ScalingTargetId"] == {"Ref": target_id}
        assert properties["PolicyType"] == "TargetTrackingScaling"
        tracking = properties["TargetTrackingScalingPolicyConfiguration"]
        by_metric[tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]] = tracking
    assert set(by_metric) == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    assert by_metric["ECSServiceAverageCPUUtilization"]["TargetValue"] == context["cpu_target"]
    requests = by_metric["ALBRequestCountPerTarget"]
    assert requests["TargetValue"] == context["requests_per_target"]
    assert requests["PredefinedMetricSpecification"]["ResourceLabel"] == {"Fn::Join": ["/", [
        {"Fn::GetAtt": [load_balancer_id, "LoadBalancerFullName"]},
        {"Fn::GetAtt": [target_group_id, "TargetGroupFullName"]},
    ]]}


def image_user() -> str:
    (user,) = re.findall(r"^USER (\S+)$", SHARED_DOCKERFILE.read_text(), re.M)
    return user


@pytest.mark.parametrize("options", VARIANTS)
def test_the_task_runs_on_the_arch_unprivileged_and_read_only(options):
    template = stack(options)
    log_group_id, log_group = the_one(template, "AWS::Logs::LogGroup")
    _, task_definition = the_one(template, "AWS::ECS::TaskDefinition")
    properties = task_definition["Properties"]
    assert properties["RequiresCompatibilities"] == ["FARGATE"]
    assert properties["NetworkMode"] == "awsvpc"
    assert properties["RuntimePlatform"] == {
        "OperatingSystemFamily": "LINUX",
        "CpuArchitecture": {"x86_64": "X86_64", "arm64": "ARM64"}[options["architecture"]],
    }
    (container,) = properties["ContainerDefinitions"]
    assert container["Image"] == {"Ref": "ImageUri"}
    assert container["User"] == image_user() and not container["User"].startswith("0")
    assert container["ReadonlyRootFilesystem"] is True
    (volume,) = properties["Volumes"]
    assert volume == {"Name": volume["Name"]}, "an empty task-scoped volume: no host path, no EFS"
    assert container["MountPoints"] == [{"SourceVolume": volume["Name"], "ContainerPath": "/tmp", "ReadOnly": False}]
    assert container["PortMappings"] == [{"ContainerPort": default_context()["container_port"], "Protocol": "tcp"}]
    graceful = int(re.search(r"^graceful_timeout = (\d+)", SHARED_GUNICORN_CONF.read_text(), re.M).group(1))
    assert graceful < container["StopTimeout"] <= FARGATE["stop_timeout_max_s"]
    logging = container["LogConfiguration"]
    assert logging["LogDriver"] == "awslogs"
    assert logging["Options"]["awslogs-group"] == {"Ref": log_group_id}
    assert logging["Options"]["awslogs-region"] == {"Ref": "AWS::Region"}
    assert logging["Options"]["awslogs-stream-prefix"]
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert (log_group["DeletionPolicy"], log_group["UpdateReplacePolicy"]) == ("Delete", "Delete")

    _, cluster = the_one(template, "AWS::ECS::Cluster")
    assert cluster["Properties"]["ClusterSettings"] == [{"Name": "containerInsights", "Value": "enabled"}]


# Fargate mounts an empty bind-mount volume as root:root 0755 unless the image declares the path with
# VOLUME (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html); the server
# runs unprivileged and needs to write /tmp.
def test_the_image_declares_tmp_a_volume_so_fargate_mounts_it_writable():
    assert re.search(r'^VOLUME \[?"?/tmp"?\]?\s*$', SHARED_DOCKERFILE.read_text(), re.M)


@pytest.mark.parametrize("options", VARIANTS)
def test_the_service_rolls_back_a_failed_deployment_and_waits_for_the_model(options):
    template = stack(options)
    _, service = the_one(template, "AWS::ECS::Service")
    properties = service["Properties"]
    assert properties["LaunchType"] == "FARGATE"
    deployment = properties["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (100, 200)
    assert properties["HealthCheckGracePeriodSeconds"] == default_context()["health_check_grace_s"]


@pytest.mark.parametrize("options", VARIANTS)
def test_the_network_is_the_stacks_own_or_the_given_one(options):
    template = stack(options)
    parameters = template["Parameters"]
    _, service = the_one(template, "AWS::ECS::Service")
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    _, load_balancer = the_one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert not resources_of_type(template, "AWS::EC2::NatGateway")
    assert not resources_of_type(template, "AWS::EC2::EIP")

    if not options["create_vpc"]:
        assert not resources_of_type(template, "AWS::EC2::VPC")
        assert not resources_of_type(template, "AWS::EC2::Subnet")
        assert parameters["VpcId"]["Type"] == "AWS::EC2::VPC::Id"
        assert parameters["SubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
        assert parameters["AssignPublicIp"]["AllowedValues"] == ["DISABLED", "ENABLED"]
        assert parameters["AssignPublicIp"]["Default"] == "DISABLED"
        assert parameters["TaskSubnetIds"]["Default"] == ""
        assert load_balancer["Properties"]["Subnets"] == {"Ref": "SubnetIds"}
        assert network["AssignPublicIp"] == {"Ref": "AssignPublicIp"}
        assert network["Subnets"] == {"Fn::If": ["TaskSubnetsGiven", {"Ref": "TaskSubnetIds"}, {"Ref": "SubnetIds"}]}
        return

    assert not {"VpcId", "SubnetIds", "TaskSubnetIds", "AssignPublicIp"} & set(parameters)
    vpc_id, _ = the_one(template, "AWS::EC2::VPC")
    gateway_id, _ = the_one(template, "AWS::EC2::InternetGateway")
    _, attachment = the_one(template, "AWS::EC2::VPCGatewayAttachment")
    assert attachment["Properties"] == {"VpcId": {"Ref": vpc_id}, "InternetGatewayId": {"Ref": gateway_id}}
    route_id, route = the_one(template, "AWS::EC2::Route")
    assert route["Properties"]["DestinationCidrBlock"] == "0.0.0.0/0"
    assert route["Properties"]["GatewayId"] == {"Ref": gateway_id}

    subnets = resources_of_type(template, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    zones = [subnet["Properties"]["AvailabilityZone"] for subnet in subnets.values()]
    assert sorted(json.dumps(zone) for zone in zones) == sorted(
        json.dumps({"Fn::Select": [index, {"Fn::GetAZs": ""}]}) for index in (0, 1)), "two different zones"
    associations = resources_of_type(template, "AWS::EC2::SubnetRouteTableAssociation")
    assert sorted(a["Properties"]["SubnetId"]["Ref"] for a in associations.values()) == sorted(subnets)

    subnet_refs = sorted(({"Ref": subnet_id} for subnet_id in subnets), key=json.dumps)
    assert sorted(load_balancer["Properties"]["Subnets"], key=json.dumps) == subnet_refs
    assert sorted(network["Subnets"], key=json.dumps) == subnet_refs
    assert network["AssignPublicIp"] == "ENABLED", "no NAT gateway: the tasks pull their image over a public IP"
    # The tasks need the route to the internet from their first start.
    assert {route_id, *associations} <= set(depends_on(service))
    if not options["internal"]:
        assert "InternetGatewayAttachment" in depends_on(load_balancer)


@pytest.mark.parametrize("options", VARIANTS)
def test_outputs_give_the_url_the_cluster_and_the_service(options):
    template = stack(options)
    outputs = template["Outputs"]
    expected = {"ServiceUrl", "InvokeUrl", "LoadBalancerDnsName", "ClusterName", "ServiceName", "LogGroupName"}
    if options["create_vpc"]:
        expected.add("VpcId")
    assert set(outputs) == expected
    load_balancer_id, _ = the_one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    cluster_id, _ = the_one(template, "AWS::ECS::Cluster")
    service_id, _ = the_one(template, "AWS::ECS::Service")
    scheme = "https" if uses_https(options) else "http"
    assert outputs["ServiceUrl"]["Value"] == {"Fn::Sub": f"{scheme}://${{{load_balancer_id}.DNSName}}"}
    assert outputs["InvokeUrl"]["Value"] == {"Fn::Sub": f"{scheme}://${{{load_balancer_id}.DNSName}}/invocations"}
    assert outputs["LoadBalancerDnsName"]["Value"] == {"Fn::GetAtt": [load_balancer_id, "DNSName"]}
    assert outputs["ClusterName"]["Value"] == {"Ref": cluster_id}
    assert outputs["ServiceName"]["Value"] == {"Fn::GetAtt": [service_id, "Name"]}


def test_the_image_parameter_takes_only_an_ecr_image_by_digest():
    parameters = stack({})["Parameters"]
    pattern = re.compile(parameters["ImageUri"]["AllowedPattern"])
    by_digest = f"{TEST_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/my-model@sha256:{'0' * 64}"
    assert pattern.fullmatch(by_digest)
    assert not pattern.fullmatch(by_digest.replace("@sha256:" + "0" * 64, ":latest"))
    assert parameters["EcrRepository"]["Default"] == default_context()["ecr_repository"]
    retention = parameters["LogRetentionInDays"]
    assert retention["Default"] == default_context()["log_retention_days"] in retention["AllowedValues"]


# --- scripts ----------------------------------------------------------------

SCRIPT_OPTIONS = [
    pytest.param({"create_vpc": own, "architecture": arch, "certificate_arn": cert, "min_tasks": low, "max_tasks": high},
                 id=f"{'own' if own else 'given'}-vpc-{arch}-{'https' if cert else 'http'}-{low}to{high}")
    for own, arch, cert, (low, high) in itertools.product([True, False], ["x86_64", "arm64"], [CERTIFICATE, ""], COUNTS)
]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("options", SCRIPT_OPTIONS)
def test_script_is_shellcheck_clean(script, options, tmp_path):
    stacks.assert_script_is_clean(TARGET, script, options, tmp_path)


def test_the_scripts_are_executable_in_the_template():
    stacks.assert_scripts_are_executable(TARGET, SCRIPTS)


STAND_IN_AWS = stacks.stand_in_aws(r"""  "ecr delete-repository") echo "{}" ;;
  "cloudformation describe-stacks")
    case "$*" in
      *ClusterName*) echo "my-model-Cluster-AbC123" ;;
      *ServiceName*) echo "my-model-Service-DeF456" ;;
      *) printf 'ServiceUrl\thttp://example.invalid\n' ;;
    esac ;;
""")

NETWORK = {"VPC_ID": "vpc-0123456789abcdef0", "SUBNET_IDS": "subnet-aaaa1111,subnet-bbbb2222"}
OURS = (*stacks.SCRIPT_ENV, "VPC_ID", "SUBNET_IDS", "TASK_SUBNET_IDS", "ASSIGN_PUBLIC_IP", "ALLOWED_CIDR")


def run_script(tmp_path: Path, script: str, options: dict, env: dict, *args: str, repository_exists: bool = False):
    """Render the project's scripts and stack, then run `script` from another directory."""
    project = stacks.write_project(tmp_path, TARGET, SCRIPTS, options)
    result, recorded = stacks.run_with_stand_ins(
        tmp_path, TARGET, project, script, args, aws=STAND_IN_AWS, env=env,
        state=("repository",) if repository_exists else (), script_env=OURS,
    )
    return result, recorded, project


def overrides(deploy: str) -> dict:
    """The --parameter-overrides of a recorded `aws cloudformation deploy` call."""
    listed = deploy.split("--parameter-overrides ", 1)[1].split(" --", 1)[0]
    return dict(item.split("=", 1) for item in listed.split(" "))


def assert_override_fits(parameter: dict, value: str) -> None:
    if "AllowedPattern" in parameter:
        assert re.fullmatch(parameter["AllowedPattern"], value), value
    if "AllowedValues" in parameter:
        assert value in parameter["AllowedValues"], value
    if parameter["Type"] == "List<AWS::EC2::Subnet::Id>":
        assert all(re.fullmatch(r"subnet-[0-9a-f]+", item) for item in value.split(",")), value
    if parameter["Type"] == "AWS::EC2::VPC::Id":
        assert re.fullmatch(r"vpc-[0-9a-f]+", value), value


def test_deploy_builds_pushes_deploys_by_digest_and_waits_for_the_service(tmp_path):
    options = {"architecture": "arm64", "create_vpc": False}
    env = {**NETWORK, "TASK_SUBNET_IDS": "subnet-cccc3333,subnet-dddd4444"}
    result, calls, project = run_script(tmp_path, "deploy.sh", options, env)
    assert result.returncode == 0, result.stderr
    context = default_context()
    region, stack_name = context["region"], context["stack_name"]

    assert calls[0] == "aws sts get-caller-identity --query Account --output text"
    create = call(calls, "aws ecr create-repository")
    assert f"--repository-name {context['ecr_repository']}" in create
    assert "--image-scanning-configuration scanOnPush=true" in create
    build = call(calls, "docker buildx build")
    assert "--platform linux/arm64" in build and "--provenance=false" in build
    assert build.endswith(str(project))
    assert any(line.startswith("docker push ") for line in calls)

    deploy = call(calls, "aws cloudformation deploy")
    assert f"--region {region}" in deploy and f"--stack-name {stack_name}" in deploy
    assert f"--template-file {project / 'infra' / 'template.yaml'}" in deploy
    assert "--capabilities CAPABILITY_IAM" in deploy and "--no-fail-on-empty-changeset" in deploy
    given = overrides(deploy)
    assert set(given) == {"ImageUri", "EcrRepository", "VpcId", "SubnetIds", "TaskSubnetIds", "AssignPublicIp"}
    parameters = stack(options)["Parameters"]
    for name, value in given.items():  # every override passes the stack's own constraint
        assert_override_fits(parameters[name], value)
    assert given["VpcId"] == NETWORK["VPC_ID"] and given["SubnetIds"] == NETWORK["SUBNET_IDS"]
    assert given["TaskSubnetIds"] == env["TASK_SUBNET_IDS"] and given["AssignPublicIp"] == "DISABLED"
    assert given["ImageUri"].startswith(f"{TEST_ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/")

    waited = call(calls, "aws ecs wait services-stable")
    assert "--cluster my-model-Cluster-AbC123" in waited and "--services my-model-Service-DeF456" in waited
    assert f"--region {region}" in waited
    order = [next(i for i, line in enumerate(calls) if line.startswith(prefix)) for prefix in (
        "docker push", "aws cloudformation deploy", "aws ecs wait services-stable")]
    assert order == sorted(order)
    assert calls[-1].startswith("aws cloudformation describe-stacks") and "OutputKey,OutputValue" in calls[-1]
    assert "ServiceUrl\thttp://example.invalid" in result.stdout


def test_deploy_with_the_stacks_own_vpc_needs_no_network(tmp_path):
    options = {"create_vpc": True}
    result, calls, _ = run_script(tmp_path, "deploy.sh", options, {"ALLOWED_CIDR": "203.0.113.0/24"},
                                  repository_exists=True)
    assert result.returncode == 0, result.stderr
    assert not any(line.startswith("aws ecr create-repository") for line in calls)
    assert "--platform linux/amd64" in call(calls, "docker buildx build")
    given = overrides(call(calls, "aws cloudformation deploy"))
    assert set(given) == {"ImageUri", "EcrRepository", "AllowedCidr"}
    assert_override_fits(stack(options)["Parameters"]["AllowedCidr"], given["AllowedCidr"])


def test_deploy_honours_region_stack_repository_and_public_ip_overrides(tmp_path):
    env = {**NETWORK, "AWS_REGION": "eu-west-1", "STACK_NAME": "other-stack", "ECR_REPOSITORY": "team/models",
           "ASSIGN_PUBLIC_IP": "ENABLED"}
    result, calls, _ = run_script(tmp_path, "deploy.sh", {}, env)
    assert result.returncode == 0, result.stderr
    deploy = call(calls, "aws cloudformation deploy")
    assert "--region eu-west-1" in deploy and "--stack-name other-stack" in deploy
    given = overrides(deploy)
    assert given["EcrRepository"] == "team/models" and given["AssignPublicIp"] == "ENABLED"
    assert given["TaskSubnetIds"] == ""
    assert given["ImageUri"].startswith(f"{TEST_ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/team/models@sha256:")
    assert "--region eu-west-1" in call(calls, "aws ecs wait services-stable")


@pytest.mark.parametrize("env,message", [
    pytest.param({}, "VPC_ID and SUBNET_IDS", id="nothing"),
    pytest.param({"VPC_ID": NETWORK["VPC_ID"]}, "VPC_ID and SUBNET_IDS", id="no-subnets"),
    pytest.param({**NETWORK, "SUBNET_IDS": "subnet-aaaa1111"}, "two or more subnets", id="one-subnet"),
    pytest.param({**NETWORK, "SUBNET_IDS": "subnet-aaaa1111, subnet-bbbb2222"}, "without spaces", id="spaces"),
    pytest.param({**NETWORK, "VPC_ID": "my-vpc"}, "VPC_ID must be", id="bad-vpc"),
    pytest.param({**NETWORK, "ASSIGN_PUBLIC_IP": "yes"}, "ENABLED or DISABLED", id="bad-public-ip"),
])
def test_deploy_checks_the_network_before_touching_aws(tmp_path, env, message):
    result, calls, _ = run_script(tmp_path, "deploy.sh", {"create_vpc": False}, env)
    assert result.returncode != 0
    assert message in result.stderr
    assert calls == []


@pytest.mark.parametrize("options", [pytest.param({"create_vpc": True}, id="own-vpc"),
                                     pytest.param({"create_vpc": False}, id="given-vpc")])
def test_destroy_removes_the_stack_then_the_repository(options, tmp_path):
    result, calls, _ = run_script(tmp_path, "destroy.sh", options, {}, "--yes", repository_exists=True)
    assert result.returncode == 0, result.stderr
    stack_name = default_context()["stack_name"]
    steps = ["aws cloudformation delete-stack", "aws cloudformation wait stack-delete-complete",
             "aws ecr delete-repository"]
    order = [next(i for i, line in enumerate(calls) if line.startswith(step)) for step in steps]
    assert order == sorted(order)
    assert f"--stack-name {stack_name}" in call(calls, "aws cloudformation delete-stack")
    assert call(calls, "aws ecr delete-repository").endswith("--force")
    assert "permanently deletes" in result.stderr
    assert ("the VPC with its two subnets" in result.stderr) == options["create_vpc"]


def test_destroy_deletes_the_stack_even_without_a_repository(tmp_path):
    result, calls, _ = run_script(tmp_path, "destroy.sh", {}, {}, "--yes")
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("aws cloudformation delete-stack") for line in calls)
    assert not any(line.startswith("aws ecr delete-repository") for line in calls)
    assert "not found" in result.stderr


def test_destroy_refuses_without_confirmation(tmp_path):
    result, calls, _ = run_script(tmp_path, "destroy.sh", {}, {}, repository_exists=True)
    assert result.returncode != 0
    assert "--yes" in result.stderr
    assert not any("delete" in line for line in calls)


# --- README and CI workflow ------------------------------------------------


README_VARIANTS = VARIANTS + [
    pytest.param(variant(False, "", False, "x86_64", (256, 512), (3, 3)), id="small-fixed-3"),
]


@pytest.mark.parametrize("options", README_VARIANTS)
def test_readme_shows_only_what_applies(options):
    text = render("README.md", **options)
    context = context_of(options)
    own_vpc, https, internal = options["create_vpc"], uses_https(options), options["internal"]

    assert text.startswith("<!--") and "generated by deploygen" in text.splitlines()[0]
    assert "{{" not in text and "{%" not in text
    assert text.count("```") % 2 == 0
    for needle in (
        "src/inference.py", "tests/test_inference.py", "deploygen.yaml", "python -m venv",
        "pip install -r requirements-dev.txt", "pytest", "deploygen serve .", "docker buildx build",
        "-p 8080:8080", "curl -s http://localhost:8080/ping", "http://localhost:8080/invocations",
        "scripts/deploy.sh", "scripts/destroy.sh", f"/ecs/{context['stack_name']}", '"$URL/invocations"',
        "ALLOWED_CIDR", "## What it costs", "https://aws.amazon.com/fargate/pricing/",
        "https://aws.amazon.com/elasticloadbalancing/pricing/", "https://aws.amazon.com/vpc/pricing/",
        f"{context['max_body_bytes']} bytes", "60 seconds",
    ):
        assert needle in text, needle
    assert re.search(r"docker run .*-p 8080:8080 \S+:local\n", text)

    error_rows = {line.split("|")[1].strip(): line for line in text.splitlines() if re.match(r"\| \d{3} \|", line)}
    assert set(error_rows) == {"400", "404", "405", "406", "413", "415", "500", "503"}
    codec_source = SHARED_CODEC.read_text()
    for status, row in error_rows.items():
        for code in re.findall(r"`([a-z_]+)`", row.split("|")[2]):
            assert f'"{code}"' in codec_source, f"{status}: {code} is not an error code of the codec"
    assert heredoc(text, "cat > request.json") == context["sample_request"]

    assert ("VPC_ID=vpc-" in text) == (not own_vpc)
    assert ("TASK_SUBNET_IDS" in text) == (not own_vpc)
    assert ("ASSIGN_PUBLIC_IP" in text) == (not own_vpc)
    assert ("10.0.0.0/16" in text) == own_vpc
    assert ("--connect-to" in text) == https
    assert (context["certificate_arn"] in text) if https else ("ACM" not in text)
    assert ("URL=https://" in text) == https
    assert ("OutputKey=='ServiceUrl'" in text) == (not https)
    assert ("internal Application Load Balancer" in text) == internal
    assert ("internet-facing Application Load Balancer" in text) == (not internal)
    assert ("inside the VPC" in text) == internal
    assert ("Application Auto Scaling" in text) == autoscaled(options)
    assert ("nothing scales" in text) == (not autoscaled(options))
    if autoscaled(options):
        assert f"between {context['min_tasks']} and {context['max_tasks']}" in text
        assert f"{context['requests_per_target']} requests a minute" in text
    vcpu = f"{context['cpu'] / 1024:g} vCPU"
    assert vcpu in text
    assert f"--platform linux/{'arm64' if context['architecture'] == 'arm64' else 'amd64'}" in text


@pytest.mark.parametrize("options", VARIANTS)
def test_ci_workflow_lints_and_tests(options):
    runs = stacks.ci_workflow_runs(TARGET, options)
    assert runs == [
        "pip install -r requirements-dev.txt",
        "deploygen lint --format sarif --output deploygen-lint.sarif",
        "shellcheck scripts/*.sh",
        "pytest -q",
    ]
