"""Benchmark: median wall time of `init` alone and of `init` + `lint`, one Lambda project, one process.

Goal (issue 2): render <= 150 ms, render + lint <= 1 s on 2 cores. The first
run of each pays the one-time imports and cfn-lint's rule loading; the
median over the repeats is what a session of many renders sees, and the
first run is printed too, since a single CLI call pays it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))

from train_iris import train  # noqa: E402

from generator.cli import main  # noqa: E402

REPEATS = int(os.environ.get("BENCH_REPEATS", "15"))


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    return elapsed


def bench(work: Path, model: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"init": [], "init+lint": []}
    for i in range(REPEATS):
        out = work / f"p{i}"
        init = ["init", str(model), "--target", "lambda", "--output", str(out)]
        times["init"].append(timed(init))
        shutil.rmtree(out)
        start = time.perf_counter()
        timed(init)
        lint_result = CliRunner().invoke(main, ["lint", str(out)], catch_exceptions=False)
        times["init+lint"].append(time.perf_counter() - start)
        assert lint_result.exit_code == 0, lint_result.output
        shutil.rmtree(out)
    return times


def bench_processes(work: Path, model: Path) -> dict[str, list[float]]:
    """The same, as a user's shell sees it: one new `deploygen` process per command."""
    times: dict[str, list[float]] = {"init (process)": [], "lint (process)": []}
    command = [sys.executable, "-m", "generator"]
    for i in range(max(REPEATS // 3, 3)):
        out = work / f"q{i}"
        for name, args in (("init (process)", ["init", str(model), "--target", "lambda", "--output", str(out)]),
                           ("lint (process)", ["lint", str(out)])):
            start = time.perf_counter()
            subprocess.run([*command, *args], check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        model = train(Path(tmp) / "iris.joblib")
        results = {**bench(Path(tmp), model), **bench_processes(Path(tmp), model)}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {REPEATS} repeats")
    for name, values in results.items():
        print(f"{name:15s} median {statistics.median(values) * 1000:7.1f} ms   first {values[0] * 1000:7.1f} ms")
