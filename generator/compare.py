"""`deploygen compare`: which deploy option fits a model and its traffic, what each costs, and why one is best.

The inputs come, in order, from the command line, the project's deploygen.yaml (traffic:), a
measurement of the model in a separate process, and stated assumptions; the output says which
each figure came from.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import costs, frameworks, pricing, spec as specs
from .errors import OutputError, PathError, SpecError
from .measure import Measurement, measure
from .sagemaker_instances import instance_types

DEFAULT_REQUESTS = 1_000_000
ASSUMED_DURATION_MS = 100.0  # until measured: a README is written without loading the model
HEADROOM = 1.2  # memory configured over the measured peak
ASSUMED_RESPONSE_KB = 1.0
README_ALTERNATIVES = 2


@dataclass
class Comparison:
    subject: str  # what was compared, for the heading
    traffic: costs.Traffic
    sources: dict[str, str]  # traffic field -> where its value came from
    context: costs.Context
    estimates: list[costs.Estimate]
    best: costs.Estimate | None
    baseline: costs.Estimate | None  # the cheapest on-demand Lambda that fits: what break-even is against
    break_even: dict[str, float | None] = field(default_factory=dict)
    measurement: Measurement | None = None

    def reasons(self) -> list[str]:
        """The recommendation and the trade-offs, a sentence each."""
        best, t = self.best, self.traffic
        if best is None:
            return ["Nothing fits: every option is ruled out by the limit shown beside it."]
        volume = f"{t.requests_per_month:,.0f} requests a month"
        out = [f"{best.label} ({best.size}) is the cheapest option that fits: ${best.total:,.2f} a month at {volume}."]
        if not best.synchronous:
            out.append("It answers through S3, not in the HTTP response: no synchronous option fits.")
        idle = costs.idle_cost(best.id, t, self.context)
        if best.always_on:
            out.append(f"It bills ${idle:,.2f} a month even with no requests at all.")
        elif best.cold_start_s is not None:
            out.append(f"It costs nothing while idle, but a request that finds no warm environment waits "
                       f"about {best.cold_start_s:.2f} s more while the model loads (measured here).")
        else:
            out.append("It costs nothing while idle, but a request that finds no warm environment waits for "
                       "the model to load (not measured: run deploygen compare to measure it).")
        other = [e for e in self.estimates if e.fits and e.synchronous and e.always_on != best.always_on]
        if other:
            alt = min(other, key=lambda e: e.total)
            why = "has no cold starts" if alt.always_on else "costs nothing while idle"
            out.append(f"{alt.label} ({alt.size}) {why}, for ${alt.total:,.2f} a month.")
        out.append(costs.WEIGHT[best.target])
        return out

    def break_even_lines(self) -> list[str]:
        if self.baseline is None:
            return []
        lines = []
        for option, volume in self.break_even.items():
            label = self._label(option)
            if volume is None:
                lines.append(f"{label} is dearer than {self.baseline.label} at every volume up to "
                             f"{costs.SWEEP[1]:,.0f} requests a month.")
            elif volume <= costs.SWEEP[0]:
                lines.append(f"{label} is cheaper than {self.baseline.label} at every volume from "
                             f"{costs.SWEEP[0]:,.0f} requests a month.")
            else:
                lines.append(f"{label} becomes cheaper than {self.baseline.label} from "
                             f"{volume:,.0f} requests a month.")
        return lines

    def _label(self, option: str) -> str:
        return next(e.label for e in self.estimates if e.id == option)


# --- inputs -------------------------------------------------------------------------------


def open_subject(path: Path, features: int | None = None) -> tuple[specs.ProjectSpec | None, frameworks.ModelInfo, Path]:
    """(the project's spec or None, the model's info, the model's path) for a MODEL or a PROJECT path."""
    if not path.exists():
        raise PathError(f"{path} does not exist: give a model file (or folder) or a project made by deploygen init")
    if path.is_dir() and not (path / specs.SPEC_FILE).is_file() and not (path / "config.json").is_file():
        raise PathError(f"{path} is neither a project (no {specs.SPEC_FILE}) nor a transformers model folder "
                        "(no config.json): give a model file or a project folder")
    if path.is_dir() and (path / specs.SPEC_FILE).is_file():
        spec = specs.load(path)
        model_path = path / spec.model.path
        return spec, frameworks.detect_recorded(model_path, spec.model.framework, spec.model.n_features), model_path
    return None, frameworks.detect(path, "auto", features), path


def measure_model(spec: specs.ProjectSpec | None, info: frameworks.ModelInfo, path: Path) -> Measurement:
    """Measure a project as it is, or a bare model through the project init would render for it."""
    if spec is not None:
        sample = path.parent.parent / "tests" / "sample_request.json"  # path: PROJECT/model/<file>
        body = sample.read_bytes() if sample.is_file() else info.sample_request().encode()
        return measure(path.parent.parent / "src", path.parent, body)
    from .render import render_tree  # cookiecutter is only needed here

    work = Path(tempfile.mkdtemp(prefix="deploygen-measure-"))
    try:
        probe = specs.from_dict({"name": "measure", "target": "lambda", "model": specs.model_section(path, info),
                                 "lambda": {}}, source=None)
        tree = render_tree(probe, info, work / "render")
        (tree / "model").mkdir(exist_ok=True)
        (tree / "model" / info.file_name).symlink_to(path.absolute())
        return measure(tree / "src", tree / "model", info.sample_request().encode())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def traffic_for(spec, info: frameworks.ModelInfo, given: dict[str, Any], measurement: Measurement | None,
                hours: float) -> tuple[costs.Traffic, dict[str, str]]:
    """The traffic and where each figure came from: given, deploygen.yaml, measured or assumed."""
    stated = dataclasses.asdict(spec.traffic) if spec is not None else {}
    values, sources = {}, {}

    def pick(key: str, measured: Any, measured_how: str, assumed: Any, assumed_how: str) -> None:
        if given.get(key) is not None:
            values[key], sources[key] = given[key], "given"
        elif stated.get(key) is not None:
            values[key], sources[key] = stated[key], "deploygen.yaml"
        elif measured is not None:
            values[key], sources[key] = measured, measured_how
        else:
            values[key], sources[key] = assumed, assumed_how

    m = measurement
    pick("requests_per_month", None, "", DEFAULT_REQUESTS, "assumed")
    average = values["requests_per_month"] / (hours * 3600)
    pick("peak_rps", None, "", max(1.0, costs.PEAK_TO_AVERAGE * average), f"assumed: {costs.PEAK_TO_AVERAGE}x the average, at least 1")
    sample_kb = len(info.sample_request().encode()) / 1024
    pick("payload_kb", None, "", sample_kb, "the sample request's size")
    pick("response_kb", m.response_bytes / 1024 if m else None, "measured: the sample's answer", ASSUMED_RESPONSE_KB, "assumed")
    pick("duration_ms", m.duration_ms if m else None,
         f"measured: median of {m.calls} requests after warm-up, p90 {m.p90_ms:.2f} ms" if m else "",
         ASSUMED_DURATION_MS, "assumed: deploygen compare measures it")
    measured_mb = math.ceil(m.peak_rss_bytes / costs.MB * HEADROOM / 64) * 64 if m else None
    pick("memory_mb", measured_mb,
         f"measured: peak {m.peak_rss_bytes / costs.MB:.0f} MB + {HEADROOM - 1:.0%} headroom" if m else "",
         math.ceil((2 * info.size_bytes / costs.MB + 200) / 64) * 64,
         "assumed: twice the model + 200 MB; deploygen compare measures it")
    pick("load_s", m.load_s if m else None, "measured", None, "not measured")
    return costs.Traffic(**values), sources


def compare(path: Path, given: dict[str, Any], region: str | None, pricing_file: Path | None,
            free_tier: bool, break_even: bool = True, features: int | None = None) -> Comparison:
    """Everything `deploygen compare` prints, for a MODEL or PROJECT path and the options given."""
    spec, info, model_path = open_subject(path, features)
    prices = pricing.load(specs.validate_region(region or (spec.region if spec else "us-east-1")), pricing_file)
    for key in ("requests_per_month", "peak_rps", "payload_kb", "duration_ms", "memory_mb"):
        if given.get(key) is not None:  # refused before measuring, which takes seconds
            costs.check_value(key, given[key])
    measured = None
    stated = spec.traffic if spec is not None else specs.TrafficSpec()
    if (given.get("duration_ms") or stated.duration_ms) is None or (given.get("memory_mb") or stated.memory_mb) is None:
        measured = measure_model(spec, info, model_path)
    traffic, sources = traffic_for(spec, info, given, measured, prices.hours_per_month)
    costs.check_traffic(traffic, prices.hours_per_month)
    return build(f"{model_path.name} ({info.framework})", traffic, sources, prices, info, spec, free_tier, break_even,
                 measured)


def build(subject: str, traffic: costs.Traffic, sources: dict[str, str], prices: pricing.Prices,
          info: frameworks.ModelInfo, spec, free_tier: bool, break_even: bool,
          measured: Measurement | None = None) -> Comparison:
    """The comparison for traffic, which the caller has checked (costs.check_traffic, with its names)."""
    context = costs.Context(prices, info.size_bytes, _needs_gpu(spec), free_tier, spec)
    estimates = costs.estimate_all(traffic, context)
    lambdas = [e for e in estimates if e.id in costs.ON_DEMAND_LAMBDA and e.fits]
    baseline = min(lambdas, key=lambda e: e.total) if lambdas else None
    result = Comparison(subject, traffic, sources, context, estimates, costs.choose(estimates), baseline,
                        measurement=measured)
    if break_even and baseline is not None:
        result.break_even = {e.id: costs.break_even(e.id, baseline.id, traffic, context)
                             for e in estimates if e.fits and e.always_on}
    return result


def _needs_gpu(spec) -> bool:
    if spec is None:
        return False
    if spec.options.gpu:
        return True
    return spec.target == "sagemaker" and spec.options.mode != "serverless" and bool(
        instance_types().get(spec.options.instance_type, {}).get("gpus"))


def readme_estimate(spec: specs.ProjectSpec, info: frameworks.ModelInfo) -> str:
    """The markdown `init` and `render` put in a project's README: its own target and the nearest alternatives."""
    try:
        prices = pricing.load(spec.region)
    except SpecError as err:  # no prices for the region: the README says so instead of failing the render
        return f"No estimate: {err}."
    traffic, sources = traffic_for(spec, info, {}, None, prices.hours_per_month)
    costs.check_traffic(traffic, prices.hours_per_month, names=costs.SPEC_NAMES)  # refuses the render
    result = build(spec.name, traffic, sources, prices, info, spec, False, break_even=False)
    return markdown(result, readme=True)


# --- output -------------------------------------------------------------------------------

LABELS = {"requests_per_month": "requests a month", "peak_rps": "peak", "payload_kb": "request body",
          "response_kb": "response body", "duration_ms": "time per request", "memory_mb": "memory needed",
          "load_s": "model load"}


def _value(key: str, value: Any) -> str:
    if value is None:
        return "unknown"
    return {"requests_per_month": f"{value:,.0f}", "peak_rps": f"{value:,.3g} a second",
            "payload_kb": f"{value:,.2f} KB", "response_kb": f"{value:,.2f} KB", "duration_ms": f"{value:,.3g} ms",
            "memory_mb": f"{value:,.0f} MB", "load_s": f"{value:.2f} s"}[key]


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _parts(e: costs.Estimate) -> str:
    return ", ".join(f"{name} {_money(value)}" for name, value in e.parts.items())


def text(result: Comparison) -> str:
    p = result.context.prices
    lines = [f"deploygen compare: {result.subject}, {p.region} prices from {p.file}"
             f"{' with the Lambda free tier' if result.context.free_tier else ''}", ""]
    for key, label in LABELS.items():
        lines.append(f"  {label:<18} {_value(key, getattr(result.traffic, key)):<20} {result.sources[key]}")
    lines += ["", f"  {'option':<30} {'size':<36} {'a month':>11}  cold start"]
    for e in result.estimates:
        mark = "*" if e is result.best else " "
        cost = _money(e.total) if e.fits else "-"
        lines.append(f"{mark} {e.label + (' (this project)' if e.this_project else ''):<30} {e.size:<36} {cost:>11}  "
                     f"{e.cold_start}")
        lines.append(f"    {_parts(e)}" if e.fits else f"    ruled out: {'; '.join(e.ruled_out)}")
        lines += [f"    note: {note}" for note in e.notes]
    lines += ["", "Recommendation:"] + [f"  {line}" for line in result.reasons()]
    if result.break_even:
        lines += ["", f"Break-even (the peak stays {result.traffic.peak_rps:,.3g} a second, or "
                      f"{result.traffic.shape(p.hours_per_month):.3g}x the average where that is more):"] + [f"  {line}" for line in result.break_even_lines()]
    return "\n".join(lines) + "\n"


def markdown(result: Comparison, readme: bool = False) -> str:
    t, p = result.traffic, result.context.prices
    rows = result.estimates
    if readme:
        own = [e for e in rows if e.this_project]
        others = sorted((e for e in rows if e.fits and not e.this_project), key=lambda e: e.total)
        rows = own + others[:README_ALTERNATIVES]
    assumed = [LABELS[key] for key, source in result.sources.items() if source.startswith("assumed")]
    lines = [
        f"At {t.requests_per_month:,.0f} requests a month (peak {t.peak_rps:,.3g} a second), "
        f"{t.duration_ms:,.3g} ms per request on one vCPU and {t.memory_mb:,.0f} MB of memory for the model's "
        f"process, with {p.region} prices read {p.read('lambda')}:",
        "",
        "| Option | Size | A month | Made of | Cold start |",
        "|---|---|---:|---|---|",
    ]
    for e in rows:
        name = f"**{e.label}** (this project)" if e.this_project else e.label
        cost, parts = (_money(e.total), _parts(e)) if e.fits else ("-", "ruled out: " + "; ".join(e.ruled_out))
        lines.append(f"| {name} | {e.size} | {cost} | {parts} | {e.cold_start} |")
    notes = [f"{e.label}: {note}." for e in rows for note in e.notes]
    lines += ["", " ".join(result.reasons())] + (["", "Not in the figures: " + " ".join(notes)] if notes else [])
    if result.break_even:
        lines += [""] + [f"- {line}" for line in result.break_even_lines()]
    if assumed:
        lines += ["", f"Assumed, not measured: {', '.join(assumed)}."]
    if readme:
        lines += ["", "Estimated by `deploygen compare`, which measures the model on this machine: run "
                      "`deploygen compare .` for every option and its limits. Set `traffic:` in deploygen.yaml "
                      "and run `deploygen render` to update this estimate."]
    return "\n".join(lines) + "\n"


def as_json(result: Comparison) -> str:
    p = result.context.prices
    return json.dumps({
        "subject": result.subject,
        "prices": {"region": p.region, "file": p.file, "currency": "USD", "free_tier": result.context.free_tier},
        "inputs": {key: {"value": getattr(result.traffic, key), "source": result.sources[key]} for key in LABELS},
        "options": [{
            "id": e.id, "label": e.label, "target": e.target, "size": e.size, "fits": e.fits,
            "ruled_out": e.ruled_out, "monthly_usd": round(e.total, 4) if e.fits else None,
            "parts_usd": {k: round(v, 4) for k, v in e.parts.items()}, "cold_start": e.cold_start,
            "cold_start_s": e.cold_start_s, "always_on": e.always_on, "synchronous": e.synchronous,
            "this_project": e.this_project, "notes": e.notes,
        } for e in result.estimates],
        "recommendation": {"option": result.best.id if result.best else None, "reasons": result.reasons()},
        "break_even": {"against": result.baseline.id if result.baseline else None,
                       "requests_per_month": result.break_even},
    }, indent=2) + "\n"


def check_plot(out: Path) -> None:
    """Before any work: matplotlib is there and out's folder exists."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise OutputError("--plot needs matplotlib, which is not installed: pip install 'deploygen[plot]', "
                          "or leave out --plot") from None
    if not out.parent.absolute().is_dir():
        raise OutputError(f"cannot write the plot to {out}: its folder does not exist; create it or choose another path")


def plot(result: Comparison, out: Path) -> None:
    """Monthly cost against monthly requests for every option that fits; break-even and the volume marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    t, c = result.traffic, result.context
    volumes = [10 ** (2 + k / 10) for k in range(91)]  # 100 to 1e11
    figure, axes = pyplot.subplots(figsize=(9, 5.5))
    for e in result.estimates:
        if not e.fits:
            continue
        points = [(v, max(y, 0.01)) for v, y in zip(volumes, costs.curve(e.id, t, c, volumes)) if y is not None]
        if points:
            axes.plot(*zip(*points), label=e.label, linestyle="-" if e.always_on else "--")
    for option, volume in result.break_even.items():
        if volume is not None:
            y = costs.OPTIONS[option](t.at(volume, c.hours), c).total
            axes.plot([volume], [max(y, 0.01)], "ko", markersize=4)
            axes.annotate(f"{result._label(option)} = {result.baseline.label}", (volume, max(y, 0.01)),
                          textcoords="offset points", xytext=(4, -10),
                          fontsize=7)
    axes.axvline(t.requests_per_month or 100, color="grey", linestyle=":", label="your volume")
    axes.set(xscale="log", yscale="log", xlabel=f"requests a month (peak: {t.peak_rps:,.3g}/s, or {t.shape(c.hours):.3g}x the average if more)",
             ylabel="USD a month", title=f"{result.subject}: {c.prices.region} prices")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    partial = out.with_name(f".{out.name}.partial")  # written aside, then moved: never a half-written PNG
    try:
        figure.savefig(partial, dpi=110, format="png")
        partial.replace(out)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write the plot to {out}: {err.strerror}; choose another --plot path") from None
    finally:
        pyplot.close(figure)
