"""Property: every valid SageMaker and ECS option set renders, through deploygen's own renderer,
a project with zero cfn-lint findings of any severity (the Lambda property is in test_lambda_properties)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from generator import frameworks, lint, lint_output
from generator.limits import data_file
from generator.render import render_project
from generator.sagemaker_instances import instance_types
from generator.spec import from_dict
from test_lambda_properties import names

REGIONS = st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"])
ACCOUNT = "123456789012"


@st.composite
def sagemaker_options(draw) -> dict:
    mode = draw(st.sampled_from(["realtime", "serverless", "async"]))
    if mode == "serverless":
        concurrency = draw(st.integers(1, 200))
        return {"mode": mode, "memory_mb": draw(st.sampled_from([1024, 2048, 3072, 4096, 5120, 6144])),
                "max_concurrency": concurrency,
                "provisioned_concurrency": draw(st.none() | st.integers(1, concurrency))}
    low = draw(st.integers(0 if mode == "async" else 1, 5))
    high = draw(st.integers(max(low, 1), 20))
    options = {"mode": mode, "instance_type": draw(st.sampled_from(sorted(instance_types()))),
               "min_instances": low, "max_instances": high, "instances": draw(st.integers(max(low, 1), high)),
               "max_rps": draw(st.floats(0.1, 500))}
    if mode == "async":
        options["output_path"] = draw(st.sampled_from(["s3://my-bucket", "s3://my-bucket/async/results"]))
        options["sns_topics"] = draw(st.sampled_from([None, [f"arn:aws:sns:us-east-1:{ACCOUNT}:done"],
                                                      [f"arn:aws:sns:us-east-1:{ACCOUNT}:done",
                                                       f"arn:aws:sns:us-east-1:{ACCOUNT}:failed"]]))
    return options


@st.composite
def ecs_options(draw, region: str) -> dict:
    sizes = data_file("fargate.yaml")["cpu_memory"]
    cpu = draw(st.sampled_from(sorted(sizes)))
    low = draw(st.integers(1, 5))
    certificate = f"arn:aws:acm:{region}:{ACCOUNT}:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    return {"cpu": cpu, "memory_mb": draw(st.sampled_from(sizes[cpu])),
            "architecture": draw(st.sampled_from(["x86_64", "arm64"])),
            "min_tasks": low, "max_tasks": draw(st.integers(low, 50)),
            "cpu_target": draw(st.integers(1, 100)), "requests_per_target": draw(st.integers(1, 100000)),
            "certificate_arn": draw(st.sampled_from([None, certificate])),
            "internal": draw(st.booleans()), "create_vpc": draw(st.booleans())}


def _lint_rendering(model_path, tmp_path_factory, name, target, region, options) -> None:
    info = frameworks.detect(model_path)
    spec = from_dict({
        "name": name, "target": target, "region": region, target: options,
        "model": {"path": f"model/{info.file_name}", "framework": info.framework, "sha256": info.sha256,
                  "framework_version": info.framework_version, "n_features": info.n_features},
    })
    project = render_project(spec, model_path, info, tmp_path_factory.mktemp("p") / "project").project
    findings = lint.lint_paths([project])
    unsuppressed = [f for f in findings if not f.suppressed]  # a suppression carries its reason
    assert unsuppressed == [], lint_output.text(findings, "")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, options=sagemaker_options(), region=REGIONS)
def test_every_sagemaker_rendering_lints_clean(iris_model, tmp_path_factory, name, options, region):
    _lint_rendering(iris_model, tmp_path_factory, name, "sagemaker", region, options)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, data=st.data(), region=REGIONS)
def test_every_ecs_rendering_lints_clean(iris_model, tmp_path_factory, name, data, region):
    _lint_rendering(iris_model, tmp_path_factory, name, "ecs", region, data.draw(ecs_options(region)))


@pytest.mark.parametrize("target, options", [
    ("lambda", {}), ("sagemaker", {"mode": "realtime"}), ("sagemaker", {"mode": "serverless"}), ("ecs", {}),
])
@pytest.mark.parametrize("name", ["TRUE", "null", "yes", "off", "0x10", "1e3"])
def test_names_that_yaml_reads_as_other_types_stay_strings(iris_model, tmp_path_factory, target, options, name):
    """A name such as `true` must reach the template as a string (hypothesis once found `TRUE`)."""
    _lint_rendering(iris_model, tmp_path_factory, name, target, "us-east-1", options)
