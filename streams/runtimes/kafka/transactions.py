"""Exactly-once for the joiner: its captions, its table's changelog writes and its input offsets commit together
in one Kafka transaction per input partition, as a Kafka Streams task does.

faust's own exactly_once picks a transactional producer by the partition a message is *sent to*, which only works
when every output partition is also an input partition of the same worker; the joiner's captions are keyed
`video_id:index` and land anywhere, so faust's mapping fails. Here the producer is picked by the partition the
joiner is *reading* (`joiner_partition`, set around its sends; the changelog's partition is the input's by
construction), with a stable transactional id `<group>-joiner-<partition>`: a restarted worker's producer fences the
crashed one and aborts its open transaction, and the table recovers only committed state (read_committed).

Everything else (ingest and the model agents) stays at-least-once through the ordinary idempotent producer and a
plain offset commit: their outputs are flushed before their offsets commit, and the joiner ignores replays
(windows and scenes it has already used are dropped by index).
"""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator, Mapping

from aiokafka.errors import ProducerFenced
from faust.transport.consumer import TransactionManager
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport

log = logging.getLogger(__name__)
_joiner_partition: ContextVar[int | None] = ContextVar("scenestream_joiner_partition", default=None)


@contextmanager
def joiner_partition(partition: int) -> Iterator[None]:
    """Sends made inside this block belong to the transaction of the joiner's input `partition`."""
    token = _joiner_partition.set(partition)
    try:
        yield
    finally:
        _joiner_partition.reset(token)


class JoinerTransactions(TransactionManager):
    """Reads its settings from its own app (streams/runtimes/kafka/wiring.py App): the topics whose offsets commit inside
    the joiner's transactions, the table changelog, and the per-app lock. faust commits from its own task,
    concurrently with the agents; the joiner holds the lock while it handles one event (table write, sends, ack)
    and a commit takes it too, so a transaction never closes over half an event."""

    @property
    def transactional_topics(self) -> frozenset:
        return getattr(self.app, "joiner_topics", frozenset())

    @property
    def changelog_topics(self) -> frozenset:
        return getattr(self.app, "changelog_topics", frozenset())

    def lock(self) -> asyncio.Lock:
        return self.app.joiner_lock()

    def _tid(self, partition: int) -> str:
        return f"{self.app.conf.id}-joiner-{partition}"

    def _tps_to_transactional_ids(self, tps) -> set[str]:
        assignor = self.app.assignor
        return {self._tid(tp.partition) for tp in tps
                if tp.topic in self.transactional_topics and not assignor.is_standby(tp)}

    async def _start_transactions(self, tids) -> None:
        # faust begins a transaction for every assigned partition on each rebalance; one kept across the rebalance
        # is already in a transaction (aiokafka refuses a second begin with a warning).
        # (No public accessor for the open ones: faust's Producer keeps them in this private dict only.)
        running = getattr(self.producer, "_transaction_producers", {})
        await super()._start_transactions([t for t in tids if t not in running])

    async def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None,
                   timestamp: float | None, headers: Any, *, transactional_id: str | None = None):
        p = partition if topic in self.changelog_topics else _joiner_partition.get()
        tid = self._tid(p) if p is not None else None
        return await self.producer.send(topic, key, value, partition, timestamp, headers, transactional_id=tid)

    async def commit(self, offsets: Mapping[Any, int], start_new_transaction: bool = True) -> bool:
        async with self.lock():
            try:
                await self._commit(offsets, start_new_transaction)
            except ProducerFenced as exc:  # another worker owns these partitions now: this one is a zombie
                log.warning("transactional producer fenced: %s", exc)
                await self.app.crash(exc)
        return True

    async def _commit(self, offsets: Mapping[Any, int], start_new_transaction: bool) -> None:
        # faust buffers table changelog writes before they reach a producer: push them out first, so each lands
        # in the transaction of the input it was made for, not the next one.
        await self.producer.flush()
        plain = {tp: off for tp, off in offsets.items() if tp.topic not in self.transactional_topics}
        if plain:
            await self.consumer._commit(plain)
        by_tid: dict[str, dict] = defaultdict(dict)
        for tp, off in offsets.items():
            if tp.topic in self.transactional_topics:
                by_tid[self._tid(tp.partition)][tp] = off
        if by_tid:
            await self.producer.commit_transactions(by_tid, self.app.conf.id,
                                                    start_new_transaction=start_new_transaction)


class ConsumerThread(AIOKafkaConsumerThread):
    async def _highwaters(self, partitions):
        # faust asks aiokafka for `last_stable_offset` under exactly_once, which is None until a partition has been
        # fetched: table recovery then sees "-1", skips restoring a partition that just moved here, and trips over
        # its own persisted offsets. A ListOffsets request at read_committed answers the last stable offset.
        return await self._ensure_consumer().end_offsets(partitions)


class Consumer(AIOKafkaConsumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(AIOKafkaTransport):
    Consumer = Consumer
    TransactionManager = JoinerTransactions
