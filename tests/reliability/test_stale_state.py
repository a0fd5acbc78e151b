"""A worker whose local state belongs to another cluster (the development broker restarted with fresh data, as
`deploy/kafka/start` does after `stop --purge`) starts and serves: state is kept per cluster id."""
from __future__ import annotations

import subprocess
import tempfile

import orjson
import pytest

from tests import media
from tests.conftest import ROOT
from tests.kafka.kafkatools import WorkerProcess, scenestream

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def second_broker():
    data = tempfile.mkdtemp(prefix="scenestream-test-kafka-b-")
    proc = subprocess.run([str(ROOT / "deploy/kafka/start"), "--port", "0", "--data-dir", data],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    try:
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(ROOT / "deploy/kafka/stop"), "--data-dir", data, "--purge"], capture_output=True,
                       timeout=120)


def _run_bikes(broker: str, prefix: str, video_id: str) -> list[dict]:
    sub = scenestream(broker, prefix, "submit", str(media.bikes()), "--video-id", video_id)
    assert sub.returncode == 0, sub.stderr
    tail = scenestream(broker, prefix, "tail", "--video-id", video_id, "--until-done", "--timeout", "300",
                       timeout=360)
    assert tail.returncode == 0, tail.stderr
    return [orjson.loads(line) for line in tail.stdout.splitlines() if line.strip()]


def test_state_of_another_cluster_does_not_stop_a_worker(broker, second_broker, prefix, tmp_path):
    agents = "ingest,joiner"
    extra = ("-o", "joiner.sources=none")
    with WorkerProcess(broker, prefix, agents, tmp_path, *extra, store="rocksdb://"):
        assert len(_run_bikes(broker, prefix, "first")) == 6  # the joiner's table now has changelog offsets
    # Same data dir, same topic names, another cluster whose topics are empty.
    with WorkerProcess(second_broker, prefix, agents, tmp_path, *extra, store="rocksdb://") as worker:
        assert len(_run_bikes(second_broker, prefix, "second")) == 6
        assert worker.proc.poll() is None
    assert "ConsistencyError" not in worker.log.read_text()
    assert len(list((tmp_path / "data").glob("cluster-*"))) == 2  # one state directory per cluster
