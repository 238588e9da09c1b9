"""The cost estimator: AWS's worked examples to the cent, each option's sizing and limits, and its properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from generator import costs, pricing
from generator.errors import PathError, SpecError

PRICES = pricing.load("us-east-1")
HOURS = PRICES.hours_per_month


def traffic(**changes) -> costs.Traffic:
    base = dict(requests_per_month=1e6, peak_rps=5.0, payload_kb=1.0, response_kb=1.0, duration_ms=50.0,
                memory_mb=512.0, load_s=0.5)
    return costs.Traffic(**{**base, **changes})


def context(**changes) -> costs.Context:
    return costs.Context(**{"prices": PRICES, "model_bytes": 1_000_000, **changes})


def by_id(t: costs.Traffic, c: costs.Context) -> dict[str, costs.Estimate]:
    return {e.id: e for e in costs.estimate_all(t, c)}


# --- AWS's worked examples ----------------------------------------------------------------


def test_lambda_pricing_page_example_to_the_cent():
    # aws.amazon.com/lambda/pricing: x86, 1,536 MB, 3 million requests a month at 120 ms, free tier
    # applied -> compute $2.33, requests $0.40, total $2.73.
    e = costs.lambda_option(traffic(requests_per_month=3e6, duration_ms=120, memory_mb=1536),
                            context(free_tier=True), "x86_64", False)
    assert e.parts["compute"] == pytest.approx(2.33, abs=0.005)
    assert e.parts["requests"] == pytest.approx(0.40, abs=0.005)
    assert e.total == pytest.approx(2.73, abs=0.01)
    assert set(e.parts) == {"compute", "requests"}


def test_without_the_free_tier_every_request_and_gb_second_is_billed():
    e = costs.lambda_option(traffic(requests_per_month=3e6, duration_ms=120, memory_mb=1536), context(),
                            "x86_64", False)
    assert e.parts["compute"] == pytest.approx(540_000 * 0.0000166667, abs=0.005)  # $9.00
    assert e.parts["requests"] == pytest.approx(0.60, abs=0.005)


@pytest.mark.parametrize("arch, total, lines", [
    ("x86_64", 1.26, {"vCPU": 1.01, "memory": 0.22, "ephemeral storage": 0.03}),
    ("arm64", 1.02, {"vCPU": 0.81, "memory": 0.18, "ephemeral storage": 0.03}),
])
def test_fargate_pricing_page_example_to_the_cent(arch, total, lines):
    # aws.amazon.com/fargate/pricing: 5 tasks of 1 vCPU and 2 GB with 30 GB of ephemeral storage (20 GB
    # included) running 10 minutes a day for 30 days -> $1.26 on x86 ($1.02 on arm64). Without the 10 GB of
    # extra storage the unit prices give $1.23 ($0.99): the example's total includes it.
    parts = costs.fargate_tasks(PRICES, arch, vcpu=1, memory_gb=2, runs=5 * 30, seconds=600, ephemeral_gb=30)
    assert round(sum(parts.values()), 2) == total
    assert {name: round(value, 2) for name, value in parts.items()} == lines
    assert parts["ephemeral storage"] == pytest.approx(25 * 10 * 0.000111)


def test_fargate_bills_at_least_a_minute_per_task():
    short = costs.fargate_tasks(PRICES, "x86_64", 1, 2, runs=1, seconds=10)
    minute = costs.fargate_tasks(PRICES, "x86_64", 1, 2, runs=1, seconds=60)
    assert short == minute and sum(minute.values()) == pytest.approx((0.04048 + 2 * 0.004445) / 60)


def test_lambda_duration_is_rounded_up_to_the_millisecond_per_request():
    def compute(duration):
        return costs.lambda_option(traffic(duration_ms=duration), context(), "arm64", False).parts["compute"]

    assert compute(100.2) == compute(101) > compute(100)


# --- sizing and limits ----------------------------------------------------------------------


def test_realtime_counts_the_cheapest_instances_for_the_peak():
    # 100 ms a request: a 2-vCPU instance serves 2 x 10 x 0.5 = 10 requests a second; 50 at peak -> 5.
    e = costs.OPTIONS["sagemaker-realtime"](traffic(duration_ms=100, peak_rps=50), context())
    assert e.size == "5 x ml.t2.medium"
    assert e.parts["instances"] == pytest.approx(5 * HOURS * 0.056)
    assert e.parts["data processed"] == pytest.approx(1e6 * 2 / 1024**2 * 0.016)


def test_realtime_takes_a_bigger_type_when_the_workers_do_not_fit():
    # 2 workers x 2 GB + 512 MB is over ml.t2.medium's and ml.c5.large's 4 GB.
    assert costs.OPTIONS["sagemaker-realtime"](traffic(memory_mb=2048), context()).size == "1 x ml.m5.large"


def test_serverless_takes_the_smallest_memory_size_that_holds_the_model():
    assert costs.sagemaker_serverless(traffic(memory_mb=1500), context()).size == "2048 MB"
    too_big = costs.sagemaker_serverless(traffic(memory_mb=7000), context())
    assert too_big.ruled_out == ["memory: the model needs 7000 MB, serverless offers at most 6144 MB"]


def test_serverless_concurrency_limit():
    e = costs.sagemaker_serverless(traffic(peak_rps=1000, duration_ms=500), context())
    assert e.ruled_out == ["concurrency: the peak needs 500 at once, serverless allows 200"]


def test_lcus_follow_the_largest_dimension():
    # 10 requests a second on average, 1 MB in and out: 72 GB an hour processed -> 72 LCUs, above the
    # 0.4 LCU of new connections.
    rate = 10
    t = traffic(requests_per_month=rate * HOURS * 3600, peak_rps=30, payload_kb=512, response_kb=512)
    e = costs.fargate(t, context(), "x86_64")
    assert e.parts["load balancer LCUs"] == pytest.approx(HOURS * rate * 3600 / 1024 * 0.008)
    assert e.parts["load balancer hours"] == pytest.approx(HOURS * 0.0225)


def test_payload_limits_rule_options_out():
    five_mb = by_id(traffic(payload_kb=5 * 1024), context())
    assert five_mb["sagemaker-serverless"].ruled_out == ["payload: 5.0 MB is over SageMaker serverless's 4 MB"]
    assert five_mb["lambda-arm64"].fits and five_mb["fargate-arm64"].fits
    seven_mb = by_id(traffic(payload_kb=7 * 1024), context())
    assert [e for e in seven_mb.values() if e.fits] == [seven_mb["sagemaker-async"]]
    assert costs.choose(list(seven_mb.values())).id == "sagemaker-async"  # nothing synchronous fits


def test_timeouts_rule_options_out():
    slow = by_id(traffic(duration_ms=120_000, peak_rps=0.1, requests_per_month=1000), context())
    assert slow["lambda-x86_64"].fits and slow["sagemaker-async"].fits
    assert slow["sagemaker-realtime"].ruled_out == ["timeout: a 120 s request is over SageMaker real-time's 60 s"]


def test_gpu_leaves_only_instances_with_gpus():
    options = by_id(traffic(), context(gpu=True))
    assert {e.id for e in options.values() if e.fits} == {"sagemaker-realtime", "sagemaker-async"}
    assert options["sagemaker-realtime"].size == "1 x ml.g4dn.xlarge"
    assert "GPU: Lambda has none" in options["lambda-arm64"].ruled_out


def test_a_model_over_lambdas_image_limit_is_ruled_out_there():
    options = by_id(traffic(), context(model_bytes=11 * 1024**3))
    assert options["lambda-x86_64"].ruled_out[0].startswith("image size: the model alone is 11.0 GB")


def test_async_scales_to_zero_and_bills_the_hours_an_instance_is_up():
    rare = costs.OPTIONS["sagemaker-async"](traffic(requests_per_month=100, peak_rps=1), context())
    rate = 100 / (HOURS * 3600)
    assert rare.parts["instances"] == pytest.approx(HOURS * (1 - math.exp(-rate * 600)) * 0.056)
    steady = costs.OPTIONS["sagemaker-async"](traffic(requests_per_month=1e7, peak_rps=10), context())
    assert steady.parts["instances"] == pytest.approx(HOURS * 0.056, rel=1e-3)  # never idle for 10 minutes
    assert not rare.synchronous and costs.idle_cost("sagemaker-async", traffic(), context()) == 0


def test_async_cooldown_is_the_generated_endpoints(cli, iris_model, tmp_path):
    project = tmp_path / "p"
    cli("init", iris_model, "--target", "sagemaker", "--mode", "async", "--output-path", "s3://bucket/out",
        "--output", project)
    template = (project / "infra" / "template.yaml").read_text()
    assert f"ScaleInCooldown: {costs.ASYNC_SCALE_IN_S}" in template


@pytest.mark.parametrize("key, value, message", [
    ("requests_per_month", -5, "--requests-per-month must be a number 0 or more"),
    ("requests_per_month", 1e15, "at most 100,000,000,000"),
    ("peak_rps", float("nan"), "--peak-rps must be a number above 0"),
    ("duration_ms", 0, "--duration-ms must be a number above 0"),
    ("memory_mb", float("inf"), "--memory-mb must be a number above 0"),
    ("payload_kb", True, "--payload-kb must be a number"),
])
def test_values_out_of_range_are_refused(key, value, message):
    with pytest.raises(SpecError, match=message.replace("+", r"\+")):
        costs.check_traffic(traffic(**{key: value}), HOURS)


def test_a_peak_below_the_average_is_refused():
    with pytest.raises(SpecError, match="--peak-rps 1 is below the average rate of 10,000,000 requests a month"):
        costs.check_traffic(traffic(requests_per_month=1e7, peak_rps=1), HOURS)


def test_pricing_file_errors(tmp_path):
    with pytest.raises(PathError, match="does not exist"):
        pricing.load("us-east-1", tmp_path / "none.yaml")
    with pytest.raises(SpecError, match=r"no prices for region eu-west-1 in generator/data/prices.yaml \(it has: us-east-1\)"):
        pricing.load("eu-west-1")
    import yaml

    data = yaml.safe_load((pricing.Path(costs.__file__).parent / "data" / "prices.yaml").read_text())
    del data["regions"]["us-east-1"]["lambda"]["gb_second"]["arm64"]
    broken = tmp_path / "prices.yaml"
    broken.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=f"pricing file {broken} has no price lambda.gb_second.arm64 in us-east-1"):
        pricing.load("us-east-1", broken)
    data["regions"]["us-east-1"]["lambda"]["gb_second"]["arm64"] = "cheap"
    broken.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="has 'cheap', not a price, for lambda.gb_second.arm64"):
        pricing.load("us-east-1", broken)


def test_a_pricing_file_with_other_prices_changes_the_estimate(tmp_path):
    import yaml

    data = yaml.safe_load((pricing.Path(costs.__file__).parent / "data" / "prices.yaml").read_text())
    data["regions"]["eu-west-1"] = data["regions"]["us-east-1"]
    data["regions"]["eu-west-1"]["lambda"]["requests_per_million"] = 0.40
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(data))
    e = costs.lambda_option(traffic(), context(prices=pricing.load("eu-west-1", path)), "arm64", False)
    assert e.parts["requests"] == pytest.approx(0.40)


# --- properties -------------------------------------------------------------------------------

volumes = st.floats(0, 1e9)
durations = st.floats(0.05, 5000)
memories = st.floats(64, 12_000)
GROWS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _traffic(requests, duration, memory, peak=None):
    return traffic(requests_per_month=requests, duration_ms=duration, memory_mb=memory,
                   peak_rps=peak or max(1.0, 3 * requests / (HOURS * 3600)))


@GROWS
@given(requests=volumes, more=st.floats(0, 1e9), duration=durations, memory=memories,
       which=st.sampled_from(["requests", "duration", "memory"]), grow=st.floats(1, 10), free_tier=st.booleans())
def test_cost_never_falls_when_requests_duration_or_memory_grow(requests, more, duration, memory, which, grow,
                                                                free_tier):
    c = context(free_tier=free_tier)
    bigger = {"requests": (requests + more, duration, memory), "duration": (requests, duration * grow, memory),
              "memory": (requests, duration, memory * grow)}[which]
    peak = max(1.0, 3 * max(requests, bigger[0]) / (HOURS * 3600))  # the same peak on both sides
    small, large = by_id(_traffic(requests, duration, memory, peak), c), by_id(_traffic(*bigger, peak), c)
    for option, estimate in small.items():
        if estimate.fits and large[option].fits:
            assert large[option].total >= estimate.total - 1e-9, option


@GROWS
@given(requests=volumes, duration=durations, memory=memories, payload=st.floats(0.01, 10_000),
       gpu=st.booleans(), model_gb=st.floats(0, 12))
def test_only_an_option_that_fits_is_recommended_and_it_is_the_cheapest_synchronous_one(
        requests, duration, memory, payload, gpu, model_gb):
    t = costs.Traffic(requests, max(1.0, 3 * requests / (HOURS * 3600)), payload, 1.0, duration, memory)
    estimates = costs.estimate_all(t, context(gpu=gpu, model_bytes=int(model_gb * 1024**3)))
    best = costs.choose(estimates)
    fitting = [e for e in estimates if e.fits]
    if not fitting:
        assert best is None
        return
    assert best.fits
    synchronous = [e for e in fitting if e.synchronous]
    assert best.total == min(e.total for e in (synchronous or fitting))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(duration=st.floats(1, 2000), memory=st.floats(128, 4000), peak=st.floats(0.1, 50),
       option=st.sampled_from(["sagemaker-realtime", "fargate-x86_64", "fargate-arm64", "lambda-arm64-provisioned"]))
def test_break_even_is_where_the_curves_cross(duration, memory, peak, option):
    t, c = _traffic(1e5, duration, memory, peak), context()

    def cheaper(volume):
        mine, lam = costs.OPTIONS[option](t.at(volume, HOURS), c), costs.OPTIONS["lambda-x86_64"](t.at(volume, HOURS), c)
        return mine.fits and mine.total <= lam.total

    volume = costs.break_even(option, "lambda-x86_64", t, c)
    if volume is None:  # dearer at every volume on the grid
        assert not any(cheaper(10 ** (2 + k / costs.GRID)) for k in range(0, 9 * costs.GRID + 1, 7))
    elif volume > costs.SWEEP[0]:
        assert cheaper(volume) and not cheaper(volume * (1 - 1e-7))
    else:
        assert cheaper(costs.SWEEP[0])


def test_a_known_break_even():
    # Steady traffic (peak 1.05x the average), 200 ms at 1 GB. x86 Lambda: 0.2 GB-s and a request,
    # $3.5333 a million. One ml.t2.medium ($40.88 a month) serves 2 vCPU x 5 x 0.5 = 5 requests a second
    # at peak, so it is still one instance where the two cross; it adds $0.016 a GB of data (2 KB each).
    t, c = traffic(duration_ms=200, memory_mb=1024, requests_per_month=1e7, peak_rps=4), context()
    lambda_each = 0.2 * 0.0000166667 + 0.2e-6
    data_each = 2 / 1024**2 * 0.016
    volume = costs.break_even("sagemaker-realtime", "lambda-x86_64", t, c)
    assert volume == pytest.approx(HOURS * 0.056 / (lambda_each - data_each), rel=1e-6)
    assert costs.OPTIONS["sagemaker-realtime"](t.at(volume, HOURS), c).size == "1 x ml.t2.medium"
