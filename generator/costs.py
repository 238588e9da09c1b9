"""What serving a model costs a month on each deploy option, whether it fits, and where the options cross.

Every figure comes from the unit prices (pricing.Prices), the AWS limits (data/limits.yaml) and the
traffic. The sizing rules, in one place:
- Lambda and SageMaker serverless get the memory the traffic says the model needs (serverless: the
  smallest size offered that holds it); duration is billed per 1 ms, rounded up per request.
- Instances and Fargate tasks run one server worker per whole vCPU, each holding the model, plus
  512 MB (SageMaker) or 256 MB (Fargate) for the rest; the cheapest size that holds that wins.
- They are counted for the peak: one vCPU serves 1000 / duration requests a second, and AWS's
  load-test advice runs at half of that (limits.yaml, load_test_safety_factor), so a count is
  peak / (vCPUs x 1000 / duration x 0.5), rounded up, at least the minimum the project keeps.
- The load balancer's LCUs come from the average rate, each request on its own connection.
- An async endpoint that scales to zero keeps an instance up from a request until the scale-in
  cooldown passes with no request: with requests arriving at random at the average rate, the
  share of the month an instance is up is the chance of a request within one cooldown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from .errors import SpecError
from .limits import data_file, limit
from .pricing import Prices
from .sagemaker_instances import instance_types
from .targets import service_limits

KB_PER_GB = 1024 * 1024
MB = 1024 * 1024
SAFETY = limit("sagemaker", "load_test_safety_factor")["value"]
INSTANCE_OVERHEAD_MB = 512  # the OS and SageMaker's agents beside the server workers
TASK_OVERHEAD_MB = 256  # the container's own processes beside the server workers
ASYNC_SCALE_IN_S = 600  # the generated async endpoint's ScaleInCooldown (test_compare checks the template)
ALB_ADDRESSES = 2  # an internet-facing load balancer has a public IPv4 address in each of its two AZs
MAX_REQUESTS = 1e11  # a month: about 38,000 requests a second on average, beyond what these estimates model
MAX_PEAK_RPS = 1e6
SWEEP = (100.0, MAX_REQUESTS)
GRID = 100  # volumes a decade that break_even looks at
PEAK_TO_AVERAGE = 3  # the assumed peak, and the least the peak is when the volume grows  # the volumes break-even points are looked for between


@dataclass(frozen=True)
class Traffic:
    """The load an option is sized and priced for."""

    requests_per_month: float
    peak_rps: float
    payload_kb: float  # request body
    response_kb: float
    duration_ms: float  # one request, on one full vCPU
    memory_mb: float  # what the model's process needs (Lambda is configured with this)
    load_s: float | None = None  # model load: the cold start where an option has them; None when unknown

    def at(self, requests: float, hours_per_month: float = 730) -> "Traffic":
        """The same traffic at another monthly volume: the peak stays, or grows with the average where that
        is more, at the peak's multiple of the average here (at most PEAK_TO_AVERAGE: a tiny volume's
        peak of one request a second says nothing of the shape of a large one)."""
        peak = max(self.peak_rps, self.shape(hours_per_month) * requests / (hours_per_month * 3600))
        return replace(self, requests_per_month=requests, peak_rps=peak)

    def shape(self, hours_per_month: float) -> float:
        """The multiple of the average rate the peak keeps as the volume grows (see at)."""
        average = self.requests_per_month / (hours_per_month * 3600)
        return min(PEAK_TO_AVERAGE, self.peak_rps / average) if average else PEAK_TO_AVERAGE


FLAG_NAMES = {"requests_per_month": "--requests-per-month", "peak_rps": "--peak-rps", "payload_kb": "--payload-kb",
              "response_kb": "the response size", "duration_ms": "--duration-ms", "memory_mb": "--memory-mb"}
SPEC_NAMES = {key: f"traffic.{key}" for key in FLAG_NAMES}
BOUNDS = {  # key -> (zero allowed, largest)
    "requests_per_month": (True, MAX_REQUESTS), "peak_rps": (False, MAX_PEAK_RPS), "payload_kb": (False, 1024 * 1024),
    "response_kb": (True, 1024 * 1024), "duration_ms": (False, 3_600_000), "memory_mb": (False, 1024 * 1024),
}


def check_value(key: str, value: Any, names: dict[str, str] = FLAG_NAMES) -> None:
    """A SpecError naming the option (or spec field) when value is not a number in key's range."""
    zero_ok, high = BOUNDS[key]
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value < 0 or (value == 0 and not zero_ok) or value > high:
        low = "0 or more" if zero_ok else "above 0"
        raise SpecError(f"{names[key]} must be a number {low} and at most {high:,.0f} (got {value!r})")


