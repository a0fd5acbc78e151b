"""A real OpenAI-compatible model server for the tests: `transformers serve` on a loopback port, preloading a local
model folder; and a counting proxy in front of it, which shows how many requests were in flight at once.

Both listen on 127.0.0.1 only, and the proxy forwards only to the server the test started."""
from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.streams.live_server import free_port  # one way to pick a loopback port for the tests

SERVE = "from transformers.cli.transformers import main; main()"  # the console script may be missing from a venv


class ModelServer:
    """`transformers serve MODEL_DIR` on 127.0.0.1 (CPU). `base` is its OpenAI base URL, `model` the name to ask
    for. Entered: started and healthy; left (or `stop()`): terminated."""

    def __init__(self, model_dir: Path, log_dir: Path):
        self.model = str(model_dir)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/v1"
        self.log = Path(log_dir) / f"serve-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> "ModelServer":
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1",
                   HF_HUB_CACHE=str(self.log.parent / "hf-cache"))
        self._out = open(self.log, "w")
        self.proc = subprocess.Popen([sys.executable, "-c", SERVE, "serve", self.model, "--host", "127.0.0.1",
                                      "--port", str(self.port), "--device", "cpu"], stdout=self._out,
                                     stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"transformers serve not healthy within {timeout} s:\n{self.tail()}")
            time.sleep(0.3)

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        if getattr(self, "_out", None):
            self._out.close()

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class CountingProxy:
    """An HTTP proxy on 127.0.0.1 in front of one upstream port. It counts requests in flight (received, answer not
    yet sent back) and keeps the highest count, so a test can show that a client had several out at once."""

    def __init__(self, upstream_port: int):
        self.upstream = upstream_port
        self.lock = threading.Lock()
        self.in_flight = self.peak = self.requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.in_flight += 1
                    proxy.requests += 1
                    proxy.peak = max(proxy.peak, proxy.in_flight)
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=300)
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    conn.close()
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(k, v)
                except OSError as exc:  # the upstream is gone: what a load balancer answers
                    data, _ = f"upstream unreachable: {exc}".encode(), self.send_response(502)
                finally:
                    with proxy.lock:
                        proxy.in_flight -= 1
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, name="counting-proxy", daemon=True)

    def __enter__(self) -> "CountingProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
