"""The chat client (agents/chat.py) and the captioner's endpoint backend, piece by piece. The transport's behaviour
under failure (429 with Retry-After, 5xx, a closed port, the key) is checked against a scripted HTTP server on
127.0.0.1, a stand-in for one piece; the real server (`transformers serve`) is in tests/behaviour/test_endpoint.py."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scenestream.agents.captioner import CaptionerAgent
from scenestream.agents.captioner.settings import CaptionerSettings
from scenestream.agents.chat import ChatClient, ChatError, check_endpoint, user_message
from scenestream.agents.errors import ConfigError
from scenestream.schemas import Keyframe, Scene
from tests import media
from tests.model_server import free_port

OK = {"id": "x", "object": "chat.completion", "created": 0, "model": "served-name",
      "choices": [{"index": 0, "message": {"role": "assistant", "content": " a bus "}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 40, "completion_tokens": 3, "total_tokens": 43}}


class Scripted:
    """Answers each POST with the next (status, headers, body) of `script` (the last one repeats); records when
    each request came and what it carried."""

    def __init__(self, script):
        self.script, self.seen = list(script), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.seen.append((time.monotonic(), dict(self.headers), body))
                status, headers, answer = outer.script[min(len(outer.seen), len(outer.script)) - 1]
                data = json.dumps(answer).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted(request):
    servers = []

    def make(*script):
        servers.append(Scripted(script))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_a_reply_has_text_model_and_usage(scripted, monkeypatch):
    monkeypatch.setenv("TEST_CHAT_KEY", "sekrit")
    srv = scripted((200, {}, OK))
    reply = ChatClient(srv.base, "m", api_key_env="TEST_CHAT_KEY").complete([user_message("hi", [b"\xff\xd8jpeg"])],
                                                                            max_tokens=7)
    assert (reply.text, reply.model, reply.finish_reason) == ("a bus", "served-name", "stop")
    assert reply.usage == {"prompt_tokens": 40, "completion_tokens": 3, "total_tokens": 43}
    _, headers, body = srv.seen[0]
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == "Bearer sekrit"  # from the environment variable named, never an option
    assert body["model"] == "m" and body["max_tokens"] == 7 and body["temperature"] == 0.0
    image, text = body["messages"][0]["content"]
    assert image["image_url"]["url"].startswith("data:image/jpeg;base64,") and text == {"type": "text", "text": "hi"}


def test_429_is_retried_after_the_servers_retry_after(scripted):
    srv = scripted((429, {"Retry-After": "1"}, {"error": {"message": "slow down"}}), (200, {}, OK))
    assert ChatClient(srv.base, "m", retries=2).complete([user_message("hi")]).text == "a bus"
    (first, *_), (second, *_) = srv.seen
    assert second - first >= 0.9  # it waited what the server asked (a lower bound on our behaviour, not a speed)


def test_5xx_after_the_last_retry_is_one_line_naming_the_endpoint(scripted):
    srv = scripted((503, {"Retry-After": "0"}, {"error": {"message": "overloaded"}}))
    with pytest.raises(ChatError) as e:
        ChatClient(srv.base, "m", retries=2).complete([user_message("hi")])
    assert len(srv.seen) == 3  # the first try and 2 retries
    msg = str(e.value)
    assert "\n" not in msg and srv.base in msg and "HTTP 503" in msg and "overloaded" in msg


def test_a_closed_port_is_a_connection_error_not_a_hang():
    base = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(ChatError) as e:
        ChatClient(base, "m", retries=1, timeout=5).complete([user_message("hi")])
    assert "APIConnectionError" in str(e.value) and base in str(e.value)


def test_a_400_is_not_retried(scripted):
    srv = scripted((400, {}, {"error": {"message": "image too large"}}))
    with pytest.raises(ChatError, match="HTTP 400: .*image too large"):
        ChatClient(srv.base, "m", retries=3).complete([user_message("hi")])
    assert len(srv.seen) == 1


def test_many_at_once_keep_their_order_and_their_failures(scripted):
    srv = scripted((200, {}, OK))
    replies = ChatClient(srv.base, "m", concurrency=4).complete_many([[user_message(str(i))] for i in range(6)])
    assert [r.text for r in replies] == ["a bus"] * 6
    assert sorted(b["messages"][0]["content"] for _, _, b in srv.seen) == [str(i) for i in range(6)]


# Run in a fresh interpreter: the suite's own process has httpx loaded already. Another thread starts importing the old
# httpx and is held half-way (its module is in sys.modules, not yet filled in) while requests go out, as a thread of
# the pipeline did in CI; before the client loaded httpx itself, openai read `httpx.Timeout` off the half-made module
# and every request in flight failed with "partially initialized module 'httpx' has no attribute 'Timeout'".
RACE = """
import importlib.abc, importlib.util, sys, threading
from scenestream.agents.chat import ChatClient, user_message
assert "httpx" not in sys.modules
client = ChatClient(sys.argv[1], "m", concurrency=4)
entered, release = threading.Event(), threading.Event()