def check_traffic(t: Traffic, hours_per_month: float, names: dict[str, str] = FLAG_NAMES) -> Traffic:
    """t, or a SpecError naming the value out of range and the option (or spec field) that sets it."""
    for key in BOUNDS:
        check_value(key, getattr(t, key), names)
    average = t.requests_per_month / (hours_per_month * 3600)
    if t.peak_rps < average:
        raise SpecError(f"{names['peak_rps']} {t.peak_rps:g} is below the average rate of {t.requests_per_month:,.0f} "
                        f"requests a month ({average:.3g} a second): raise it or lower the volume")
    return t


@dataclass
class Estimate:
    id: str  # e.g. lambda-arm64-provisioned
    label: str  # e.g. "Lambda arm64, provisioned"
    target: str  # the deploygen target that renders it
    size: str  # what is billed for, e.g. "2 x ml.m5.large"
    parts: dict[str, float]  # line item -> USD a month
    ruled_out: list[str] = field(default_factory=list)  # the limits that rule it out; empty: it fits
    cold_start: str = ""
    cold_start_s: float | None = None
    always_on: bool = False  # billed with no traffic at all
    synchronous: bool = True  # answers the HTTP request itself (async endpoints answer through S3)
    this_project: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.ruled_out

    @property
    def total(self) -> float:
        return sum(self.parts.values())


@dataclass(frozen=True)
class Context:
    """What every option is estimated against besides the traffic."""

    prices: Prices
    model_bytes: int
    gpu: bool = False
    free_tier: bool = False
    spec: Any = None  # the project's ProjectSpec: its own target is sized as configured

    @property
    def hours(self) -> float:
        return self.prices.hours_per_month

    def pinned(self, target: str) -> Any:
        """The project's options when target is its own, else None."""
        return self.spec.options if self.spec is not None and self.spec.target == target else None


def _billed_ms(duration_ms: float) -> int:
    return math.ceil(round(duration_ms, 6))


def _data_gb(t: Traffic) -> float:
    return t.requests_per_month * (t.payload_kb + t.response_kb) / KB_PER_GB


def _limits(e: Estimate, t: Traffic, payload_max: int, timeout_s: float, where: str) -> None:
    biggest = max(t.payload_kb, t.response_kb) * 1024
    if biggest > payload_max:
        e.ruled_out.append(f"payload: {biggest / MB:.1f} MB is over {where}'s {payload_max / MB:g} MB")
    if t.duration_ms / 1000 > timeout_s:
        e.ruled_out.append(f"timeout: a {t.duration_ms / 1000:g} s request is over {where}'s {timeout_s:g} s")


def _cold(t: Traffic, plus: str) -> tuple[str, float | None]:
    if t.load_s is None:
        return f"model load (not measured) + {plus}", None
    return f"{t.load_s:.2f} s model load + {plus}", t.load_s


# --- Lambda ---------------------------------------------------------------------------------


