"""The captions topic into a search index, as a Kafka consumer group that commits only what the cluster has taken.

Each poll's records are written with SearchIndex.write (in a thread: the consumer keeps heart-beating while a bulk
waits for a restarting cluster), and only once that returns, i.e. every document is acknowledged or in the dead
letter, are the batch's offsets committed. A sink stopped at any point (Ctrl-C, kill -9, SearchUnavailable after
`retry_for`) leaves the group's offsets at the last acknowledged batch, so the next start resumes there: nothing is
lost, and what is read twice is written twice under the same _id, which changes no document.

A message that is not a scene record (not JSON, no video_id/index) goes to the dead letter with its topic, partition
and offset; a tombstone of the compacted topic is skipped.

Chapters: where the `chapters` topic exists, the same group follows it too, so each scene document gets the chapter
that holds it, as `index` does from a run folder's chapters.json. A chapter closes a few scenes after its last one,
on another topic, and a consumer catching up may read it before or after its scenes. So each chapter is kept in
ALIAS-chapters (SearchIndex.write_chapters) and set on the scenes already indexed, and each batch of scenes looks
up its videos' chapters there before it is written. Both are in the cluster before the offsets are committed, so
a restart loses neither. Left open: two sinks of one group that share the work may split a chapter from its scenes
across them, and a scene indexed by one between the other's chapter lookup and its update misses its chapter
until it is written again.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Callable

import orjson

from scenestream.schemas import codec
from scenestream.schemas.records import Chapter
from scenestream.schemas.topics import CAPTIONS, CHAPTERS
from scenestream.streams.outputs.opensearch import SearchIndex, Written
from scenestream.streams.outputs.sources import _started


def default_group(kafka_settings, index: SearchIndex) -> str:
    """One group per cluster and index written to: two clusters (or a rebuild's new version, which must read the
    whole topic) never share offsets, while restarting the same sink resumes."""
    where = f"{index.s.url.rstrip('/')}/{index.target}"
    return f"{kafka_settings.prefix}opensearch-{index.target[:40]}-{hashlib.sha1(where.encode()).hexdigest()[:8]}"


def _decoded(messages, decode: Callable[[bytes], dict]) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Each message's value through `decode` (which raises ValueError with the reason for a value it refuses),
    and (where, reason, raw) for each refused one; tombstones of the compacted topics are skipped."""
    good, unreadable = [], []
    for m in messages:
        if m.value is None:
            continue
        try:
            good.append(decode(m.value))
        except ValueError as exc:
            unreadable.append((f"{m.topic}[{m.partition}]@{m.offset}", str(exc), m.value.decode("utf-8", "replace")))
    return good, unreadable


def _scene(raw: bytes) -> dict:
    try:
        rec = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(rec, dict) or "video_id" not in rec or "index" not in rec:
        raise ValueError("not a scene record (no video_id/index)")
    return rec


def _chapter(raw: bytes) -> dict:
    ch = codec.loads(Chapter, raw)
    if len(ch.scenes) != 2 or ch.scenes[0] > ch.scenes[1]:
        raise ValueError(f"chapter {ch.key}: scenes must be [first, last], got {ch.scenes}")
    return codec.to_dict(ch)


async def follow(index: SearchIndex, kafka_settings, group: str, idle_timeout: float | None = None,
                 max_records: int | None = None, on_batch: Callable[[Written], None] | None = None,
                 chapters: bool = True) -> Written:
    """Follow the captions topic (and, with `chapters`, the chapters topic where it exists) as `group` until
    `idle_timeout` seconds pass without a record (None: until cancelled). Returns the totals written."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import CommitFailedError

    s = kafka_settings
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.broker, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", isolation_level="read_committed", client_id="scenestream-opensearch",
        max_partition_fetch_bytes=s.max_message_bytes, session_timeout_ms=int(s.session_timeout * 1000),
        heartbeat_interval_ms=int(s.heartbeat_interval * 1000),
        # A bulk may wait out a cluster restart (retry_for): the group must not take the partitions away meanwhile.
        max_poll_interval_ms=int(max(s.max_poll_interval, index.s.retry_for + 60) * 1000), **s.aiokafka_auth())
    await _started(consumer, s)
    topics = [s.topic(CAPTIONS)]
    try:
        if chapters and s.topic(CHAPTERS) in await consumer.topics():
            topics.append(s.topic(CHAPTERS))
            await asyncio.to_thread(index.prepare_chapters)
        elif chapters:
            index.warn(f"no topic {s.topic(CHAPTERS)} (a pipeline with chapters off?): scenes indexed without "
                       "chapters")
        consumer.subscribe(topics)
    except BaseException:
        await consumer.stop()
        raise
    total = Written()
    try:
        last = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=max_records or index.s.batch)
            if not batches:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    return total
                continue
            last = time.monotonic()
            messages = [m for batch in batches.values() for m in batch]
            # Chapters first: the scenes of this very batch then find theirs.
            found, unreadable = _decoded((m for m in messages if m.topic != topics[0]), _chapter)
            if found:
                await asyncio.to_thread(index.write_chapters, found)
            records, bad = _decoded((m for m in messages if m.topic == topics[0]), _scene)
            unreadable += bad
            known = (await asyncio.to_thread(index.chapters_for, {r["video_id"] for r in records})
                     if records and len(topics) > 1 else [])
            written = await asyncio.to_thread(index.write, records, known or None, unreadable)
            total.indexed += written.indexed
            total.rejected += written.rejected
            try:
                await consumer.commit({tp: messages[-1].offset + 1 for tp, messages in batches.items()})
            except CommitFailedError as exc:
                # The group moved these partitions to another member while we wrote: it reads them again from the
                # last commit and writes the same documents again (same _ids), which is harmless.
                index.warn(f"offsets not committed, the group rebalanced ({exc}); the new owner re-reads them")
            if on_batch is not None:
                on_batch(written)
            last = time.monotonic()  # idle means no records, not a long write
    finally:
        await consumer.stop()


__all__ = ["default_group", "follow"]
