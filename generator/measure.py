"""Measure a model as its project runs it: load time, time per request and peak memory, in a process of its own.

The parent (`measure`) never imports the model's framework nor loads the model: a model that crashes,
hangs or eats memory takes down only the child, and the CLI reports it in one line. The child
(`python -m generator.measure SRC MODEL_DIR`, the sample request on stdin) imports the project's own
src/inference.py and its request codec, loads the model, and answers the sample request through the
codec, as a served request is answered: decoding, predict and encoding are all in the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import MeasureError

WARM_UP = 3  # calls before timing: first-call work (lazy imports, caches) is not a request's steady cost
MIN_CALLS, MAX_CALLS, BUDGET_S = 5, 200, 2.0  # timed calls: at least MIN, then until BUDGET_S or MAX
SAMPLE_FAILED = 3  # the child's exit code when the model loaded but failed on the sample request


@dataclass(frozen=True)
class Measurement:
    load_s: float  # importing inference.py (and so the framework) and load(): a cold start's own work
    duration_ms: float  # median of the timed calls
    p90_ms: float
    calls: int
    peak_rss_bytes: int  # the process's peak resident memory, model and framework included
    request_bytes: int
    response_bytes: int


def measure(src: Path, model_dir: Path, body: bytes, timeout_s: float = 600) -> Measurement:
    """Run the child on the project's src/ and model folder; a failure is a MeasureError with its last line."""
    env = {**os.environ, "MODEL_DIR": str(model_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    fix = "install the project's requirements here, or give --duration-ms and --memory-mb to skip measuring"
    try:  # the sample request goes in on stdin; the figures come back as the last line of stdout
        done = subprocess.run([sys.executable, "-m", "generator.measure", str(src), str(model_dir)], input=body,
                              capture_output=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise MeasureError(f"measuring the model took over {timeout_s:.0f} s and was stopped: {fix}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode(errors="replace").strip().splitlines() if line.strip()]
        why = lines[-1] if lines else f"the process ended with code {done.returncode}"
        if done.returncode < 0:
            why = f"the process was killed by signal {-done.returncode}"
        if done.returncode == SAMPLE_FAILED:
            fix = ("give --features N if the model file does not record its input size, or fix predict() in "
                   "src/inference.py; or give --duration-ms and --memory-mb to skip measuring")
        raise MeasureError(f"could not measure the model in a separate process ({why}): {fix}")
    return Measurement(**json.loads(done.stdout.decode().strip().splitlines()[-1]))


def _child(src: str, model_dir: str) -> None:
    import resource
    import statistics
    import time

    sys.path.insert(0, src)
    started = time.perf_counter()
    import inference  # the project's own load() and predict()

    model = inference.load(model_dir)
    load_s = time.perf_counter() - started
    from serving import codec

    body = sys.stdin.buffer.read()

    def predict(inputs, probabilities):
        return codec.call_predict(inference.predict, model, inputs, probabilities)

    def request() -> bytes:
        response = codec.respond(body, "application/json", "application/json", predict, len(body))
        if response.status != 200:
            try:  # the error itself, which the codec keeps out of the response
                predict(codec.decode_request(body, "application/json").inputs, False)
                why = response.body[:300].decode(errors="replace")
            except Exception as err:
                why = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            print(f"the sample request got HTTP {response.status}: {why}", file=sys.stderr)
            raise SystemExit(SAMPLE_FAILED)
        return response.body

    for _ in range(WARM_UP):
        answer = request()
    times: list[float] = []
    deadline = time.perf_counter() + BUDGET_S
    while len(times) < MIN_CALLS or (len(times) < MAX_CALLS and time.perf_counter() < deadline):
        begun = time.perf_counter()
        request()
        times.append((time.perf_counter() - begun) * 1000)
    times.sort()
    print(json.dumps({
        "load_s": load_s,
        "duration_ms": statistics.median(times),
        "p90_ms": times[int(0.9 * (len(times) - 1))],
        "calls": len(times),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # Linux: KiB
        "request_bytes": len(body),
        "response_bytes": len(answer),
    }))


if __name__ == "__main__":
    _child(*sys.argv[1:3])
