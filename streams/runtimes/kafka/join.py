"""The joiner on Kafka: one faust agent over all six of its input topics (co-partitioned by video id), its per-video
state in a faust Table, its SceneCaptions to `captions` keyed `video_id:index` and `done` to `video-events`.

The state logic is `scenestream.streams.core.joiner.Joiner.apply`, shared with the embedded runtime. For each event: load the
video's VideoJoin from the table, apply the record, store the state back, send what it released. With
exactly_once those three writes and the input offset commit together (transactions.py), so a crash never loses a
scene nor emits one twice. A finished video leaves only a tombstone (its next index and `done`) so a replay of its
inputs after a crash is recognised and emits nothing.

Table values are zlib-compressed JSON: a long scene keeps its detector windows until it is emitted, and every state
write is a changelog message that has to stay well under the message size limit.
"""
from __future__ import annotations

import logging
import time
import zlib

from scenestream.schemas.topics import CAPTIONS, VIDEO_EVENTS
from scenestream.schemas import Scene, SceneCaption, VideoEvent, loads
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
    def __init__(self, wiring: Wiring, sources: list[str]):
        self.wiring = wiring
        self.joiner = Joiner(sources)
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
        self.table[key] = encode_state(v)
        with joiner_partition(message.partition):
            for out in released:
                if isinstance(out, SceneCaption):
                    out.emitted_at = time.time()
                    await w.send(CAPTIONS, out.key, out)
                    metrics.scene_emitted()
                else:
                    out.time = out.time or time.time()
                    await w.send(VIDEO_EVENTS, out.video_id, out)
                    metrics.video_status(out.kind)
        if isinstance(record, VideoEvent) and record.kind == "failed":
            metrics.video_status("failed")
        return True


def register_joiner(wiring: Wiring, sources: list[str]) -> JoinRunner:
    runner = JoinRunner(wiring, sources)
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
