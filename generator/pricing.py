"""Unit prices for the cost estimates: generator/data/prices.yaml, or a file of the same layout (--pricing)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import PathError, SpecError
from .limits import data_file

DEFAULT_FILE = "generator/data/prices.yaml"
ARCHS = ("x86_64", "arm64")

# Every price an estimate reads, as service.key[.sub]; a pricing file must hold them all.
REQUIRED = (
    [f"lambda.{key}.{arch}" for key in ("gb_second", "provisioned_gb_second", "provisioned_duration_gb_second")
     for arch in ARCHS]
    + ["lambda.requests_per_million", "lambda.ephemeral_gb_second", "lambda.free_tier.requests",
       "lambda.free_tier.gb_seconds",
       "api_gateway.http_api_requests_per_million", "api_gateway.http_api_metering_kb",
       "sagemaker.serverless_gb_second", "sagemaker.data_processed_gb"]
    + [f"fargate.{key}.{arch}" for key in ("vcpu_hour", "gb_hour") for arch in ARCHS]
    + ["fargate.ephemeral_gb_hour", "elb.alb_hour", "elb.lcu_hour", "elb.lcu.new_connections_per_s",
       "elb.lcu.active_connections_per_min", "elb.lcu.processed_gb_per_hour", "elb.lcu.rule_evaluations_per_s",
       "vpc.public_ipv4_hour"]
)


@dataclass(frozen=True)
class Prices:
    region: str
    file: str  # where they came from, for the output
    hours_per_month: float
    services: dict[str, Any]

    def __call__(self, dotted: str) -> float:
        """One price, e.g. prices("lambda.gb_second.arm64"); load() made sure it is there."""
        return _lookup(self.services, dotted)

    def read(self, service: str) -> str:
        """When the service's prices were read, as the file says."""
        return str(self.services[service].get("read", "unknown"))

    @property
    def instance_hour(self) -> dict[str, float]:
        return self.services["sagemaker"]["instance_hour"]


def load(region: str, path: Path | None = None) -> Prices:
    """The prices for region, from path or the bundled file; a missing or malformed price is a clear error."""
    if path is None:
        data, where = data_file("prices.yaml"), DEFAULT_FILE
    else:
        where = str(path)
        if not path.is_file():
            raise PathError(f"pricing file {path} does not exist: give a YAML file laid out as {DEFAULT_FILE}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise SpecError(f"pricing file {path} is not valid YAML ({str(err).splitlines()[0]}): fix it") from None
    regions = data.get("regions") if isinstance(data, dict) else None
    if not isinstance(regions, dict):
        raise SpecError(f"pricing file {where} has no 'regions' mapping: lay it out as {DEFAULT_FILE}")
    if region not in regions:
        known = ", ".join(sorted(map(str, regions))) or "none"
        raise SpecError(f"no prices for region {region} in {where} (it has: {known}): "
                        "choose one of those with --region, or give --pricing FILE with that region's prices")
    services = regions[region]
    hours = data.get("hours_per_month", 730)
    for dotted in ["hours_per_month"] + REQUIRED:
        value = hours if dotted == "hours_per_month" else _lookup(services, dotted)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            what = "has no price" if value is None else f"has {value!r}, not a price, for"
            raise SpecError(f"pricing file {where} {what} {dotted} in {region}: add it as a number "
                            f"(see {DEFAULT_FILE})")
    instance_hour = _lookup(services, "sagemaker.instance_hour")
    if not isinstance(instance_hour, dict) or not instance_hour or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in instance_hour.values()):
        raise SpecError(f"pricing file {where} needs sagemaker.instance_hour in {region}: "
                        "a mapping of instance type to its price per hour")
    return Prices(region, where, float(hours), services)


def _lookup(tree: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree
