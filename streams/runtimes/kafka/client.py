"""The user's side of Kafka mode, with plain aiokafka clients: submit a video, follow its captions, look up its
status. No consumer group: a tail reads without committing anything, so any number of them can watch."""
from __future__ import annotations

import asyncio
import sys
import time
from typing import Callable, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from scenestream.schemas.topics import CAPTIONS, VIDEOS, VIDEO_EVENTS
from scenestream.agents.errors import ConfigError
from scenestream.schemas import VideoEvent, VideoRequest, dumps, loads
from scenestream.streams.runtimes.kafka.admin import ensure_topics, start_client
from scenestream.streams.runtimes.kafka.settings import KafkaSettings


async def submit(settings: KafkaSettings, request: VideoRequest) -> None:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, client_id="scenestream-submit",
                                max_request_size=settings.max_message_bytes, acks="all",
                                **settings.aiokafka_auth())
    await _start(producer, settings)
    try:
        await producer.send_and_wait(settings.topic(VIDEOS), dumps(request), key=request.video_id.encode())
    except KafkaError as exc:  # not authorized, too large, timed out: one line, not a traceback
        raise ConfigError(f"cannot send the request to {settings.topic(VIDEOS)}: {type(exc).__name__}: {exc}") from None
    finally:
        await producer.stop()


_start = start_client


def _consumer(settings: KafkaSettings) -> AIOKafkaConsumer:
    # read_committed: with exactly_once, a crashed joiner's unfinished transaction is never seen.
    return AIOKafkaConsumer(bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False,
                            isolation_level="read_committed", client_id="scenestream-client",
                            max_partition_fetch_bytes=settings.max_message_bytes, **settings.aiokafka_auth())


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The topic's partitions, once the client's metadata has them (a fresh client may need a few updates)."""
    for _ in range(100):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise ConfigError(f"topic {topic} does not exist (has a worker or submit run with this --prefix?)")


class Tail:
    """Prints caption records as JSON lines. With a video id, in scene order; with `until_done`, returns once that
    video's `done` event has come and every scene up to its last has been printed (exit status 0), or on its
    `failed` event (1)."""

    def __init__(self, settings: KafkaSettings, out: TextIO = sys.stdout, video_id: str | None = None,
                 until_done: bool = False, from_beginning: bool = False, timeout: float | None = None,
                 on_event: Callable[[VideoEvent], None] | None = None):
        if until_done and not video_id:
            raise ConfigError("--until-done needs --video-id")
        self.s = settings
        self.out = out
        self.video_id = video_id
        self.until_done = until_done
        # Following one video means all of it: start at the beginning so no early scene is missed.
        self.from_beginning = from_beginning or video_id is not None
        self.timeout = timeout
        self.on_event = on_event
        self.printed: set[str] = set()  # scene keys already printed: a replayed record is shown once
        self.next_index = 0
        self.held: dict[int, bytes] = {}
        self.total: int | None = None
        self.failed: VideoEvent | None = None

    def _emit(self, raw: bytes) -> None:
        self.out.write(raw.decode() + "\n")
        self.out.flush()

    def _caption(self, key: str, raw: bytes) -> None:
        if key in self.printed:
            return
        if self.video_id is None:
            self.printed.add(key)
            self._emit(raw)
            return
        vid, _, index = key.rpartition(":")
        if vid != self.video_id or not index.isdigit():
            return
        self.printed.add(key)
        self.held[int(index)] = raw
        while self.next_index in self.held:
            self._emit(self.held.pop(self.next_index))
            self.next_index += 1

    def _event(self, raw: bytes) -> None:
        try:
            ev = loads(VideoEvent, raw)
        except ValueError:
            return
        if self.video_id is not None and ev.video_id != self.video_id:
            return
        if self.on_event:
            self.on_event(ev)
        if ev.kind == "done":
            self.total = int(ev.counts.get("scenes", 0))
        elif ev.kind == "failed":
            self.failed = ev

    def finished(self) -> bool:
        if not self.until_done:
            return False
        if self.total is not None:
            return self.next_index >= self.total
        return self.failed is not None

    async def run(self) -> int:
        consumer = _consumer(self.s)
        await _start(consumer, self.s)
        captions, events = self.s.topic(CAPTIONS), self.s.topic(VIDEO_EVENTS)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            tps = await topic_partitions(consumer, captions) + await topic_partitions(consumer, events)
            consumer.assign(tps)
            if self.from_beginning:
                await consumer.seek_to_beginning(*tps)
            else:
                await consumer.seek_to_end(*tps)
            while not self.finished():
                if deadline is not None and time.monotonic() > deadline:
                    print(f"scenestream: tail timed out after {self.timeout:g} s", file=sys.stderr)
                    return 3
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                for tp, messages in sorted(batches.items(), key=lambda kv: kv[0].topic != captions):
                    for m in messages:
                        key = (m.key or b"").decode("utf-8", "replace")
                        if tp.topic == captions and m.value is not None:
                            self._caption(key, m.value)
                        elif tp.topic == events and m.value is not None:
                            self._event(m.value)
            if self.failed is not None and self.total is None:
                print(f"scenestream: {self.failed.video_id} failed: {self.failed.code}: {self.failed.message}",
                      file=sys.stderr)
                return 1
            return 0
        finally:
            await consumer.stop()


async def status(settings: KafkaSettings, video_id: str) -> VideoEvent | None:
    """The latest event of a video (its `done` or `failed` once there is one): reads its video-events partition from the beginning (a dev tool's way)."""
    consumer = _consumer(settings)
    await _start(consumer, settings)
    try:
        topic = settings.topic(VIDEO_EVENTS)
        tps = await topic_partitions(consumer, topic)
        key = video_id.encode()
        # The producer's default partitioner (murmur2 of the key) says which partition holds this video's events.
        p = DefaultPartitioner()(key, [tp.partition for tp in tps], [tp.partition for tp in tps])
        tp = TopicPartition(topic, p)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        latest = final = None
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=1000)
            for m in batch.get(tp, []):
                if m.key == key and m.value is not None:
                    try:
                        latest = loads(VideoEvent, m.value)
                    except ValueError:
                        continue
                    if latest.kind in ("done", "failed"):
                        final = latest
            if not batch:
                break
        # `done` (from the joiner) can precede ingest's own `ingested`: the final state wins over what came later.
        return final or latest
    finally:
        await consumer.stop()


def make_request(source: str, video_id: str, options: dict) -> VideoRequest:
    return VideoRequest(video_id, source, options, time.time())


__all__ = ["Tail", "make_request", "status", "submit"]
