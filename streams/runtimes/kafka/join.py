"""The joiner on Kafka: one faust agent over all six of its input topics (co-partitioned by video id), its per-video
state in a faust Table, its SceneCaptions to `captions` keyed `video_id:index` and `done` to `video-events`.

The state logic is `scenestream.streams.core.joiner.Joiner.apply`, shared with the embedded runtime. For each event: load the
video's VideoJoin from the table, apply the record, store the state back, send what it released. With
exactly_once those three writes and the input offset commit together (transactions.py), so a crash never loses a
scene nor emits one twice. A finished video leaves only a tombstone (its next index and `done`) so a replay of its
inputs after a crash is recognised and emits nothing.

Chapters and summaries (streams/video/stage.py) are made here, from the captions as the joiner releases them: the
joiner owns each video's partition and releases its scenes in order, so no reordering is needed. They go to
`chapters` (keyed `video_id:index`) and `summaries` (keyed by video id) inside the same transaction as the
captions. Their state (a few dozen scene vectors and a text sample per video in progress) is in memory; the table
keeps only their progress (VideoJoin.wholes: chapters sent, the open chapter's start), so a video whose partition
moves to another worker mid-stream goes on there with the next chapter number and the open chapter's start. What
is not carried is the open chapter's text and the last scenes' vectors: the new owner finds its boundaries afresh
from there, and the summary's sentences are those of the chapters closed after the move.

Table values are zlib-compressed JSON: a long scene keeps its detector windows until it is emitted, and every state
write is a changelog message that has to stay well under the message size limit.
"""
from __future__ import annotations

import asyncio
import logging
import time
import zlib

import orjson

from scenestream.schemas.topics import CAPTIONS, VIDEO_EVENTS
from scenestream.schemas import Scene, SceneCaption, VideoEvent, dumps, loads
from scenestream.streams.core import metrics, table
from scenestream.streams.core.joiner import Joiner, VideoJoin
from scenestream.streams.runtimes.kafka.wiring import Wiring
from scenestream.streams.runtimes.kafka.settings import SCENE_BOUNDS, joiner_inputs
from scenestream.streams.runtimes.kafka.transactions import joiner_partition

log = logging.getLogger(__name__)


def records_of() -> dict[str, type]:
    """The record type of each joiner input topic: every agent's output (from the table), events, scene bounds."""
    return {**{s.output_topic: s.output_type for s in map(table.spec, table.names())},
            VIDEO_EVENTS: VideoEvent, SCENE_BOUNDS: Scene}


def encode_state(v: VideoJoin) -> bytes:
    if v.done:  # a tombstone: enough to ignore any replay of this video
        v = VideoJoin(v.video_id, v.sources, next_index=v.next_index, failed=v.failed, done=True)
    return zlib.compress(v.encode(), 1)


def decode_state(raw: bytes) -> VideoJoin:
    return VideoJoin.decode(zlib.decompress(raw))


