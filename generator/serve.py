"""`deploygen serve`: run a project locally on 127.0.0.1, the way its target runs it.

For Lambda, each HTTP request becomes a Function URL event (payload format
2.0) for the project's real handler, one request at a time as one Lambda
execution environment takes them (what `sam local start-api` does, without
Docker). The handler is imported from the project's src/, with MODEL_DIR
pointing at the project's model/ folder.

For SageMaker and ECS, the project's own model server (the container's
`serve` command) replaces this process, bound to 127.0.0.1.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import click

from . import spec as specs
from .errors import ServeError

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")


def function_url_event(method: str, target: str, headers: dict[str, str], body: bytes) -> dict:
    """A Function URL payload-2.0 event, as AWS builds it from an HTTP request."""
    url = urlsplit(target)
    headers = {name.lower(): value for name, value in headers.items()}
    is_text = headers.get("content-type", "").startswith(TEXT_TYPES)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": url.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": f"local-{now:.6f}",
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body.decode("utf-8") if is_text else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": not is_text,
    }


def load_lambda_handler(project: Path):
    """Import the project's handler as the Lambda runtime would, model loaded at import."""
    os.environ["MODEL_DIR"] = str((project / "model").resolve())
    sys.path.insert(0, str((project / "src").resolve()))
    try:
        module = importlib.import_module("serving.lambda_handler")
    except ImportError as err:
        raise ServeError(
            f"cannot import the project's handler ({err}): install its requirements here first, "
            f"pip install -r {project / 'requirements.txt'}"
        ) from None
    return module.handler


def lambda_request_handler(handler):
    class LambdaEmulator(BaseHTTPRequestHandler):
        def _invoke(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            event = function_url_event(self.command, self.path, dict(self.headers.items()), body)
            result = handler(event, None)
            payload = result.get("body", "")
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
            self.send_response(result.get("statusCode", 200))
            for name, value in (result.get("headers") or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _invoke

        def log_message(self, fmt: str, *args) -> None:
            click.echo(f"{self.address_string()} - {fmt % args}", err=True)

    return LambdaEmulator


def serve(project: Path, port: int) -> None:
    spec = specs.load(project)
    if spec.target == "lambda":
        serve_lambda(project, port)
    else:
        serve_container(project, port)


def serve_container(project: Path, port: int) -> None:
    """Exec the project's model server as its container would run it, on 127.0.0.1:port."""
    src = (project / "src").resolve()
    if importlib.util.find_spec("gunicorn") is None or not (src / "serving" / "__main__.py").is_file():
        raise ServeError(
            f"cannot start the project's server: install its requirements here first, "
            f"pip install -r {project / 'requirements.txt'}"
        )
    _check_port_free(port)
    env = {**os.environ, "SERVING_HOST": "127.0.0.1", "SAGEMAKER_BIND_TO_PORT": str(port),
           "MODEL_DIR": str((project / "model").resolve())}
    click.echo(f"Serving {project} on http://127.0.0.1:{port}/invocations (GET /ping) - Ctrl-C stops it", err=True)
    os.chdir(src)
    os.execve(sys.executable, [sys.executable, "-m", "serving", "serve"], env)


def _check_port_free(port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise ServeError(f"cannot listen on 127.0.0.1:{port}: {err.strerror}; choose another --port") from None


def serve_lambda(project: Path, port: int) -> None:
    _check_port_free(port)  # before the model loads: a taken port should not cost a model load
    handler = load_lambda_handler(project)
    try:
        server = HTTPServer(("127.0.0.1", port), lambda_request_handler(handler))
    except OSError as err:
        raise ServeError(f"cannot listen on 127.0.0.1:{port}: {err.strerror}; choose another --port") from None
    click.echo(f"Serving {project} (lambda) on http://127.0.0.1:{server.server_port}/ - Ctrl-C stops it", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
