"""Where the outputs read SceneCaption records from: a captions.jsonl, a run's output folder (DIR/captions.jsonl), or
the live Kafka captions topic. Records come out as plain dicts (orjson), so readers of any schema version work: a
v1 record simply lacks `text`, `extra` and `emitted_at`, and every consumer here uses `.get` with a default.

Files are read line by line, never whole. A line that is not a JSON object is skipped with one line on stderr: one
bad record must not stop an export or an index of thousands."""
from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from pathlib import Path
from typing import AsyncIterator, Iterable, Iterator

import orjson

from scenestream.schemas.topics import CAPTIONS
from scenestream.agents.errors import ConfigError

CAPTIONS_FILE = "captions.jsonl"


def captions_path(source: str | Path) -> Path:
    """The captions.jsonl that SOURCE names: the file itself, or DIR/captions.jsonl for a run's output folder."""
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / CAPTIONS_FILE
        if not path.is_file():
            raise ConfigError(f"{source}: no {CAPTIONS_FILE} in this folder (is it a `scenestream run --out` folder?)")
        return path
    if not path.is_file():
        raise ConfigError(f"{source}: no such file or folder")
    return path


def _record(raw: bytes, where: str) -> dict | None:
    try:
        rec = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        print(f"scenestream: {where}: not JSON, skipped ({exc})", file=sys.stderr)
        return None
    if not isinstance(rec, dict) or "video_id" not in rec or "index" not in rec:
        print(f"scenestream: {where}: not a scene record (no video_id/index), skipped", file=sys.stderr)
        return None
    return rec


def read_jsonl(source: str | Path) -> Iterator[dict]:
    """SceneCaption dicts from a captions.jsonl or a run folder, one line at a time."""
    path = captions_path(source)
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                rec = _record(line, f"{path}:{n}")
                if rec is not None:
                    yield rec


def read_sources(sources: Iterable[str | Path]) -> Iterator[dict]:
    for source in sources:
        yield from read_jsonl(source)


def scene_key(rec: dict) -> str:
    return f"{rec['video_id']}:{rec['index']}"


# ------------------------------------------------------------------ Kafka


def default_group(settings, db_path: str | Path) -> str:
    """One consumer group per index file: two indexes must each see every scene, so they must not share a group,
    while restarting the same index resumes where it stopped."""
    resolved = str(Path(db_path).expanduser().resolve())
    return f"{settings.prefix}index-{Path(resolved).stem[:32]}-{hashlib.sha1(resolved.encode()).hexdigest()[:8]}"


async def _started(client, settings, timeout: float = 30.0) -> None:
    from aiokafka.errors import KafkaConnectionError

    try:
        await asyncio.wait_for(client.start(), timeout)
    except (KafkaConnectionError, asyncio.TimeoutError, OSError) as exc:
        raise ConfigError(f"cannot reach the Kafka broker at {settings.broker} ({type(exc).__name__}: {exc})") from None


async def follow_captions(settings, group: str, idle_timeout: float | None = None,
                          max_records: int = 200) -> AsyncIterator[list[dict]]:
    """Batches of SceneCaption dicts from the captions topic, read as consumer group `group` (so several followers
    in one group share the partitions, and a restarted follower resumes from its committed offsets; a new group
    starts at the oldest record kept). Offsets are committed when the caller asks for the next batch, i.e. after it
    has handled this one: at-least-once, which is exact for consumers that upsert by scene key. Stops after
    `idle_timeout` seconds without a record (None: runs until cancelled)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topic(CAPTIONS), bootstrap_servers=settings.broker, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", isolation_level="read_committed", client_id="scenestream-outputs",
        max_partition_fetch_bytes=settings.max_message_bytes, session_timeout_ms=int(settings.session_timeout * 1000),
        heartbeat_interval_ms=int(settings.heartbeat_interval * 1000), **settings.aiokafka_auth())
    await _started(consumer, settings)
    try:
        last = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
            records = []
            for tp, messages in batches.items():
                for m in messages:
                    if m.value is None:  # a tombstone of the compacted topic
                        continue
                    rec = _record(m.value, f"{tp.topic}[{tp.partition}]@{m.offset}")
                    if rec is not None:
                        records.append(rec)
            if records:
                last = time.monotonic()
                yield records
            if batches:
                await consumer.commit()
            elif idle_timeout is not None and time.monotonic() - last > idle_timeout:
                return
    finally:
        await consumer.stop()


async def snapshot_captions(settings, video_id: str | None = None) -> list[dict]:
    """Every record the captions topic holds now (from the oldest kept to the end at the time of the call), without
    a consumer group; the newest record per scene key wins (a replay after a crash repeats a key). For exports.
    Kept in memory: an export of a topic is bounded by what the topic retains."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed", client_id="scenestream-export",
                                max_partition_fetch_bytes=settings.max_message_bytes, **settings.aiokafka_auth())
    await _started(consumer, settings)
    try:
        topic = settings.topic(CAPTIONS)
        parts = None
        for _ in range(50):
            parts = consumer.partitions_for_topic(topic)
            if parts:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        if not parts:
            raise ConfigError(f"topic {topic} does not exist (wrong --prefix?)")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        latest: dict[str, dict] = {}
        idle = 0
        # Transaction markers take offsets too, so "position reached the end" is the test; ten idle seconds end a
        # read that a marker never lets finish.
        while idle < 10 and [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
            idle = 0 if batches else idle + 1
            for tp, messages in batches.items():
                for m in messages:
                    if m.value is None or m.offset >= ends[tp]:
                        continue
                    rec = _record(m.value, f"{tp.topic}[{tp.partition}]@{m.offset}")
                    if rec is not None and (video_id is None or rec.get("video_id") == video_id):
                        latest[scene_key(rec)] = rec
        return sorted(latest.values(), key=lambda r: (r["video_id"], r["index"]))
    finally:
        await consumer.stop()


__all__ = ["CAPTIONS_FILE", "captions_path", "default_group", "follow_captions", "read_jsonl",
           "read_sources", "scene_key", "snapshot_captions"]
