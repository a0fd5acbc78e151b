"""Records of a video nobody asked for, on the real broker: well-formed scenes, scene bounds and an agent output for a
video with no request are dead-lettered on `errors` ("unknown_video: ..."), counted in
`scenestream_unknown_video_records_total{topic}`, and never processed: the model agent never sees them, the joiner
emits nothing for them. A real video submitted beside them completes as usual."""
from __future__ import annotations

import dataclasses
import re
import time
import urllib.request

import orjson
import pytest

from scenestream.schemas import dumps
from tests import media
from tests.kafka.kafkatools import WorkerProcess, produce, read_topic, scenestream
from tests.schemas.test_records import SAMPLES

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

STRANGER = "nobody-asked"


def metrics_url(worker: WorkerProcess, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"metrics on http://[^:]+:(\d+)/metrics", worker.log.read_text(errors="replace"))
        if m:
            return f"http://127.0.0.1:{m.group(1)}/metrics"  # loopback: the server binds every address
        time.sleep(0.2)
    raise AssertionError("the worker never said where its metrics are:\n" + worker.stderr_tail())


def unknown_counts(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r'^scenestream_unknown_video_records_total\{topic="([^"]+)"\} (\S+)$', text, re.M)}


def test_records_of_an_unknown_video_are_dead_lettered_counted_and_never_processed(broker, prefix, tmp_path,
                                                                                  monkeypatch):
    gate_log = tmp_path / "gate.log"
    monkeypatch.setenv("SCENESTREAM_PLUGINS", "tests.kafka.gate_agent")  # a model agent that logs what it sees
    monkeypatch.setenv("SCENESTREAM_TEST_GATE_LOG", str(gate_log))
    monkeypatch.delenv("SCENESTREAM_TEST_GATE", raising=False)  # it holds nothing
    scene = dataclasses.replace(SAMPLES["scenes"], video_id=STRANGER, index=0)
    strays = {  # topic -> (key, record): each as ingest or an agent would have written it
        "scenes": (scene.key, scene),
        "scene-bounds": (STRANGER, dataclasses.replace(scene, keyframes=[])),
        "vlm-captions": (STRANGER, dataclasses.replace(SAMPLES["vlm-captions"], video_id=STRANGER, index=0)),
    }
    with WorkerProcess(broker, prefix, "ingest,gate,joiner", tmp_path, "-o", "joiner.sources=gate",
                       "--metrics-port", "0") as worker:
        url = metrics_url(worker)
        for topic, (key, record) in strays.items():
            produce(broker, prefix, topic, key.encode(), dumps(record))
        sub = scenestream(broker, prefix, "submit", str(media.bikes()), "--video-id", "bikes-known")
        assert sub.returncode == 0, sub.stderr
        tail = scenestream(broker, prefix, "tail", "--video-id", "bikes-known", "--until-done", "--timeout", "300",
                           timeout=360)
        caps = [orjson.loads(line) for line in tail.stdout.splitlines() if line.strip()]
        assert tail.returncode == 0 and [c["index"] for c in caps] == list(range(6)), tail.stderr + worker.stderr_tail()

        # Each stray ends as a dead letter naming its topic and the reason.
        deadline, letters = time.monotonic() + 120, []
        while time.monotonic() < deadline:
            letters = [orjson.loads(r.value) for r in read_topic(broker, prefix, "errors")]
            if {lt["topic"] for lt in letters if lt["reason"].startswith("unknown_video")} >= {prefix + t for t in strays}:
                break
            time.sleep(1)
        unknown = [lt for lt in letters if lt["reason"].startswith("unknown_video")]
        assert sorted(lt["topic"] for lt in unknown) == sorted(prefix + t for t in strays), letters
        assert all(STRANGER in lt["reason"] and "\n" not in lt["reason"] for lt in unknown), unknown
        assert [lt for lt in letters if lt not in unknown] == [], letters  # the real video made none
        assert unknown_counts(url) == {t: 1.0 for t in strays}
        assert worker.proc.poll() is None, worker.stderr_tail()

    # Never processed: the gate agent saw the real video's six scenes and nothing of the stranger's ...
    passed = [line.split()[1] for line in gate_log.read_text().splitlines()]
    assert sorted(passed) == sorted(f"bikes-known:{i}" for i in range(6)), passed
    # ... and the joiner emitted no caption nor event for it.
    assert not [r for r in read_topic(broker, prefix, "captions") if r.key.decode().startswith(STRANGER)]
    assert not [r for r in read_topic(broker, prefix, "video-events") if r.key == STRANGER.encode()]
    assert "Traceback" not in worker.log.read_text(), worker.stderr_tail(80)
