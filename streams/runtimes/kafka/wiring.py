"""What the parts of one Kafka worker share: the faust app and the topics by short name. The agents' handlers
(ingest, models, join) take a Wiring; streams/runtimes/kafka/app.py composes them, so nothing here imports a handler."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP

from scenestream.schemas.topics import ERRORS
from scenestream.schemas import DeadLetter, dumps
from scenestream.streams.core import metrics
from scenestream.streams.runtimes.kafka.known_videos import KnownVideos
from scenestream.streams.runtimes.kafka.settings import KafkaSettings

PAYLOAD_LIMIT = 2000  # characters of an unreadable message kept in its dead letter


class App(faust.App):
    """faust.App with a hook that runs before faust starts waiting on a rebalance, so a worker can let go of
    long work (a video being ingested) on partitions it is losing instead of finishing it for the new owner."""

    revoke_hooks: list
    # Per app, never per process (two apps in one process must not share them): the joiner's transactional
    # input topics, its table's changelog topics, and the lock that keeps a commit from closing over half an event.
    joiner_topics: frozenset = frozenset()
    changelog_topics: frozenset = frozenset()
    _joiner_lock: asyncio.Lock | None = None

    def joiner_lock(self) -> asyncio.Lock:
        if self._joiner_lock is None:
            self._joiner_lock = asyncio.Lock()
        return self._joiner_lock

    async def _on_partitions_revoked(self, revoked: set[TP]) -> None:
        for hook in getattr(self, "revoke_hooks", []):
            hook(revoked)
        await super()._on_partitions_revoked(revoked)


@dataclass
class Wiring:
    """What the agents of one worker share: the app, its settings and the topics by short name."""

    app: App
    settings: KafkaSettings
    topics: dict[str, Any] = field(default_factory=dict)
    table: Any = None  # the joiner's, when it runs here
    known: Any = None  # KnownVideos, made on first use

    async def unknown_video(self, source: str, key: bytes | None, raw: bytes | None, video_id: str) -> bool:
        """True (and the record dead-lettered and counted) when no request was made for `video_id`: the caller
        acknowledges the record and does nothing else with it."""
        if self.known is None:
            self.known = KnownVideos(self.settings)
        if await self.known.known(video_id):
            return False
        metrics.unknown_video(source)
        await self.dead_letter(source, key, raw, f"unknown_video: no request was made for video {video_id!r}")
        return True

    def topic(self, name: str):
        if name not in self.topics:
            s = self.settings
            self.topics[name] = self.app.topic(s.topic(name), key_serializer="raw", value_serializer="raw",
                                               partitions=s.partitions_of(name), config=s.topic_config(name))
        return self.topics[name]

    async def send(self, name: str, key: str, record: Any, wait: bool = False):
        """Send a record; with `wait`, return only once the broker has it (back-pressure, and at-least-once:
        an input is acknowledged only after what it produced is stored)."""
        fut = await self.topic(name).send(key=key.encode(), value=dumps(record), force=True)
        if wait:
            await fut
        return fut

    async def dead_letter(self, source: str, key: bytes | None, raw: bytes | None, reason: str) -> None:
        payload = (raw or b"").decode("utf-8", "replace")[:PAYLOAD_LIMIT]
        letter = DeadLetter(self.settings.topic(source), " ".join(reason.split())[:500], payload, time.time())
        await self.send(ERRORS, (key or b"").decode("utf-8", "replace"), letter, wait=True)