class JoinRunner:
    def __init__(self, wiring: Wiring, sources: list[str], chapters=None):
        self.wiring = wiring
        self.joiner = Joiner(sources)
        self.wholes = None  # the chapters-and-summary stage, unless -o chapters.enabled=false
        if chapters is not None:  # plan.chapters(): None when -o chapters.enabled=false
            from scenestream.streams.video.stage import VideoWholes

            self.wholes = VideoWholes(chapters)
        s = wiring.settings
        self.short = {s.topic(n): n for n in joiner_inputs()}
        self.record_of = records_of()
        # Keys and values are raw bytes: the app's default serializers.
        self.table = wiring.app.Table("joiner", partitions=s.partitions, key_type=bytes, value_type=bytes,
                                      extra_topic_configs={"max.message.bytes": str(s.max_message_bytes)},
                                      help="per-video join state (zlib JSON of scenestream.streams.core.joiner.VideoJoin)")
        self.eos = s.guarantee == "exactly_once"

    def _transaction_open(self, partition: int) -> bool:
        """With exactly_once, is this worker's transactional producer for the partition alive? During a
        rebalance an event of a partition being taken away may still reach us: leave it to the new owner."""
        producer = self.wiring.app.producer
        tid = f"{self.wiring.app.conf.id}-joiner-{partition}"
        # faust's Producer has no public accessor for its live transactional producers; this private dict is the
        # only record of which transactions this worker still holds after a rebalance.
        return tid in getattr(producer, "_transaction_producers", {})

    async def handle(self, event) -> bool:
        """Apply one input. False if it was left unprocessed (not to be acknowledged)."""
        w = self.wiring
        message = event.message
        if self.eos and not self._transaction_open(message.partition):
            log.warning("joiner: no transaction for partition %s (moving in a rebalance); left to its owner",
                        message.partition)
            return False
        name = self.short.get(message.topic, "")
        try:
            record = loads(self.record_of[name], event.value)
        except (KeyError, ValueError) as exc:
            with joiner_partition(message.partition):
                await w.dead_letter(name or message.topic, event.key, event.value, str(exc))
            return True
        # A record of a video nobody asked for is dead-lettered (known_videos.py). A `failed` event is ingest's
        # answer to a request it could not accept, so it names a video with no `accepted` event: it passes.
        if not (isinstance(record, VideoEvent) and record.kind == "failed"):
            with joiner_partition(message.partition):
                if await w.unknown_video(name, event.key, event.value, record.video_id):
                    return True
        key = record.video_id.encode()
        raw = self.table.get(key)
        v = decode_state(raw) if raw else VideoJoin(record.video_id, list(self.joiner.sources))
        if v.done:
            return True  # a replay of a finished video: nothing to emit, nothing to store
        released = self.joiner.apply(v, record)
        outs: list[tuple[str, str, object]] = []  # (topic, key, record) to send, in order
        if self.wholes is not None and v.wholes:
            self.wholes.resume(record.video_id, v.wholes)  # taken over from another worker: go on from its progress
        for out in released:
            if isinstance(out, SceneCaption):
                out.emitted_at = time.time()
                outs.append((CAPTIONS, out.key, out))
                metrics.scene_emitted()
                outs += await self._wholes(self.wholes.take if self.wholes else None, orjson.loads(dumps(out)))
            else:
                out.time = out.time or time.time()
                outs.append((VIDEO_EVENTS, out.video_id, out))
                metrics.video_status(out.kind)
                if out.kind in ("done", "failed"):
                    outs += await self._wholes(self.wholes.end if self.wholes else None, out.video_id)
        if self.wholes is not None:
            v.wholes = self.wholes.progress(record.video_id)
        self.table[key] = encode_state(v)
        with joiner_partition(message.partition):
            for topic, out_key, out in outs:
                await w.send(topic, out_key, out)
        if isinstance(record, VideoEvent) and record.kind == "failed":
            metrics.video_status("failed")
        return True

    async def _wholes(self, fn, arg) -> list[tuple[str, str, object]]:
        """The chapters stage on one released record (its embedding in a thread: the loop keeps heart-beating) ->
        what closed, to send inside the caller's transaction."""
        if fn is None:
            return []
        from scenestream.streams.video.stage import key_of, topic_of

        try:
            made = await asyncio.to_thread(fn, arg)
        except Exception:  # noqa: BLE001 - chapters are extra: the captions stand
            log.exception("joiner: chapters stage failed; chapters off in this worker")
            self.wholes = None
            return []
        return [(topic_of(whole), key_of(whole), whole) for whole in made]


def register_joiner(wiring: Wiring, sources: list[str], chapters=None) -> JoinRunner:
    runner = JoinRunner(wiring, sources, chapters)
    wiring.table = runner.table
    s = wiring.settings
    topic = wiring.app.topic(*[s.topic(n) for n in joiner_inputs()], key_serializer="raw", value_serializer="raw",
                             partitions=s.partitions)

    async def joiner(stream):
        async for event in stream.noack().events():
            # One event at a time against the commit (see transactions.py): state, outputs and ack together.
            async with wiring.app.joiner_lock():
                if await runner.handle(event):
                    event.ack()

    wiring.app.agent(topic, name="scenestream.joiner")(joiner)
    return runner