def lambda_option(t: Traffic, c: Context, arch: str, provisioned: bool) -> Estimate:
    p, opts = c.prices, c.pinned("lambda")
    memory = max(128, math.ceil(opts.memory_mb if opts else t.memory_mb))
    e = Estimate(f"lambda-{arch}" + ("-provisioned" if provisioned else ""),
                 f"Lambda {arch}" + (", provisioned" if provisioned else ""), "lambda", f"{memory} MB", {})
    e.this_project = bool(opts) and opts.architecture == arch and bool(opts.provisioned_concurrency) == provisioned
    billed_s = t.requests_per_month * _billed_ms(t.duration_ms) / 1000
    gb_s = billed_s * memory / 1024
    requests = t.requests_per_month
    if provisioned:
        concurrency = max(math.ceil(t.peak_rps * t.duration_ms / 1000),
                          (opts.provisioned_concurrency or {}).get("min", 1) if opts else 1)
        e.size += f", {concurrency} warm"
        e.parts["provisioned capacity"] = (concurrency * memory / 1024 * c.hours * 3600
                                           * p(f"lambda.provisioned_gb_second.{arch}"))
        e.parts["compute"] = gb_s * p(f"lambda.provisioned_duration_gb_second.{arch}")
        e.always_on, e.cold_start = True, f"none up to {concurrency} at once"
    else:
        if c.free_tier:
            gb_s = max(0.0, gb_s - p("lambda.free_tier.gb_seconds"))
            requests = max(0.0, requests - p("lambda.free_tier.requests"))
        e.parts["compute"] = gb_s * p(f"lambda.gb_second.{arch}")
        e.cold_start, e.cold_start_s = _cold(t, "image start")
    e.parts["requests"] = requests * p("lambda.requests_per_million") / 1e6
    ephemeral = opts.ephemeral_storage_mb if opts else 512
    if ephemeral > 512:
        e.parts["ephemeral storage"] = billed_s * (ephemeral - 512) / 1024 * p("lambda.ephemeral_gb_second")
    front = opts.front if opts else "url"
    if front == "http-api":
        steps = math.ceil(t.payload_kb / p("api_gateway.http_api_metering_kb"))
        e.parts["HTTP API requests"] = t.requests_per_month * steps * p("api_gateway.http_api_requests_per_million") / 1e6
    if opts and t.memory_mb > memory:
        e.ruled_out.append(f"memory: the model needs {t.memory_mb:.0f} MB, the function has {memory} MB: raise --memory")
    if memory > limit("lambda", "memory_mb")["max"]:
        e.ruled_out.append(f"memory: {memory} MB is over Lambda's {limit('lambda', 'memory_mb')['max']} MB")
    image_max = limit("lambda", "image_size_bytes")["max"]
    if c.model_bytes >= image_max:
        e.ruled_out.append(f"image size: the model alone is {c.model_bytes / 1024**3:.1f} GB, "
                           f"Lambda images are limited to {image_max / 1024**3:g} GB")
    timeout = limit("lambda", "http_api_timeout_s")["max"] if front == "http-api" else None
    _limits(e, t, *service_limits("lambda", lambda_timeout_s=timeout or (opts.timeout_s if opts else None)),
            "Lambda" + (" behind an HTTP API" if timeout else ""))
    if c.gpu:
        e.ruled_out.append("GPU: Lambda has none")
    return e


# --- SageMaker ------------------------------------------------------------------------------


def _capacity_rps(vcpu: float, t: Traffic) -> float:
    return vcpu * 1000 / t.duration_ms * SAFETY


def _instance_plans(t: Traffic, c: Context, min_count: int, only: str | None) -> list[tuple[float, str, int]]:
    """(cost a month, type, count) for every priced instance type that holds the model, cheapest first."""
    plans = []
    for name, hourly in c.prices.instance_hour.items():
        figures = instance_types().get(name)
        if figures is None or (only and name != only) or (c.gpu and not figures["gpus"]):
            continue
        workers = max(1, int(figures["vcpu"]))
        if t.memory_mb * workers + INSTANCE_OVERHEAD_MB > figures["memory_gib"] * 1024:
            continue
        count = max(min_count, math.ceil(t.peak_rps / _capacity_rps(figures["vcpu"], t)))
        plans.append((count * c.hours * hourly, name, count))
    return sorted(plans)


