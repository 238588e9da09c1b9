"""SageMaker options: what `init --target sagemaker` accepts, and what it refuses before rendering."""

from __future__ import annotations

import pytest
import yaml


EXIT_SPEC = 4
TOPIC = "arn:aws:sns:us-east-1:123456789012:model-results"


def _init_args(model, out, *options):
    return ("init", model, "--target", "sagemaker", "--output", out, *options)


def _init(cli, model, out, *options):
    return cli(*_init_args(model, out, *options))


@pytest.mark.parametrize(
    "options, expected",
    [
        ([], {"mode": "realtime", "instance_type": "ml.m5.large", "min_instances": 1, "max_instances": 2}),
        (["--mode", "serverless", "--memory", "6144", "--max-concurrency", "200", "--provisioned-concurrency", "200"],
         {"mode": "serverless", "memory_mb": 6144, "max_concurrency": 200, "provisioned_concurrency": 200}),
        (["--mode", "async", "--output-path", "s3://my-bucket/async", "--sns-topics", f"{TOPIC},{TOPIC}-errors"],
         {"mode": "async", "min_instances": 0, "sns_topics": [TOPIC, f"{TOPIC}-errors"]}),
        (["--instance-type", "ml.c7g.large", "--instances", "2", "--max-instances", "4",
          "--max-rps", "25"],
         {"architecture": "arm64", "instances": 2, "max_instances": 4, "max_rps": 25.0}),
    ],
)
def test_valid_options_reach_the_spec(cli, iris_model, tmp_path, options, expected):
    result = _init(cli, iris_model, tmp_path / "p", *options)
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((tmp_path / "p" / "deploygen.yaml").read_text())["sagemaker"]
    assert {key: written[key] for key in expected} == expected


@pytest.mark.parametrize(
    "options, says",
    [
        (["--mode", "serverless", "--memory", "1000"], "1024, 2048, 3072, 4096, 5120, 6144"),
        (["--mode", "serverless", "--memory", "7168"], "1024, 2048, 3072, 4096, 5120, 6144"),
        (["--mode", "serverless", "--max-concurrency", "0"], "from 1 to 200"),
        (["--mode", "serverless", "--max-concurrency", "201"], "from 1 to 200"),
        (["--mode", "serverless", "--max-concurrency", "5", "--provisioned-concurrency", "6"], "from 1 to 5"),
        (["--mode", "serverless", "--arch", "arm64"], "x86_64 only"),
        (["--mode", "serverless", "--instance-type", "ml.m5.large"], "--mode realtime or async"),
        (["--instance-type", "ml.m5.huge"], "ml.m5.large"),
        (["--instance-type", "ml.m5.large", "--arch", "arm64"], "Graviton"),
        (["--instance-type", "ml.c7g.large", "--arch", "x86_64"], "--arch"),
        (["--min-instances", "0"], "--min-instances"),
        (["--min-instances", "3", "--max-instances", "2"], "--max-instances"),
        (["--instances", "5", "--max-instances", "2"], "--instances"),
        (["--max-rps", "0"], "above 0"),
        (["--memory", "2048"], "--mode serverless"),
        (["--mode", "async"], "--output-path"),
        (["--mode", "async", "--output-path", "my-bucket/x"], "s3://"),
        (["--mode", "async", "--output-path", "s3://b-1/x", "--sns-topics", "not-an-arn"], "SNS topic ARN"),
        (["--timeout", "30"], "--target lambda"),
    ],
)
def test_out_of_range_options_are_refused_before_rendering(cli, iris_model, tmp_path, options, says):
    message = cli.refused(tmp_path, EXIT_SPEC, *_init_args(iris_model, tmp_path / "p", *options))
    assert says in message, message


def test_a_model_larger_than_the_instance_memory_is_refused(cli, tmp_path):
    from generator import frameworks, spec as specs, targets
    from generator.errors import SpecError

    info = frameworks.ModelInfo(framework="custom", file_name="model.bin", sha256="0" * 64, size_bytes=3 * 1024**3)
    spec = specs.from_dict({"name": "big", "target": "sagemaker", "model": {
        "path": "model/model.bin", "framework": "custom", "sha256": "0" * 64},
        "sagemaker": {"mode": "serverless", "memory_mb": 2048}})
    with pytest.raises(SpecError, match="raise --memory"):
        targets.check_fit(spec, info.size_bytes)
