"""A model agent of the table on Kafka: records from its input topic, its processor's outputs
to its output topic, keyed by video id so the joiner sees each video's outputs on one partition.

The processor runs on a single-thread executor (its model is never called concurrently, and the event loop keeps
heart-beating while a model works). An input is acknowledged only once every output it leads to is stored: some
agents answer a record later (ASR gathers audio up to a silence), so acknowledging on return would let a crash
lose the transcript of audio whose offset was already committed. Outputs carry the index of the input window
they cover, so an output with index i for a video releases that video's inputs up to i.

An agent that keeps per-video state (`resumable`, the speakers agent) is handed, before this worker's first record
of a video that started elsewhere (index > 0: a takeover after a crash or a rebalance), the last output of its own
that the previous owner stored for that video, read back from its output topic: its labels carry on.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass
from typing import Any

import msgspec

from scenestream.schemas import loads
from scenestream.schemas.topics import SCENES
from scenestream.streams.core import metrics, table
from scenestream.streams.core.batch import batches, run_batch
from scenestream.streams.runtimes.kafka.known_videos import video_of_key
from scenestream.streams.runtimes.kafka.wiring import Wiring

log = logging.getLogger(__name__)

MAX_PENDING = 64  # inputs held per video waiting for an answer; beyond this the oldest is released anyway
SEEN_VIDEOS = 10_000  # videos a resumable agent remembers having seen (the oldest are forgotten)


@dataclass
class _Head:
    """The two fields of an input that say whether this worker has seen its video, read without the payload."""

    video_id: str = ""
    index: int = 0


class PendingAcks:
    """Inputs processed but not yet answered, per video, in arrival order."""

    def __init__(self, limit: int = MAX_PENDING):
        self.limit = limit
        self.videos: dict[str, deque] = defaultdict(deque)

    def hold(self, video_id: str, index: int, event) -> None:
        q = self.videos[video_id]
        q.append((index, event))
        if len(q) > self.limit:  # an agent that never answers some inputs must not pin the partition's offset
            q.popleft()[1].ack()

    def answered(self, video_id: str, index: int, last: bool) -> None:
        q = self.videos.get(video_id)
        while q and (last or q[0][0] <= index):
            q.popleft()[1].ack()
        if q is not None and not q:
            del self.videos[video_id]

    def forget(self, revoked) -> None:
        """Drop inputs of partitions this worker lost: their new owner redoes them."""
        for vid in list(self.videos):
            q = deque(item for item in self.videos[vid] if item[1].message.tp not in revoked)
            if q:
                self.videos[vid] = q
            else:
                del self.videos[vid]

    def __len__(self) -> int:
        return sum(len(q) for q in self.videos.values())


class ModelRunner:
    def __init__(self, wiring: Wiring, name: str, proc: Any):
        self.wiring = wiring
        self.name = name
        self.proc = proc
        self.spec = table.spec(name)
        self.source, self.record_type = self.spec.input_topic, self.spec.input_type
        self.out_topic = self.spec.output_topic
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)
        self.pending = PendingAcks()
        self.batch = batches(self.spec, proc)
        self.batched = self.batch > 1
        self.seen: OrderedDict[str, None] = OrderedDict()

    def _run(self, inputs: list[tuple[bytes, str]]) -> tuple[list, list]:
        """Decode and process, in the executor thread, (payload, the video id its key names) pairs. Returns
        (outputs, per input: (video_id, index) or the reason it could not be read)."""
        records, keys = [], []
        for raw, key_video in inputs:
            try:
                rec = loads(self.record_type, raw)
            except ValueError as exc:
                keys.append(str(exc))
                continue
            if rec.video_id != key_video:  # the key was checked against the known videos, so the payload must agree
                keys.append(f"bad_record: video_id {rec.video_id!r} differs from the key's {key_video!r}")
                continue
            records.append(rec)
            keys.append((rec.video_id, rec.index))
        return run_batch(self.spec, self.proc, records), keys

    async def _resume_taken_over(self, events: list) -> None:
        """Before a resumable agent's first record of a video that began elsewhere: its last stored output."""
        for e in events:
            if e.key is not None and e.key.decode("utf-8", "replace") in self.seen:
                continue  # inputs are keyed by video id: a known video costs no parse of its payload
            try:
                head = msgspec.json.decode(e.value, type=_Head)
            except (msgspec.DecodeError, msgspec.ValidationError, TypeError):
                continue  # unreadable: _run makes it a dead letter
            if head.video_id in self.seen:
                continue
            self.seen[head.video_id] = None
            if len(self.seen) > SEEN_VIDEOS:
                self.seen.popitem(last=False)
            if head.index > 0:
                last = await self.last_output(head.video_id)
                if last is not None:
                    await asyncio.get_running_loop().run_in_executor(self.executor, self.proc.resume, last)
                    log.warning("%s: took %s over from its output %d", self.name, head.video_id, last.index)

    async def last_output(self, video_id: str):
        """This agent's newest output for `video_id` on its output topic, or None (its partition read through once,
        as `scenestream status` does: a takeover is rare)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.partitioner import DefaultPartitioner

        from scenestream.streams.runtimes.kafka.client import topic_partitions

        s = self.wiring.settings
        consumer = AIOKafkaConsumer(bootstrap_servers=s.broker, enable_auto_commit=False, **s.aiokafka_auth())
        await consumer.start()
        try:
            topic = s.topic(self.out_topic)
            parts = [tp.partition for tp in await topic_partitions(consumer, topic)]
            key = video_id.encode()
            tp = TopicPartition(topic, DefaultPartitioner()(key, parts, parts))  # where the producer put it
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            newest = None
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=2000, max_records=500)
                if not batch:
                    break
                for m in batch.get(tp, []):
                    if m.key == key and m.value is not None:
                        try:
                            newest = loads(self.spec.output_type, m.value)
                        except ValueError:
                            continue
            return newest
        finally:
            await consumer.stop()

    async def handle(self, events: list, manual_acks: bool) -> None:
        loop = asyncio.get_running_loop()
        # A record of a video nobody asked for is dead-lettered, never processed (known_videos.py). By its key:
        # the payload is decoded in the executor, where _run checks that it names the same video.
        wanted, videos = [], []
        for e in events:
            vid = video_of_key(e.key, scene_keyed=self.source == SCENES)
            if await self.wiring.unknown_video(self.source, e.key, e.value, vid):
                if manual_acks:
                    e.ack()
            else:
                wanted.append(e)
                videos.append(vid)
        events = wanted
        if not events:
            return
        if self.proc.resumable:
            await self._resume_taken_over(events)
        t0 = time.perf_counter()
        outputs, keys = await loop.run_in_executor(self.executor, self._run,
                                                   [(e.value, v) for e, v in zip(events, videos)])
        metrics.agent_busy(self.name, time.perf_counter() - t0)
        metrics.queue_depth(self.name, len(self.pending))
        for e, key in zip(events, keys):
            if isinstance(key, str):
                await self.wiring.dead_letter(self.source, e.key, e.value, key)
                if manual_acks:
                    e.ack()
            elif manual_acks:  # held until an output answers it
                self.pending.hold(key[0], key[1], e)
        sent = [await self.wiring.send(self.out_topic, out.video_id, out) for out in outputs]
        if sent:
            await asyncio.gather(*sent)  # stored on the broker before the inputs they answer are released
        if manual_acks:
            for out in outputs:
                self.pending.answered(out.video_id, out.index, bool(out.last))


def register_model_agent(wiring: Wiring, name: str, proc: Any) -> ModelRunner:
    runner = ModelRunner(wiring, name, proc)
    wiring.app.revoke_hooks.append(runner.pending.forget)

    async def agent(stream):
        if runner.batched:
            # Captioner-style agents gain from batches: up to max_batch records, waiting at most batch_wait.
            # take_events acknowledges a batch after this block: outputs are stored by then.
            async for events in stream.take_events(runner.batch, within=runner.proc.batch_wait):
                await runner.handle(list(events), manual_acks=False)
        else:
            async for event in stream.noack().events():
                await runner.handle([event], manual_acks=True)

    wiring.app.agent(wiring.topic(runner.source), name=f"scenestream.{name}")(agent)
    return runner