def _instance_option(t: Traffic, c: Context, mode: str) -> Estimate:
    opts = c.pinned("sagemaker")
    own = opts is not None and opts.mode == mode
    only = opts.instance_type if own and opts.instance_type in c.prices.instance_hour else None
    floor = opts.min_instances if own and opts.min_instances is not None else (1 if mode == "realtime" else 0)
    label = {"realtime": "SageMaker real-time", "async": "SageMaker async"}[mode]
    e = Estimate(f"sagemaker-{mode}", label, "sagemaker", "", {}, this_project=own)
    if own and only is None:
        e.notes.append(f"{opts.instance_type} has no price in {c.prices.file}: priced as the cheapest type that fits")
    quota = limit("sagemaker", "instances")["max"]
    plans = _instance_plans(t, c, max(floor, 1), only)
    if not plans:
        largest = max(v["memory_gib"] for k, v in instance_types().items() if k in c.prices.instance_hour)
        if only:
            e.ruled_out.append(f"memory: {only} does not hold {t.memory_mb:.0f} MB for each of its workers "
                               "(one a vCPU): choose a larger --instance-type")
        else:
            e.ruled_out.append(f"memory: no priced instance type holds {t.memory_mb:.0f} MB per worker "
                               f"(largest: {largest:g} GB)" + (" with a GPU" if c.gpu else ""))
        return e
    cost, name, count = next((plan for plan in plans if plan[2] <= quota), plans[0])
    if count > quota:
        e.ruled_out.append(f"instances: the peak needs {count}, over the quota of {quota}")
    if mode == "realtime":
        e.size, e.always_on, e.cold_start = f"{count} x {name}", True, "none (always on)"
        e.parts["instances"] = cost
    else:  # scales to zero; an instance, once up, stays until no request came for the scale-in cooldown
        busy_hours = t.requests_per_month * t.duration_ms / 1000 / 3600 / (instance_types()[name]["vcpu"] * SAFETY)
        rate = t.requests_per_month / (c.hours * 3600)
        up_hours = c.hours * (1 - math.exp(-rate * ASYNC_SCALE_IN_S))  # P(a request within a cooldown), Poisson
        hours = max(floor * c.hours, min(count * c.hours, max(up_hours, busy_hours)))
        e.size = f"<= {count} x {name}, {hours:,.0f} h"
        e.parts["instances"] = hours * c.prices.instance_hour[name]
        e.synchronous, e.always_on = False, floor > 0
        e.cold_start = "minutes from zero (a new instance starts, then the model loads)"
    e.parts["data processed"] = _data_gb(t) * c.prices("sagemaker.data_processed_gb")
    _limits(e, t, *service_limits("sagemaker", mode), label)
    return e


def sagemaker_serverless(t: Traffic, c: Context) -> Estimate:
    opts = c.pinned("sagemaker")
    mine = opts is not None and opts.mode == "serverless"
    sizes = limit("sagemaker", "serverless_memory_mb")["allowed"]
    memory = opts.memory_mb if mine else next((size for size in sizes if size >= t.memory_mb), None)
    e = Estimate("sagemaker-serverless", "SageMaker serverless", "sagemaker", f"{memory} MB", {}, this_project=mine)
    if memory is None or memory < t.memory_mb:
        most = f"the endpoint has {memory} MB: raise --memory" if mine else f"serverless offers at most {max(sizes)} MB"
        e.ruled_out.append(f"memory: the model needs {t.memory_mb:.0f} MB, {most}")
        memory = memory or max(sizes)
        e.size = f"{memory} MB"
    concurrency = math.ceil(t.peak_rps * t.duration_ms / 1000)
    most = limit("sagemaker", "serverless_max_concurrency")["max"]
    if concurrency > most:
        e.ruled_out.append(f"concurrency: the peak needs {concurrency} at once, serverless allows {most}")
    e.parts["compute"] = (t.requests_per_month * _billed_ms(t.duration_ms) / 1000 * memory / 1024
                          * c.prices("sagemaker.serverless_gb_second"))
    e.parts["data processed"] = _data_gb(t) * c.prices("sagemaker.data_processed_gb")
    e.cold_start, e.cold_start_s = _cold(t, "container start")
    _limits(e, t, *service_limits("sagemaker", "serverless"), "SageMaker serverless")
    if c.gpu:
        e.ruled_out.append("GPU: serverless endpoints have none")
    return e


