"""ECS options: what `init --target ecs` accepts, and what it refuses before rendering."""

from __future__ import annotations

import pytest
import yaml


EXIT_SPEC = 4
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


def _init_args(model, out, *options):
    return ("init", model, "--target", "ecs", "--output", out, "--region", "us-east-1", *options)


def _init(cli, model, out, *options):
    return cli(*_init_args(model, out, *options))


@pytest.mark.parametrize(
    "options, expected",
    [
        ([], {"cpu": 1024, "memory_mb": 2048, "architecture": "x86_64", "min_tasks": 1, "max_tasks": 4}),
        (["--cpu", "256", "--memory", "512", "--arch", "arm64"], {"cpu": 256, "memory_mb": 512, "architecture": "arm64"}),
        (["--cpu", "16384", "--memory", "122880"], {"cpu": 16384, "memory_mb": 122880}),
        (["--min-tasks", "2", "--max-tasks", "10", "--cpu-target", "50", "--requests-per-target", "600"],
         {"min_tasks": 2, "max_tasks": 10, "cpu_target": 50, "requests_per_target": 600}),
        (["--certificate-arn", CERT, "--internal", "--create-vpc"],
         {"certificate_arn": CERT, "internal": True, "create_vpc": True}),
    ],
)
def test_valid_options_reach_the_spec(cli, iris_model, tmp_path, options, expected):
    result = _init(cli, iris_model, tmp_path / "p", *options)
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((tmp_path / "p" / "deploygen.yaml").read_text())["ecs"]
    assert {key: written[key] for key in expected} == expected


@pytest.mark.parametrize(
    "options, says",
    [
        (["--cpu", "1000"], "256, 512, 1024, 2048, 4096, 8192, 16384"),
        (["--cpu", "1024", "--memory", "1024"], "(--memory) for --cpu 1024 must be one of 2048, 3072"),
        (["--cpu", "256", "--memory", "4096"], "512, 1024, 2048"),
        (["--min-tasks", "0"], "--min-tasks"),
        (["--min-tasks", "5", "--max-tasks", "2"], "--max-tasks"),
        (["--cpu-target", "101"], "from 1 to 100"),
        (["--requests-per-target", "0"], "--requests-per-target"),
        (["--certificate-arn", "arn:aws:iam::123456789012:server-certificate/x"], "ACM certificate ARN"),
        (["--certificate-arn", CERT.replace("us-east-1", "eu-west-1")], "its own region"),
        (["--gpu"], "Fargate has no GPUs"),
        (["--timeout", "30"], "--target lambda"),
        (["--mode", "async"], "--target sagemaker"),
    ],
)
def test_invalid_options_are_refused_before_rendering(cli, iris_model, tmp_path, options, says):
    message = cli.refused(tmp_path, EXIT_SPEC, *_init_args(iris_model, tmp_path / "p", *options))
    assert says in message, message


@pytest.mark.parametrize("target, options, says", [
    ("lambda", [], "Lambda functions have no GPUs"),
    ("sagemaker", ["--mode", "serverless"], "serverless endpoints have no GPUs"),
    ("sagemaker", ["--instance-type", "ml.m5.large"], "has no GPU"),
])
def test_a_gpu_request_points_at_what_can_serve_it(cli, iris_model, tmp_path, target, options, says):
    result = cli("init", iris_model, "--target", target, "--gpu", "--output", tmp_path / "p", *options)
    assert result.exit_code == EXIT_SPEC and says in result.output and "ml.g" in result.output, result.output


def test_sagemaker_accepts_a_gpu_instance_type(cli, iris_model, tmp_path):
    result = cli("init", iris_model, "--target", "sagemaker", "--gpu", "--instance-type", "ml.g5.xlarge",
                 "--output", tmp_path / "p")
    assert result.exit_code == 0, result.output
