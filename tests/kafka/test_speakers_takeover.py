"""A speakers worker killed in the middle of a live video, and another taking the video over: the labels go on
where the first left them (the new owner reads the last SpeakerTurns the first one stored, whose `state` holds the
speakers so far), and every scene has exactly one record. The video is the speakers clip served live at its own
pace (ffmpeg -re on a loopback port), so the kill falls between its windows."""
from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, defaultdict

import orjson
import pytest

from tests import media
from tests.kafka.kafkatools import WorkerProcess, read_topic, scenestream
from tests.streams.live_server import LiveServer


async def _committed(broker: str, group: str, topic: str) -> int:
    """The highest offset `group` has committed on any partition of `topic` (-1: none)."""
    from aiokafka import AIOKafkaConsumer

    from scenestream.streams.runtimes.kafka.client import topic_partitions

    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return max([(await consumer.committed(tp)) or -1 for tp in await topic_partitions(consumer, topic)],
                   default=-1)
    finally:
        await consumer.stop()


def label_of_each_truth_turn(records: list[dict], truth) -> list[tuple[str, str]]:
    """(true speaker, the label covering most of that turn) for each true turn."""
    turns = [t for r in records for t in r["speakers"]]
    out = []
    for who, a, b in truth:
        cover: Counter = Counter()
        for t in turns:
            cover[t["speaker"]] += max(0.0, min(b, t["end"]) - max(a, t["start"]))
        if cover:
            out.append((who, cover.most_common(1)[0][0]))
    return out


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.timeout(900)
def test_a_speakers_worker_taking_a_video_over_keeps_its_labels(broker, tmp_path):
    clip, truth = media.speakers_clip()
    prefix = f"scenestream-test-takeover-{os.getpid()}."
    video = "talk-takeover"
    with LiveServer(clip) as live, \
            WorkerProcess(broker, prefix, "ingest,joiner", tmp_path / "a", "-o", "joiner.sources=speakers"):
        first = WorkerProcess(broker, prefix, "speakers", tmp_path / "b").start()
        try:
            sub = scenestream(broker, prefix, "submit", live.url, "--video-id", video, "--live")
            assert sub.returncode == 0, sub.stderr
            deadline = time.monotonic() + 300
            while not [r for r in read_topic(broker, prefix, "speaker-turns", timeout=5) if r.key == video.encode()]:
                assert time.monotonic() < deadline, f"no speaker turns in 300 s:\n{first.stderr_tail()}"
            # Once the answered audio's offsets are committed, the next owner starts after them, in the middle.
            while asyncio.run(_committed(broker, f"{prefix}worker-speakers", f"{prefix}audio")) <= 0:
                assert time.monotonic() < deadline, "the speakers worker committed no offset"
                time.sleep(0.5)
            first.kill()  # its first window is stored; the rest of the video is still to come
            killed_at = max((m for m, _ in live.reports), default=0.0)
        finally:
            first.kill()
        with WorkerProcess(broker, prefix, "speakers", tmp_path / "c") as second:
            tail = scenestream(broker, prefix, "tail", "--video-id", video, "--until-done", "--timeout", "500",
                               timeout=560)
            log = second.stderr_tail(400)
    assert tail.returncode == 0, tail.stderr[-2000:]
    # The kill fell in the video, not after it: the second worker got the video from the middle and carried on
    # from stored state (its log says so below). How far the stream had got is the machine's speed: printed only.
    print(f"the first speakers worker was killed after {killed_at:.1f} s of the live stream")
    records = [orjson.loads(x) for x in tail.stdout.splitlines() if x.strip()]
    # One record per scene (a live source closes a scene after 10 s without a cut), the video covered to its end.
    assert sorted(r["index"] for r in records) == list(range(len(records))) and records[-1]["end"] > 119
    assert f"took {video} over" in log, log[-2000:]
    pairs = label_of_each_truth_turn(records, truth)
    labels: dict[str, set] = defaultdict(set)
    for who, label in pairs:
        labels[who].add(label)
    # Each person one label for the whole video, before and after the takeover, and no two people the same one.
    assert all(len(v) == 1 for v in labels.values()), pairs
    assert len({next(iter(v)) for v in labels.values()}) == len(labels), pairs
