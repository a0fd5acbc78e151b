"""Quiet clients, on the real broker: the retries aiokafka makes while a fresh prefix's topics and the group come up
(NotLeaderForPartition, GroupCoordinatorNotAvailable, "retrying") are not printed; a real failure still is, as one
line."""
from __future__ import annotations

import re
import socket

import orjson
import pytest

from tests import media
from tests.kafka.kafkatools import WorkerProcess, scenestream

pytestmark = pytest.mark.kafka

NOISE = re.compile(r"NotLeaderForPartition|LeaderNotAvailable|GroupCoordinatorNotAvailable|retrying", re.I)


@pytest.mark.slow
def test_a_fresh_prefix_prints_no_expected_retries(broker, prefix, tmp_path):
    # submit first: it creates the fresh prefix's topics itself, and sends at once.
    sub = scenestream(broker, prefix, "submit", str(media.bikes()), "--video-id", "quiet")
    assert sub.returncode == 0 and sub.stdout.strip() == "quiet", sub.stderr
    assert sub.stderr == "", sub.stderr  # nothing at all, retries included
    with WorkerProcess(broker, prefix + "w.", "ingest,joiner", tmp_path, "-o", "joiner.sources=none") as worker:
        # A worker on another fresh prefix: it makes the topics and the group, then a video goes through.
        sub = scenestream(broker, prefix + "w.", "submit", str(media.bikes()), "--video-id", "quiet-w")
        assert sub.returncode == 0 and sub.stderr == "", sub.stderr
        tail = scenestream(broker, prefix + "w.", "tail", "--video-id", "quiet-w", "--until-done", "--timeout", "300",
                           timeout=360)
        assert tail.returncode == 0, tail.stderr + worker.stderr_tail()
        assert [orjson.loads(line)["index"] for line in tail.stdout.splitlines() if line.strip()] == list(range(6))
    said = worker.log.read_text(errors="replace")
    assert not NOISE.findall(said), said[-4000:]


def test_a_broker_that_is_down_is_still_one_line(prefix):
    with socket.socket() as s:  # a loopback port nobody listens on (bound, then closed)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = scenestream(f"127.0.0.1:{port}", prefix, "submit", str(media.bikes()), "--video-id", "nowhere",
                       timeout=60)
    assert proc.returncode != 0
    said = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(said) == 1, proc.stderr
    assert f"127.0.0.1:{port}" in said[0] and "deploy/kafka/start" in said[0], said


def test_the_filter_drops_expected_retries_and_keeps_real_errors():
    # Unit test of the one piece (the noise itself depends on the broker's timing, so the test above may not see it).
    import logging

    from scenestream.streams.runtimes.kafka import client_logs

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("aiokafka.producer.sender", logging.WARNING, __file__, 1, message, None, None)

    f = client_logs.ExpectedRetries()
    assert not f.filter(record("Got error produce response on topic-partition TopicPartition(topic='t', partition=0),"
                               " retrying. Error: [Error 6] NotLeaderForPartitionError"))
    assert not f.filter(record("Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError"))
    assert f.filter(record("Got error produce response: [Error 10] MessageSizeTooLargeError"))
    assert not f.filter(record('Unable connect to "localhost:1": [Errno 111] Connect call failed'))
    assert client_logs.bootstrap_reason("PLAINTEXT") == "[Errno 111] Connect call failed"
    assert client_logs.bootstrap_reason("PLAINTEXT") == ""  # read once
