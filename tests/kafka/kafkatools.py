"""What the Kafka tests do as a user would: run `scenestream worker/submit/tail` as subprocesses, and read or write
topics with a plain aiokafka client."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

OFFLINE = {"HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1", "SCENESTREAM_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONUNBUFFERED": "1"}


def env(broker: str, prefix: str) -> dict:
    return dict(os.environ, **OFFLINE, SCENESTREAM_BROKER=broker, SCENESTREAM_PREFIX=prefix)


def scenestream(broker: str, prefix: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams", *args], capture_output=True, text=True,
                          timeout=timeout, env=env(broker, prefix))


class WorkerProcess:
    """`scenestream worker` in a subprocess; started when entered, stopped with SIGTERM when left."""

    def __init__(self, broker: str, prefix: str, agents: str, workdir: Path, *extra: str, store: str = "memory://",
                 session_timeout: float = 10.0):
        self.broker, self.prefix = broker, prefix
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / f"worker-{time.monotonic_ns()}.log"
        # SCENESTREAM_TEST_WORKER_LOGLEVEL=info: the workers' logs (in workdir) tell more when a test is looked into.
        level = os.environ.get("SCENESTREAM_TEST_WORKER_LOGLEVEL", "warning")
        self.args = [sys.executable, "-m", "streams", "worker", "--agents", agents, "--store", store,
                     "--data-dir", str(workdir / "data"), "--loglevel", level, *extra]
        # Short sessions: a killed worker's partitions move to the next one within seconds.
        self.env = dict(env(broker, prefix), SCENESTREAM_SESSION_TIMEOUT=str(session_timeout),
                        SCENESTREAM_HEARTBEAT_INTERVAL=str(min(3.0, session_timeout / 3)))
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._ready = threading.Event()

    def start(self, timeout: float = 240) -> "WorkerProcess":
        self._stderr = open(self.log, "w")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=self.env)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.2):
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.stderr_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"worker not ready within {timeout} s:\n{self.stderr_tail()}")
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("scenestream worker ready"):
                self._ready.set()

    def stderr_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 60) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._stderr.close()
        return self.proc.returncode

    def __enter__(self) -> "WorkerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


async def _read_topic(broker: str, topic: str, timeout: float) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        for _ in range(50):
            if parts:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
            parts = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts or [])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out = []
        deadline = time.monotonic() + timeout
        while any([await consumer.position(tp) < ends[tp] for tp in tps]) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for msgs in batch.values():
                out += msgs
        return out
    finally:
        await consumer.stop()


def read_topic(broker: str, prefix: str, name: str, timeout: float = 30) -> list:
    """Every committed record of a topic (aiokafka ConsumerRecords: .key, .value, .partition, .offset)."""
    return asyncio.run(_read_topic(broker, prefix + name, timeout))


async def _lags(broker: str, prefix: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, isolation_level="read_committed")
    await admin.start()
    await consumer.start()
    try:
        lines = []
        for group, *_ in await admin.list_consumer_groups():
            if not group.startswith(prefix):
                continue
            offsets = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(list(offsets))
            lines += [f"{group[len(prefix):]} {tp.topic[len(prefix):]}[{tp.partition}]: committed {o.offset} of "
                      f"{ends[tp]}" for tp, o in sorted(offsets.items()) if o.offset < ends[tp]]
        return lines
    finally:
        await consumer.stop()
        await admin.close()


def lags(broker: str, prefix: str) -> str:
    """Each consumer group of the test's prefix with its partitions not committed to their end: when a test timed
    out waiting on a pipeline, this says which input a worker stopped taking."""
    try:
        return "\n".join(asyncio.run(_lags(broker, prefix))) or "(every group committed to the end)"
    except Exception as exc:  # noqa: BLE001 - a diagnostic for a failure message must not hide the failure
        return f"(lags unknown: {type(exc).__name__}: {exc})"


async def _produce(broker: str, topic: str, key: bytes | None, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def produce(broker: str, prefix: str, name: str, key: bytes | None, value: bytes) -> None:
    asyncio.run(_produce(broker, prefix + name, key, value))
