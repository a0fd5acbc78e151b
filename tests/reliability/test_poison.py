"""Poison messages on every topic a worker reads, on the real broker: each ends in the dead-letter topic with a
one-line reason and is acknowledged (the group's committed offset moves past it); no agent crashes, the log has
no traceback, and a video submitted afterwards completes."""
from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka import AIOKafkaConsumer

from scenestream.schemas import dumps
from scenestream.streams.runtimes.kafka.settings import KafkaSettings, joiner_inputs
from tests import media
from tests.kafka.kafkatools import WorkerProcess, produce, read_topic, scenestream
from tests.schemas.test_records import SAMPLES

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

AGENTS = ["ingest", "asr", "tagger", "detector", "captioner", "ocr", "joiner"]


def _sample(topic: str) -> dict:
    return orjson.loads(dumps(SAMPLES["scenes" if topic == "scene-bounds" else topic]))


def _poisons(topic: str) -> dict[str, bytes]:
    """kind -> raw message, for one topic."""
    base = _sample(topic)
    out = {"not-json": b"{oops", "not-an-object": b"[1, 2, 3]", "empty": b"",
           "wrong-type": orjson.dumps({**base, "index": "3"} if "index" in base else {**base, "video_id": 7})}
    shapes = {"scenes": {"keyframes": 7}, "scene-bounds": {"keyframes": [{"time": "x", "jpeg": ""}]},
              "audio": {"pcm": "%%% not base64 %%%"}, "frames": {"frames": 7},
              "detections": {"tracks": [{"track_id": 1, "label": "p", "confidence": 1, "box": [0, 1], "time": 0}]},
              "transcripts": {"words": {"word": "x"}}, "audio-tags": {"events": 5}, "vlm-captions": {"caption": [1]},
              "scene-text": {"lines": "text"}, "speaker-turns": {"turns": [{"speaker": 1}]},
              "video-events": {"kind": 5}, "videos": {"options": [1]}}
    out["wrong-shape"] = orjson.dumps({**base, **shapes[topic]})
    if topic == "scenes":
        out["bad-base64"] = orjson.dumps({**base, "keyframes": [{"time": 0.0, "jpeg": "%%%"}]})
    return out


def _topics() -> list[str]:
    return ["videos", "scenes", "audio", "frames", *joiner_inputs()]


async def _committed_and_ends(broker: str, group: str, topics: list[str]) -> tuple[dict, dict]:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    consumer = AIOKafkaConsumer(bootstrap_servers=broker)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or [])]
        ends = await consumer.end_offsets(tps) if tps else {}
        return {tp: meta.offset for tp, meta in committed.items()}, ends
    finally:
        await consumer.stop()
        await admin.close()


def test_poison_on_every_input_topic_is_dead_lettered_acknowledged_and_harmless(broker, prefix, tmp_path):
    topics = _topics()
    sent: dict[bytes, str] = {}
    with WorkerProcess(broker, prefix, ",".join(AGENTS), tmp_path) as worker:
        for topic in topics:
            for kind, raw in _poisons(topic).items():
                key = f"poison-{topic}-{kind}".encode()
                produce(broker, prefix, topic, key, raw)
                sent[key] = topic
        # Every poison message gets its letter (scenes and audio are read by two agents each: two letters).
        deadline, letters = time.monotonic() + 180, {}
        while time.monotonic() < deadline and not set(sent) <= set(letters):
            letters = {}
            for r in read_topic(broker, prefix, "errors", timeout=10):
                letters.setdefault(r.key, []).append(orjson.loads(r.value))
            time.sleep(2)
        missing = sorted(k.decode() for k in set(sent) - set(letters))
        assert not missing, f"no dead letter for {missing}\n{worker.stderr_tail()}"
        for key, topic in sent.items():
            for letter in letters[key]:
                assert letter["topic"] == prefix + topic
                assert letter["reason"] and "\n" not in letter["reason"], letter

        # ...and the worker goes on: a real video submitted afterwards completes.
        sub = scenestream(broker, prefix, "submit", str(media.bikes()), "--video-id", "after-poison")
        assert sub.returncode == 0, sub.stderr
        tail = scenestream(broker, prefix, "tail", "--video-id", "after-poison", "--until-done", "--timeout", "400",
                           timeout=460)
        caps = [orjson.loads(line) for line in tail.stdout.splitlines() if line.strip()]
        assert tail.returncode == 0 and [c["index"] for c in caps] == list(range(6)), tail.stderr + worker.stderr_tail()
        assert worker.proc.poll() is None, "the worker died"

        # Acknowledged: the group's committed offsets reach the end of every poisoned topic.
        group = KafkaSettings(prefix=prefix).group_for(AGENTS)
        deadline = time.monotonic() + 60
        while True:
            committed, ends = asyncio.run(_committed_and_ends(broker, group, [prefix + t for t in topics]))
            behind = {f"{tp.topic}[{tp.partition}]": (committed.get(tp), end) for tp, end in ends.items()
                      if end > 0 and committed.get(tp, -1) < end}
            if not behind or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert not behind, f"offsets not committed past the poison: {behind}"
    log = worker.log.read_text()
    assert "Traceback" not in log, log[-4000:]
