"""Which videos were asked for: a record of any other video is dead-lettered, never processed.

Every record of a real video follows a request: ingest sends the video's `accepted` event to `video-events` (and
waits until the broker has it) before it sends a single scene, audio chunk or frame. So a worker that has read
`video-events` up to its end knows every video that may have records, and a record of a video not among them
was made by someone else (a stray producer, a test tool, a client with write access to an inner topic). The model
agents and the joiner ask `known(video_id)` before they work on a record; `no` means a dead letter on `errors`
("unknown_video: ...") and +1 on `scenestream_unknown_video_records_total{topic}`, and the record is
acknowledged: it is dropped from the pipeline, kept for whoever investigates.

One consumer per worker follows every partition of `video-events` from its beginning, with no group (it commits
nothing). It reads uncommitted records: `accepted` events are not transactional, and read_committed would stop at
the joiner's open transactions. A video not yet seen makes `known` read up to the topic's current end before it
answers, so a record that arrives before its video's `accepted` event has been read is never turned away.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

import msgspec

from scenestream.schemas.topics import VIDEO_EVENTS
from scenestream.streams.runtimes.kafka.settings import KafkaSettings

log = logging.getLogger(__name__)

REMEMBERED = 100_000  # videos remembered (the oldest are forgotten: bounded memory on a long-lived cluster)
CATCH_UP = 30.0  # seconds `known` waits to read video-events up to its end


class _Event(msgspec.Struct):
    """The two fields of a VideoEvent this needs; the rest is skipped by the decoder."""

    video_id: str = ""
    kind: str = ""


class KnownVideos:
    def __init__(self, settings: KafkaSettings, remembered: int = REMEMBERED):
        self.settings = settings
        self.remembered = remembered
        self.videos: OrderedDict[str, None] = OrderedDict()
        self._consumer = None
        self._tps: list = []
        self._positions: dict = {}
        self._moved = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self._starting: asyncio.Lock | None = None

    def add(self, video_id: str) -> None:
        self.videos[video_id] = None
        self.videos.move_to_end(video_id)
        if len(self.videos) > self.remembered:
            self.videos.popitem(last=False)

    async def _start(self) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._task is not None:
                return
            from aiokafka import AIOKafkaConsumer

            from scenestream.streams.runtimes.kafka.admin import start_client
            from scenestream.streams.runtimes.kafka.client import topic_partitions

            s = self.settings
            consumer = AIOKafkaConsumer(bootstrap_servers=s.broker, group_id=None, enable_auto_commit=False,
                                        isolation_level="read_uncommitted", client_id="scenestream-known-videos",
                                        **s.aiokafka_auth())
            await start_client(consumer, s)
            self._tps = await topic_partitions(consumer, s.topic(VIDEO_EVENTS))
            consumer.assign(self._tps)
            await consumer.seek_to_beginning(*self._tps)
            self._consumer = consumer
            self._task = asyncio.create_task(self._follow(), name="scenestream-known-videos")

    async def _follow(self) -> None:
        consumer = self._consumer
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            except Exception as exc:  # a broker error must not end the follower: `known` would only time out
                log.warning("reading %s: %s: %s", self.settings.topic(VIDEO_EVENTS), type(exc).__name__, exc)
                await asyncio.sleep(1.0)
                continue
            for messages in batches.values():
                for m in messages:
                    if not m.value:
                        continue
                    try:
                        ev = msgspec.json.decode(m.value, type=_Event)
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        continue  # the joiner dead-letters an unreadable event; it names no video here
                    if ev.kind == "accepted" and ev.video_id:
                        self.add(ev.video_id)
            positions = {tp: await consumer.position(tp) for tp in self._tps}
            async with self._moved:
                self._positions = positions
                self._moved.notify_all()

    async def known(self, video_id: str) -> bool:
        """Was `video_id` accepted by an ingest? Reads video-events to its current end first when not yet seen.
        If that cannot be done within CATCH_UP seconds (the broker is in trouble) the answer is yes with a
        warning: a real video's records are never thrown away for want of an answer."""
        if video_id in self.videos:
            return True
        await self._start()
        try:
            ends = await asyncio.wait_for(self._consumer.end_offsets(self._tps), CATCH_UP)
            async with self._moved:
                await asyncio.wait_for(self._moved.wait_for(
                    lambda: all(self._positions.get(tp, -1) >= end for tp, end in ends.items())), CATCH_UP)
        except asyncio.TimeoutError:
            log.warning("could not read %s to its end within %g s; taking %s as known",
                        self.settings.topic(VIDEO_EVENTS), CATCH_UP, video_id)
            return True
        return video_id in self.videos

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # closing: whatever the follower ended with is moot
                pass
        if self._consumer is not None:
            await self._consumer.stop()


def video_of_key(key: bytes | None, scene_keyed: bool) -> str:
    """The video id a record's key names: inputs are keyed by video id, scenes by `video_id:index`."""
    text = (key or b"").decode("utf-8", "replace")
    if scene_keyed:
        vid, sep, index = text.rpartition(":")
        return vid if sep and index.isdigit() else text
    return text