class Held(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "httpx":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("httpx")
        run = spec.loader.exec_module
        def held(module):
            entered.set()
            release.wait(30)
            run(module)
        spec.loader.exec_module = held
        return spec

sys.meta_path.insert(0, Held())
importer = threading.Thread(target=lambda: __import__("httpx"))
importer.start()
if "httpx" not in sys.modules:  # it is, once the client loaded it: then the import never reaches the finder
    entered.wait(30)
replies = client.complete_many([[user_message(str(i))] for i in range(4)])
release.set()
importer.join()
print([getattr(r, "text", str(r)) for r in replies])
"""


def test_requests_in_flight_survive_another_thread_importing_httpx(scripted):
    import subprocess
    import sys

    srv = scripted((200, {}, OK))
    proc = subprocess.run([sys.executable, "-c", RACE, srv.base], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(["a bus"] * 4), proc.stdout


@pytest.mark.parametrize("url, why", [("localhost:8000/v1", "http"), ("ftp://h/v1", "http"),
                                      ("http://h:8000", "ends in /v1"), ("http:///v1", "http")])
def test_endpoint_urls_are_checked(url, why):
    with pytest.raises(ConfigError, match=why):
        check_endpoint(url)


def test_captioner_endpoint_settings():
    s = CaptionerSettings.from_options({"endpoint": "http://127.0.0.1:9/v1/", "model": "m", "concurrency": "3"})
    assert (s.backend, s.endpoint, s.max_batch) == ("endpoint", "http://127.0.0.1:9/v1", 3)
    with pytest.raises(ConfigError, match="backend llava-next loads a model here"):
        CaptionerSettings.from_options({"endpoint": "http://h/v1", "backend": "llava-next"})
    with pytest.raises(ConfigError, match="needs endpoint=URL"):
        CaptionerSettings.from_options({"backend": "endpoint"})
    with pytest.raises(ConfigError, match="concurrency"):
        CaptionerSettings.from_options({"endpoint": "http://h/v1", "concurrency": "0"})


def test_captioner_sends_ingests_jpegs_and_records_model_and_usage(scripted):
    srv = scripted((200, {}, OK))
    jpeg = media.bus_jpg().read_bytes()
    agent = CaptionerAgent.from_options({"endpoint": srv.base, "model": "m", "max_new_tokens": "32"})
    agent.setup()
    good = Scene("v", 0, 0.0, 2.0, [Keyframe(0.0, jpeg), Keyframe(1.0, jpeg)])
    broken = Scene("v", 1, 2.0, 4.0, [Keyframe(2.0, b"not a jpeg")])
    empty = Scene("v", 2, 4.0, 6.0, [], last=True)
    a, b, c = agent.process_batch([good, broken, empty])
    assert (a.caption, a.model, a.usage, a.error) == ("a bus", "m", OK["usage"], None)
    assert b.error and c.error == "ValueError: scene has no keyframes"  # no request for what cannot be read
    [(_, _, body)] = srv.seen
    sent = [part["image_url"]["url"] for part in body["messages"][0]["content"][:-1]]
    assert len(sent) == 2 and body["max_tokens"] == 32
    import base64
    assert base64.b64decode(sent[0].split(",", 1)[1]) == jpeg  # the JPEG as ingest made it, not re-encoded
    agent.close()


def test_captioner_marks_a_failed_request_on_its_scene(scripted):
    srv = scripted((500, {"Retry-After": "0"}, {"error": {"message": "boom"}}))
    agent = CaptionerAgent.from_options({"endpoint": srv.base, "model": "m", "retries": "1"})
    agent.setup()
    [c] = agent.process(Scene("v", 0, 0.0, 2.0, [Keyframe(0.0, media.bus_jpg().read_bytes())], last=True))
    assert c.caption == "" and "HTTP 500" in c.error and srv.base in c.error
    agent.close()
