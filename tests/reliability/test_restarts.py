"""Restarts in the middle of a video, on real brokers: the broker stopped (`deploy/kafka/stop`, data kept) and
started again on the same data dir and port, and a worker killed with SIGKILL while it decodes. Either way the
video completes with exactly one committed record per scene key on `captions`, none missing.

"Mid-video" does not depend on this machine's speed: the video is served over HTTP by a server that stops after
the bytes of the first 32 seconds and sends the rest only when the test says so. Ingest has then closed scenes 0
and 1 (cuts at 15 and 30 s) and cannot read further, so the first caption on the topic means the video is half
done, and whatever the test breaks next breaks mid-video. (A worker killed while its gate agent holds scenes is
tests/kafka/test_kafka_pipeline.py's; here ingest itself is cut off in the middle of its decode.)"""
from __future__ import annotations

import http.server
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import av
import orjson
import pytest

from tests import media
from tests.kafka.kafkatools import WorkerProcess, read_topic, scenestream

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HOLD_AT_SECONDS = 32.0  # past the cut at 30 s: scenes 0 and 1 can close, scene 2 cannot
AGENTS = "ingest,joiner"
LIGHT = ("-o", "joiner.sources=none")  # scene bounds only: no model, the restarts are what is tested
# Ingest's read timeout on a network source (rw_timeout): longer than the test holds the connection.
SUBMIT_OPTIONS = ("-o", "open_timeout=600")