# --- ECS on Fargate -------------------------------------------------------------------------


def fargate(t: Traffic, c: Context, arch: str) -> Estimate:
    p, opts = c.prices, c.pinned("ecs")
    mine = opts is not None and opts.architecture == arch
    floor = opts.min_tasks if opts else 1
    fargate_sizes = data_file("fargate.yaml")
    per_vcpu, per_gb = p(f"fargate.vcpu_hour.{arch}"), p(f"fargate.gb_hour.{arch}")
    tasks_public = not opts or opts.create_vpc  # the stack's own VPC gives tasks public IPs; an existing one a NAT
    per_task = p("vpc.public_ipv4_hour") if tasks_public else 0.0  # chosen on the whole cost, addresses too
    best = None
    for cpu, memories in fargate_sizes["cpu_memory"].items():
        if arch == "arm64" and cpu not in fargate_sizes["arm64_cpu"]:
            continue
        vcpu = cpu / 1024
        tasks = max(floor, math.ceil(t.peak_rps / _capacity_rps(vcpu, t)))
        for memory in memories:
            if (mine and (cpu, memory) != (opts.cpu, opts.memory_mb)
                    or t.memory_mb * max(1, int(vcpu)) + TASK_OVERHEAD_MB > memory):
                continue
            candidate = (tasks * (vcpu * per_vcpu + memory / 1024 * per_gb + per_task), cpu, memory, tasks)
            best = candidate if best is None else min(best, candidate)
    e = Estimate(f"fargate-{arch}", f"ECS Fargate {arch}", "ecs", "", {}, always_on=True, this_project=mine,
                 cold_start="none (always on)")
    if best is None:
        e.ruled_out.append(f"memory: no Fargate task size holds {t.memory_mb:.0f} MB per worker"
                           + (" as configured" if mine else ""))
        return e
    _, cpu, memory, tasks = best
    e.size = f"{tasks} x {cpu / 1024:g} vCPU, {memory / 1024:g} GB"
    e.parts["compute"] = sum(fargate_tasks(p, arch, cpu / 1024, memory / 1024, tasks, c.hours * 3600).values())
    internal = bool(opts and opts.internal)
    e.parts["load balancer hours"] = c.hours * p("elb.alb_hour")
    e.parts["load balancer LCUs"] = c.hours * _lcus(t, c) * p("elb.lcu_hour")
    addresses = (0 if internal else ALB_ADDRESSES) + (tasks if tasks_public else 0)
    e.parts["public IPv4"] = addresses * c.hours * p("vpc.public_ipv4_hour")
    if not tasks_public:
        e.notes.append("tasks in private subnets reach ECR through a NAT gateway or VPC endpoints, not priced here")
    if tasks > limit("ecs", "tasks_per_service")["max"]:
        e.ruled_out.append(f"tasks: the peak needs {tasks}, over {limit('ecs', 'tasks_per_service')['max']} per service")
    _limits(e, t, *service_limits("ecs"), "the model server behind the load balancer")
    if c.gpu:
        e.ruled_out.append("GPU: Fargate has none")
    return e


def fargate_tasks(p: Prices, arch: str, vcpu: float, memory_gb: float, runs: int, seconds: float,
                  ephemeral_gb: float = 20) -> dict[str, float]:
    """Fargate's charge for runs task runs of seconds each: per second, at least a minute, by vCPU, memory and storage."""
    hours = runs * max(60, math.ceil(seconds)) / 3600
    parts = {"vCPU": hours * vcpu * p(f"fargate.vcpu_hour.{arch}"), "memory": hours * memory_gb * p(f"fargate.gb_hour.{arch}")}
    if ephemeral_gb > 20:
        parts["ephemeral storage"] = hours * (ephemeral_gb - 20) * p("fargate.ephemeral_gb_hour")
    return parts


