"""Benchmark: cold start of the generated Lambda handler against the framework's own load, per framework.

For every framework deploygen serves (tests/model_zoo.py's FRAMEWORKS), a small real model is built
and a Lambda project rendered from it (`deploygen init MODEL --target lambda`). Then two figures:

1. Cold start: the wall time of a whole new `python` process, start to exit, that
   - handler: imports serving.lambda_handler from the project's src/ (which imports inference and
     loads the model from MODEL_DIR) and exits non-zero unless the model loaded;
   - floor: imports the framework and loads the same file the minimal way (joblib.load,
     xgboost.Booster, lightgbm.Booster, onnxruntime.InferenceSession, torch.jit.load,
     transformers.pipeline).
   Same Python, same environment variables (MODEL_DIR, HF_HUB_OFFLINE=1), so the interpreter's
   start-up is in both. One untimed run of each warms the page cache; then N rounds, handler and
   floor interleaved in each; medians and the ratio handler / floor are printed. Goal: <= 1.10.
2. With --sizes: the size on disk of `pip install --target TMP -r requirements.txt` of each Lambda
   project (the model's own packages), in a temporary folder under /tmp, deleted afterwards. It
   needs the network and takes minutes.

Usage: .venv/bin/python bench/coldstart.py [--rounds N] [--sizes]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import model_zoo  # noqa: E402

GOAL = 1.10
HANDLER = """
import sys
sys.path.insert(0, sys.argv[1])
import serving.lambda_handler as handler
sys.exit(0 if handler.model is not None else 1)
"""
FLOOR = {  # what each framework needs to load the model file (sys.argv[1]), and nothing more
    "sklearn": "import joblib, sys; joblib.load(sys.argv[1])",
    "xgboost": "import xgboost, sys; xgboost.Booster(model_file=sys.argv[1])",
    "lightgbm": "import lightgbm, sys; lightgbm.Booster(model_file=sys.argv[1])",
    "onnx": "import onnxruntime, sys; onnxruntime.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])",
    "torchscript": "import torch, sys; torch.jit.load(sys.argv[1], map_location='cpu')",
    "transformers": "import transformers, sys; "
                    "transformers.pipeline('text-classification', model=sys.argv[1], device='cpu')",
}


def render(framework: str, work: Path) -> Path:
    """A Lambda project rendered from a fresh model of this framework."""
    model = model_zoo.build(framework, work / "model")
    project = work / "project"
    result = subprocess.run([sys.executable, "-m", "generator", "init", str(model.path), "--target", "lambda",
                             "--output", str(project), *model.init_args], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # As the generated Dockerfile does: the project's sources compiled to bytecode once, at build time.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(project / "src")], check=True)
    return project


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, f"{command[:2]} failed:\n{result.stderr[-2000:]}"
    return elapsed


def cold_start(framework: str, project: Path, rounds: int) -> tuple[float, float]:
    """Median seconds of the floor and of the handler process."""
    artifact = project / yaml.safe_load((project / "deploygen.yaml").read_text())["model"]["path"]
    env = {**os.environ, "MODEL_DIR": str(project / "model"), "HF_HUB_OFFLINE": "1"}
    commands = {"floor": [sys.executable, "-c", FLOOR[framework], str(artifact)],
                "handler": [sys.executable, "-c", HANDLER, str(project / "src")]}
    for command in commands.values():  # warm the page cache, untimed
        timed(command, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):  # interleaved, so a slow spell of the machine hits both alike
        for name, command in commands.items():
            times[name].append(timed(command, env))
    return statistics.median(times["floor"]), statistics.median(times["handler"])


def installed_mb(project: Path) -> float:
    """MB on disk (sum of file sizes) of the project's requirements.txt, pip-installed into a temp folder."""
    target = Path(tempfile.mkdtemp(prefix="coldstart-size-", dir="/tmp"))
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--no-cache-dir", "--target", str(target), "-r", str(project / "requirements.txt")],
                       check=True, timeout=3600)
        return sum(f.stat().st_size for f in target.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6
    finally:
        shutil.rmtree(target, ignore_errors=True)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{len(os.sched_getaffinity(0))} cores ({cpu}), Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per framework, medians reported (7)")
    parser.add_argument("--sizes", action="store_true", help="also pip-install each requirements.txt and weigh it")
    args = parser.parse_args()

    rows, sizes = [], {}
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        for framework in model_zoo.FRAMEWORKS:
            project = render(framework, Path(tmp) / framework)
            floor, handler = cold_start(framework, project, args.rounds)
            rows.append((framework, floor, handler))
            print(f"{framework}: floor {floor * 1000:.0f} ms, handler {handler * 1000:.0f} ms", file=sys.stderr)
            if args.sizes:
                requirements = [line for line in (project / "requirements.txt").read_text().splitlines()
                                if line and not line.startswith("#")]
                sizes[framework] = (requirements, installed_mb(project))
                print(f"{framework}: {sizes[framework][1]:.0f} MB", file=sys.stderr)

    print(f"\nMachine: {machine()}. {args.rounds} rounds, handler and floor interleaved, after one untimed run each.")
    print("Wall time of a new process, start to exit (interpreter start-up included in both).\n")
    print("| framework | floor median ms | handler median ms | handler / floor |")
    print("|---|---|---|---|")
    for framework, floor, handler in rows:
        mark = "✔" if handler / floor <= GOAL else "✘"
        print(f"| {framework} | {floor * 1000:.0f} | {handler * 1000:.0f} | {handler / floor:.2f} {mark} |")
    if sizes:
        print("\nInstalled size of each Lambda project's requirements.txt (`pip install --target`, sum of file sizes,"
              " the .pyc pip writes included).")
        print("torch here is the local torch 2.13.0 CPU wheel; the Lambda/SageMaker images install it from "
              "PyTorch's CPU-only index.\n")
        print("| framework | requirements.txt | installed MB |")
        print("|---|---|---|")
        for framework, (requirements, size) in sizes.items():
            print(f"| {framework} | {', '.join(requirements)} | {size:.0f} |")


if __name__ == "__main__":
    main()
