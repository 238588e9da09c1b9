"""The Lambda Runtime API on 127.0.0.1, as Lambda serves it inside an execution environment, for awslambdaric.

The three endpoints the runtime interface client uses (next invocation, response, error), plus init error,
so a handler that fails to import fails the test at once. HTTP/1.1, and every next invocation carries the
headers Lambda sends: without the content type, awslambdaric 4.2.2 in the image exits at its first event.
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:deploygen-test"


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a thread waiting in `next` must not keep the tests from ending

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the client's container was stopped
            super().handle_error(request, client_address)


class RuntimeAPI:
    """Queue events with invoke(); the client in the container takes them and posts the answers back."""

    def __init__(self):
        self.events: queue.Queue = queue.Queue()
        self.answers: dict[str, queue.Queue] = {}
        self.init_errors: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self.answer(404, {"errorMessage": f"unknown path {self.path}"})
                request_id, event = api.events.get()
                self.answer(200, event, {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int((time.time() + 30) * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                })

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_errors.append(body)
                elif len(parts) == 3 and parts[0] == "invocation" and parts[1] in api.answers:
                    api.answers[parts[1]].put((parts[2], body))  # "response" or "error"
                else:
                    return self.answer(404, {"errorMessage": f"unknown path {self.path}"})
                self.answer(202, {"status": "OK"})

            def answer(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        """What AWS_LAMBDA_RUNTIME_API holds: host:port."""
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def invoke(self, event: dict, alive: Callable[[], bool], seconds: float = 60) -> tuple[str, dict]:
        """One invocation: ("response", the handler's return value) or ("error", the error it posted).

        Fails as soon as the function posts an init error or `alive()` says its container has exited."""
        request_id = str(uuid.uuid4())
        self.answers[request_id] = queue.Queue()
        self.events.put((request_id, event))
        deadline = time.monotonic() + seconds
        while True:
            try:
                return self.answers[request_id].get(timeout=0.2)
            except queue.Empty:
                assert not self.init_errors, f"the function failed to start: {self.init_errors}"
                assert alive(), "the function's container exited"
                assert time.monotonic() < deadline, f"no answer to invocation {request_id} in {seconds} s"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
