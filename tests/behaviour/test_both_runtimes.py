"""One behaviour suite, run through both runtimes on the same inputs: the embedded one (`scenestream run`) and
Kafka mode on the real broker (`scenestream worker` + `submit` + `tail`). Both load the same outside agent
(tests/behaviour/plugin_agent.py) through SCENESTREAM_PLUGINS: nothing else knows of it."""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from scenestream.schemas import CAPTION_SCHEMA_VERSION, SceneCaption
from tests import media
from tests.kafka.kafkatools import WorkerProcess, read_topic, scenestream

PLUGIN = "tests.behaviour.plugin_agent"
AGENTS = "detector,captioner,ocr,asr,tagger,brightness"
CAPTION_FIELDS = {f.name for f in dataclasses.fields(SceneCaption)}
BIKES_CUTS = [1.20, 3.04, 5.48, 7.48, 9.68]
ROOT = Path(__file__).resolve().parents[2]


class Embedded:
    name = "embedded"

    def __init__(self, tmp: Path):
        self.tmp = tmp

    def run(self, source: str, video_id: str) -> tuple[int, list[dict], list[str]]:
        """(exit status, caption records, stderr lines)."""
        out = self.tmp / video_id
        env = dict(os.environ, SCENESTREAM_PLUGINS=PLUGIN, HF_HUB_OFFLINE="1", YOLO_OFFLINE="1",
                   SCENESTREAM_OFFLINE="1")
        proc = subprocess.run([sys.executable, "-m", "streams", "run", source, "--out", str(out), "-q",
                               "--agents", AGENTS, "--video-id", video_id], capture_output=True, text=True,
                              timeout=600, env=env, cwd=ROOT)
        path = out / "captions.jsonl"
        caps = [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []
        return proc.returncode, caps, proc.stderr.strip().splitlines()

    def failure(self, source: str, video_id: str) -> str:
        code, caps, err = self.run(source, video_id)
        assert code == 1 and caps == [] and len(err) == 1, err
        return err[0]


class Kafka:
    name = "kafka"

    def __init__(self, broker: str, prefix: str, worker: WorkerProcess):
        self.broker, self.prefix, self.worker = broker, prefix, worker

    def run(self, source: str, video_id: str) -> tuple[int, list[dict], list[str]]:
        sub = scenestream(self.broker, self.prefix, "submit", source, "--video-id", video_id)
        assert sub.returncode == 0, sub.stderr
        tail = scenestream(self.broker, self.prefix, "tail", "--video-id", video_id, "--until-done", "--timeout",
                           "400", timeout=460)
        caps = [orjson.loads(line) for line in tail.stdout.splitlines() if line.strip()]
        return tail.returncode, caps, tail.stderr.strip().splitlines()

    def failure(self, source: str, video_id: str) -> str:
        sub = scenestream(self.broker, self.prefix, "submit", source, "--video-id", video_id)
        assert sub.returncode == 0, sub.stderr
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            events = [orjson.loads(r.value) for r in read_topic(self.broker, self.prefix, "video-events", timeout=10)
                      if r.key == video_id.encode()]
            failed = [e for e in events if e["kind"] == "failed"]
            if failed:
                return f"{failed[0]['code']}: {failed[0]['message']}"
        raise AssertionError(f"no failed event for {video_id}: {events}")


@pytest.fixture(scope="module", params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def runtime(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "embedded":
        yield Embedded(tmp)
        return
    broker = request.getfixturevalue("broker")
    prefix = f"scenestream-test-behaviour-{os.getpid()}."
    mp = pytest.MonkeyPatch()
    mp.setenv("SCENESTREAM_PLUGINS", PLUGIN)  # the worker subprocess inherits it
    try:
        with WorkerProcess(broker, prefix, f"ingest,{AGENTS},joiner", tmp) as worker:
            yield Kafka(broker, prefix, worker)
    finally:
        mp.undo()


@pytest.mark.slow
def test_bikes_gives_six_scenes_with_every_field_and_the_plugin_agent(runtime):
    code, caps, err = runtime.run(str(media.bikes()), f"bikes-{runtime.name}")
    assert code == 0, err
    assert [c["index"] for c in caps] == list(range(6))
    assert all(set(c) == CAPTION_FIELDS for c in caps)
    assert [c["start"] for c in caps[1:]] == pytest.approx(BIKES_CUTS, abs=0.041)
    assert caps[-1]["last"] and not any(c["last"] for c in caps[:-1])
    for c in caps:
        assert c["caption"] and c["captioner"].startswith("offline:")
        assert c["objects"].get("person", 0) >= 1 or c["tracks"] == []  # filled by the detector
        # bikes.mp4 has no audio track: both audio agents say so instead of being waited for
        # speakers is not a default agent, nor in AGENTS: marked as such
        assert c["missing"] == {"asr": "no audio track", "tagger": "no audio track", "speakers": "not enabled"}, \
            c["missing"]
        assert 0 < c["extra"]["brightness"]["mean"] < 255  # the outside agent, through the table alone
        assert c["emitted_at"] > 0 and c["schema_version"] == CAPTION_SCHEMA_VERSION
    assert sum(c["objects"].get("person", 0) for c in caps) >= 1  # the riders are seen


@pytest.mark.slow
def test_a_bad_request_ends_failed_in_one_line(runtime, tmp_path):
    missing = tmp_path / "no-such-video.mp4"
    line = runtime.failure(str(missing), f"missing-{runtime.name}")
    assert "no-such-video.mp4" in line and "\n" not in line and "Traceback" not in line


@pytest.mark.slow
def test_on_screen_text_is_read_in_both_runtimes(runtime):
    """The synthetic clip's first scene is FFmpeg's test pattern, which prints its running time code: the OCR agent
    reads it, through either runtime."""
    code, caps, err = runtime.run(str(media.synth_clip()), f"synth-{runtime.name}")
    assert code == 0, err
    assert [c["index"] for c in caps] == [0, 1, 2, 3]
    lines = [line["text"] for line in caps[0]["text"]]
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", t) for t in lines), lines
    for line in caps[0]["text"]:
        assert 0.0 <= caps[0]["start"] <= line["start"] <= line["end"] < caps[0]["end"]
        assert len(line["box"]) == 4 and all(0.0 <= v <= 1.0 for v in line["box"])
    assert "ocr" not in caps[0]["missing"]