def _lcus(t: Traffic, c: Context) -> float:
    """Average LCUs: the largest dimension, each request on a new connection (no keep-alive)."""
    rate = t.requests_per_month / (c.hours * 3600)
    lcu = c.prices.services["elb"]["lcu"]
    return max(rate / lcu["new_connections_per_s"],
               rate * t.duration_ms / 1000 / lcu["active_connections_per_min"],
               rate * 3600 * (t.payload_kb + t.response_kb) / KB_PER_GB / lcu["processed_gb_per_hour"])


# --- all options, the recommendation, break-even -------------------------------------------


OPTIONS: dict[str, Callable[[Traffic, Context], Estimate]] = {
    "lambda-x86_64": lambda t, c: lambda_option(t, c, "x86_64", False),
    "lambda-arm64": lambda t, c: lambda_option(t, c, "arm64", False),
    "lambda-x86_64-provisioned": lambda t, c: lambda_option(t, c, "x86_64", True),
    "lambda-arm64-provisioned": lambda t, c: lambda_option(t, c, "arm64", True),
    "sagemaker-realtime": lambda t, c: _instance_option(t, c, "realtime"),
    "sagemaker-serverless": sagemaker_serverless,
    "sagemaker-async": lambda t, c: _instance_option(t, c, "async"),
    "fargate-x86_64": lambda t, c: fargate(t, c, "x86_64"),
    "fargate-arm64": lambda t, c: fargate(t, c, "arm64"),
}
ON_DEMAND_LAMBDA = ("lambda-x86_64", "lambda-arm64")
WEIGHT = {  # operational weight, one sentence per target
    "lambda": "Lambda is the least to run: no servers or scaling to manage, a new environment per concurrent request.",
    "sagemaker": "SageMaker manages the endpoint (instances, health, model versions) but you choose and scale "
                 "its instances.",
    "ecs": "ECS is the most to run: a load balancer, a service and its scaling are yours to watch, "
           "in exchange for the most control.",
}


def estimate_all(t: Traffic, c: Context) -> list[Estimate]:
    return [build(t, c) for build in OPTIONS.values()]


def choose(estimates: list[Estimate]) -> Estimate | None:
    """The cheapest option that fits and answers synchronously (async only when nothing else fits)."""
    fitting = [e for e in estimates if e.fits]
    pool = [e for e in fitting if e.synchronous] or fitting
    return min(pool, key=lambda e: (e.total, e.always_on, e.id)) if pool else None


def break_even(option: str, baseline: str, t: Traffic, c: Context) -> float | None:
    """The smallest monthly volume at which option costs no more than baseline (peak scaled with the volume).

    Looked for on a grid of 100 volumes a decade (a window of cheapness narrower than one step, 2.3 %,
    between two instance-count steps can be missed), refined by bisection where the sign changes; None
    when option is dearer at every grid volume in SWEEP, and SWEEP[0] when it is cheaper there already.
    """
    def cheaper(volume: float) -> bool:
        mine, theirs = OPTIONS[option](t.at(volume, c.hours), c), OPTIONS[baseline](t.at(volume, c.hours), c)
        return mine.fits and mine.total <= theirs.total

    low_exp, high_exp = math.log10(SWEEP[0]), math.log10(SWEEP[1])
    grid = [10 ** (low_exp + k / GRID) for k in range(round((high_exp - low_exp) * GRID) + 1)]
    if cheaper(grid[0]):
        return grid[0]
    for below, above in zip(grid, grid[1:]):
        if cheaper(above):
            for _ in range(60):
                middle = math.sqrt(below * above)
                below, above = (below, middle) if cheaper(middle) else (middle, above)
            return above
    return None


def curve(option: str, t: Traffic, c: Context, volumes: list[float]) -> list[float | None]:
    """The option's monthly cost at each volume; None where it does not fit."""
    out = []
    for volume in volumes:
        e = OPTIONS[option](t.at(volume, c.hours), c)
        out.append(e.total if e.fits else None)
    return out


def idle_cost(option: str, t: Traffic, c: Context) -> float:
    """What the option costs in a month with no requests at all."""
    return OPTIONS[option](replace(t, requests_per_month=0.0, peak_rps=0.0), c).total