class HeldServer:
    """Serves one video over HTTP: the bytes before the first video packet at `hold_at` seconds at once, the rest
    once `release()` is called. Counts the requests, so a test sees a video read again from the start."""

    def __init__(self, path: Path, hold_at: float):
        self.data = path.read_bytes()
        with av.open(str(path)) as c:
            vs = c.streams.video[0]
            self.hold = next(p.pos for p in c.demux(vs) if p.pts is not None and p.pts * vs.time_base >= hold_at)
        self.released = threading.Event()
        self.requests = 0
        held = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                held.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(held.data)))
                self.end_headers()
                try:
                    self.wfile.write(held.data[:held.hold])
                    self.wfile.flush()
                    held.released.wait(600)
                    self.wfile.write(held.data[held.hold:])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the reader was killed

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{path.name}"

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> "HeldServer":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class OwnBroker:
    """A broker of this test's own (deploy/kafka/start on a fresh data dir): stopped and started again on the same
    data dir and port, as an operator restarts one; purged at the end."""

    def __init__(self):
        self.data = tempfile.mkdtemp(prefix="scenestream-restart-kafka-")
        self.address = ""

    def start(self) -> str:
        port = ["--port", self.address.rsplit(":", 1)[1]] if self.address else ["--port", "0"]
        proc = subprocess.run([str(ROOT / "deploy/kafka/start"), *port, "--data-dir", self.data],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        address = proc.stdout.strip().splitlines()[-1]
        assert not self.address or address == self.address  # the same port: clients find it where it was
        self.address = address
        return address

    def stop(self, purge: bool = False) -> None:
        proc = subprocess.run([str(ROOT / "deploy/kafka/stop"), "--data-dir", self.data, *(["--purge"] * purge)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture
def own_broker():
    b = OwnBroker()
    b.start()
    try:
        yield b
    finally:
        b.stop(purge=True)


def submit(broker: str, prefix: str, url: str, video_id: str) -> None:
    sub = scenestream(broker, prefix, "submit", url, "--video-id", video_id, *SUBMIT_OPTIONS)
    assert sub.returncode == 0, sub.stderr


def wait_for_a_caption(broker: str, prefix: str, worker: WorkerProcess, timeout: float = 300) -> list:
    deadline = time.monotonic() + timeout
    while not (seen := read_topic(broker, prefix, "captions", timeout=10)):
        assert worker.proc.poll() is None, "the worker died:\n" + worker.stderr_tail()
        assert time.monotonic() < deadline, f"no caption within {timeout} s:\n" + worker.stderr_tail()
        time.sleep(0.5)
    return seen


def events_of(broker: str, prefix: str, video_id: str) -> list[dict]:
    return [orjson.loads(r.value) for r in read_topic(broker, prefix, "video-events") if r.key == video_id.encode()]


def check_complete(broker: str, prefix: str, video_id: str, worker: WorkerProcess) -> int:
    """The video ends `done` once, and `captions` holds exactly one record per scene key, every scene. Returns n."""
    tail = scenestream(broker, prefix, "tail", "--video-id", video_id, "--until-done", "--timeout", "400",
                       timeout=460)
    assert tail.returncode == 0, tail.stderr + worker.stderr_tail()
    caps = [orjson.loads(line) for line in tail.stdout.splitlines() if line.strip()]
    events = events_of(broker, prefix, video_id)
    ingested = [e for e in events if e["kind"] == "ingested"]
    assert ingested, events
    n = ingested[-1]["counts"]["scenes"]
    assert n == 10  # the one-minute unit: cuts at 15, 30, 45, 50, 51.2, 53.04, 55.48, 57.48 and 59.68 s
    keys = Counter(r.key.decode() for r in read_topic(broker, prefix, "captions"))
    assert set(keys) == {f"{video_id}:{i}" for i in range(n)}  # none missing
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1]  # none twice
    assert [c["index"] for c in caps] == list(range(n)) and caps[-1]["last"]
    done = [e for e in events if e["kind"] == "done"]
    assert len(done) == 1 and done[0]["counts"] == {"scenes": n}, events
    assert not [e for e in events if e["kind"] == "failed"], events
    return n


def test_the_broker_stopped_and_started_again_mid_video(own_broker, prefix, tmp_path):
    broker = own_broker.address
    with HeldServer(media.long_video(1), HOLD_AT_SECONDS) as server, \
            WorkerProcess(broker, prefix, AGENTS, tmp_path, *LIGHT, store="rocksdb://") as worker:
        submit(broker, prefix, server.url, "restart-broker")
        before = {r.key.decode() for r in wait_for_a_caption(broker, prefix, worker)}
        assert before <= {"restart-broker:0", "restart-broker:1"}  # the server holds the rest of the video
        own_broker.stop()  # no --purge: topics, offsets, transactions and the group are kept on disk
        server.release()  # ingest goes on decoding while the broker is away: its sends wait for it
        assert worker.proc.poll() is None, worker.stderr_tail()
        own_broker.start()
        check_complete(broker, prefix, "restart-broker", worker)
        assert server.requests == 1  # the same worker went on with its decode: nothing was started again
        assert worker.proc.poll() is None, "the worker died:\n" + worker.stderr_tail()
        assert worker.stop() == 0, worker.stderr_tail()
    assert "Traceback" not in worker.log.read_text(), worker.stderr_tail(80)


def test_a_worker_killed_in_the_middle_of_its_decode(broker, prefix, tmp_path):
    with HeldServer(media.long_video(1), HOLD_AT_SECONDS) as server:
        first = WorkerProcess(broker, prefix, AGENTS, tmp_path / "first", *LIGHT, store="rocksdb://").start()
        try:
            submit(broker, prefix, server.url, "killed-ingest")
            before = {r.key.decode() for r in wait_for_a_caption(broker, prefix, first)}
            assert before <= {"killed-ingest:0", "killed-ingest:1"}
            first.kill()
            assert first.proc.returncode == -9
        finally:
            first.kill()
            first.stop()
        server.release()
        # A new worker with no local state (as on another machine): the request was never acknowledged, so it
        # decodes the video again from the start; the joiner's state comes back from its changelog and the scenes
        # already emitted are not emitted twice.
        with WorkerProcess(broker, prefix, AGENTS, tmp_path / "second", *LIGHT, store="rocksdb://") as second:
            check_complete(broker, prefix, "killed-ingest", second)
            assert server.requests == 2  # read again from the start by the new worker
            assert second.stop() == 0, second.stderr_tail()
