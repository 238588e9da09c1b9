"""`deploygen serve` as a user runs it, in a real process on a free loopback port, and plain HTTP to it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url, body=None, content_type="application/json", method=None, accept=None):
    """(status, content type, body) of one request; HTTP errors are answers too."""
    headers = {"content-type": content_type} if body is not None else {}
    if accept:
        headers["accept"] = accept
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers.get("content-type"), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("content-type"), err.read()


@contextlib.contextmanager
def deploygen_serve(project: Path, target: str, seconds: float = 120) -> Iterator[str]:
    """Serve project; yield the URL predictions are POSTed to once the model is loaded."""
    port = free_port()
    log = project.parent / f"serve-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "generator", "serve", str(project), "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    health, url = (f"{base}/", f"{base}/") if target == "lambda" else (f"{base}/ping", f"{base}/invocations")
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if request(health, method="GET")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, f"deploygen serve exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"not ready in {seconds} s:\n{log.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()  # SIGTERM reaches gunicorn itself: deploygen serve exec'd it
        code = proc.wait(timeout=30)
    assert code in (0, -15), f"deploygen serve ended with {code}:\n{log.read_text()}"
