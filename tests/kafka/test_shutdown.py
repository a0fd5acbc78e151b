"""Bounded shutdown, on a real broker of its own: SIGTERM reaches a worker with scenes in work while its broker is
stopped at the same moment (a node drained while the cluster is down). The worker leaves within 30 s with one line
on stderr, and once the broker and a new worker are back the video completes with every caption exactly once."""
from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter

import orjson
import pytest

from tests import media
from tests.conftest import ROOT
from tests.kafka.kafkatools import WorkerProcess, read_topic, scenestream

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

BOUND = 30.0  # seconds from SIGTERM to exit, whatever the broker does (the bound)


def start_broker(data, *port: str) -> str:
    proc = subprocess.run([str(ROOT / "deploy/kafka/start"), "--port", *(port or ("0",)), "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def stop_broker(data, *purge: str) -> subprocess.Popen:
    return subprocess.Popen([str(ROOT / "deploy/kafka/stop"), "--data-dir", str(data), *purge],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def own_broker(tmp_path):
    data = tmp_path / "kafka"
    yield data, start_broker(data)
    stop_broker(data, "--purge").wait(120)


def test_sigterm_while_the_broker_stops_leaves_within_30_s_and_commits_nothing_twice(own_broker, prefix, tmp_path,
                                                                                      monkeypatch):
    data, broker = own_broker
    # The gate agent (tests/kafka/gate_agent.py) holds scenes 2 and on, so SIGTERM finds work in flight on any machine.
    monkeypatch.setenv("SCENESTREAM_PLUGINS", "tests.kafka.gate_agent")
    monkeypatch.setenv("SCENESTREAM_TEST_GATE", str(tmp_path / "gate-open"))
    agents, extra = "ingest,gate,joiner", ("-o", "joiner.sources=gate")
    first = WorkerProcess(broker, prefix, agents, tmp_path / "first", *extra, store="rocksdb://").start()
    try:
        assert scenestream(broker, prefix, "submit", str(media.bikes()), "--video-id", "drained").returncode == 0
        deadline = time.monotonic() + 240
        while not read_topic(broker, prefix, "captions"):
            assert time.monotonic() < deadline, "no caption within 240 s:\n" + first.stderr_tail()
            time.sleep(0.5)
        said_before = first.log.stat().st_size
        stopping = stop_broker(data)  # no --purge: it comes back with its topics
        first.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            first.proc.wait(BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {BOUND:g} s after SIGTERM:\n" + first.stderr_tail())
        took = time.monotonic() - sent
        assert stopping.wait(120) == 0
    finally:
        first.kill()
        first.stop()
    with open(first.log, errors="replace") as f:
        f.seek(said_before)
        after = [line for line in f.read().splitlines() if line.strip()]
    # The gate's thread holds a scene until the gate opens (never, here): the stop cannot finish by itself, so the
    # worker leaves when its grace is over, with one line, whatever its clients were retrying.
    assert len(after) == 1, after
    assert "still stopping" in after[0] and "SIGTERM" in after[0], after
    assert first.proc.returncode == 1
    print(f"\nworker left {took:.1f} s after SIGTERM with status {first.proc.returncode}: {after}")

    # The broker comes back on its port; a new worker, gate open, finishes the video.
    monkeypatch.delenv("SCENESTREAM_TEST_GATE")
    assert start_broker(data, broker.rsplit(":", 1)[1]) == broker
    with WorkerProcess(broker, prefix, agents, tmp_path / "second", *extra, store="rocksdb://") as second:
        tail = scenestream(broker, prefix, "tail", "--video-id", "drained", "--until-done", "--timeout", "300",
                           timeout=360)
        assert tail.returncode == 0, tail.stderr + second.stderr_tail()
        caps = [orjson.loads(line) for line in tail.stdout.splitlines() if line.strip()]
        assert [c["index"] for c in caps] == list(range(6))
    per_scene = Counter(r.key.decode() for r in read_topic(broker, prefix, "captions"))  # read_committed
    assert per_scene == {f"drained:{i}": 1 for i in range(6)}, per_scene
    done = [orjson.loads(r.value) for r in read_topic(broker, prefix, "video-events")
            if r.key == b"drained" and orjson.loads(r.value)["kind"] == "done"]
    assert len(done) == 1, done
