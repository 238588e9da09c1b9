"""Benchmark: `deploygen lint` over the three generated projects in one process, against three `cfn-lint` runs.

Goal (issue 7): <= 1.5 s wall, cfn-lint's import included, and faster than three separate
`cfn-lint` processes over the same three templates. Both sides are whole new processes timed
from start to exit. deploygen lint does more in that time: cfn-lint with every rule (informational
and experimental too) plus deploygen's own rules, the spec checks, the Dockerfile contract and
hadolint on each Dockerfile; the cfn-lint runs use cfn-lint's defaults.

Usage: .venv/bin/python bench/lint.py [--rounds N]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))

from train_iris import train  # noqa: E402

TARGETS = ("lambda", "sagemaker", "ecs")


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = train(work / "iris.joblib")
        projects = []
        for target in TARGETS:
            out = work / target
            subprocess.run([sys.executable, "-m", "generator", "init", str(model), "--target", target,
                            "--output", str(out)], check=True, capture_output=True)
            projects.append(out)
        cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
        ours = [sys.executable, "-m", "generator", "lint", *map(str, projects)]
        theirs = [[cfn_lint, str(p / "infra" / "template.yaml")] for p in projects]
        wall(ours), [wall(c) for c in theirs]  # warm the page cache
        times: dict[str, list[float]] = {"deploygen lint, 3 projects, 1 process": [],
                                         "cfn-lint, 3 templates, 3 processes": []}
        for _ in range(rounds):
            times["deploygen lint, 3 projects, 1 process"].append(wall(ours))
            times["cfn-lint, 3 templates, 3 processes"].append(sum(wall(c) for c in theirs))
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, {rounds} rounds")
    for name, values in times.items():
        print(f"{name:42s} median {statistics.median(values):6.2f} s   min {min(values):6.2f} s")


if __name__ == "__main__":
    main()
