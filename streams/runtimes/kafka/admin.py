"""Creating the topics with the right partitions and configuration before anyone produces to them.

A broker with auto-creation on (the default) would otherwise create a topic on first use with its own default
partition count, which breaks the co-partitioning the joiner relies on. Workers and `submit` call
`ensure_topics`, so whichever starts first lays the topics out, and a mismatch is a one-line ConfigError.
"""
from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from scenestream.agents.errors import ConfigError
from scenestream.streams.runtimes.kafka import client_logs
from scenestream.streams.runtimes.kafka.settings import KafkaSettings, all_topics, joiner_inputs

TOPIC_ALREADY_EXISTS = 36
AUTHORIZATION_FAILED = (29, 31)  # TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED


def admin_client(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=settings.broker, client_id="scenestream-admin",
                               request_timeout_ms=30000, **settings.aiokafka_auth())


async def start_client(client, settings: KafkaSettings, timeout: float = 30.0) -> None:
    """Start any aiokafka client; a broker it cannot reach or log in to is one ConfigError line with the reason."""
    client_logs.install()
    try:
        await asyncio.wait_for(client.start(), timeout)
    except (KafkaConnectionError, asyncio.TimeoutError, OSError) as exc:
        said = client_logs.bootstrap_reason(settings.protocol())
        reason = said or f"{type(exc).__name__}: {exc}"
        nobody = not said or "refused" in said or "Errno 111" in said  # nothing listens there
        hint = "; start one with deploy/kafka/start" if nobody else ""
        raise ConfigError(f"cannot reach the Kafka broker at {settings.broker}: {reason}{hint}") from None


async def cluster_id(settings: KafkaSettings, timeout: float = 30.0) -> str:
    """The id of the cluster the broker belongs to (KRaft formats a new one for fresh data)."""
    client = admin_client(settings)
    await start_client(client, settings, timeout)
    try:
        return str((await client.describe_cluster()).get("cluster_id") or "unknown")
    except KafkaError as exc:
        raise ConfigError(f"Kafka admin request failed: {type(exc).__name__}: {exc}") from None
    finally:
        await client.close()


async def ensure_topics(settings: KafkaSettings, names: tuple[str, ...] | None = None, timeout: float = 30.0) -> None:
    """Create the missing ones of `names` (without prefix, default all); check that the joiner's inputs are
    co-partitioned."""
    names = all_topics() if names is None else names
    client = admin_client(settings)
    await start_client(client, settings, timeout)
    try:
        existing = set(await client.list_topics())
        missing = [n for n in names if settings.topic(n) not in existing]
        if missing:
            new = [NewTopic(settings.topic(n), settings.partitions_of(n), settings.replication,
                            topic_configs=settings.topic_config(n)) for n in missing]
            response = await client.create_topics(new, timeout_ms=int(timeout * 1000))
            for topic, code, *rest in response.topic_errors:
                if code in AUTHORIZATION_FAILED:
                    raise ConfigError(f"user {settings.sasl_username or 'ANONYMOUS'!r} is not authorized to create topic {topic} "
                                      f"(no ACL allows it; error {code})")
                if code not in (0, TOPIC_ALREADY_EXISTS):  # another process may have just made it
                    raise ConfigError(f"cannot create topic {topic}: error {code} {rest[0] if rest else ''}".strip())
            await _await_leaders(client, [settings.topic(n) for n in missing], timeout)
        await _check_copartitioned(client, settings, names)
    except KafkaError as exc:
        raise ConfigError(f"Kafka admin request failed: {type(exc).__name__}: {exc}") from None
    finally:
        await client.close()


async def _await_leaders(client: AIOKafkaAdminClient, topics: list[str], timeout: float) -> None:
    """Until every partition of the new `topics` has a leader: the first send to a partition without one is answered
    NotLeaderForPartition and retried, which works but is noise (and latency) a waiting caller does not need.
    Bounded: past the deadline the producer's own retries take over."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        described = await client.describe_topics(topics)
        if len(described) == len(topics) and all(
                t.get("error_code", 0) == 0 and t["partitions"] and all(p.get("leader", -1) >= 0 for p in t["partitions"])
                for t in described):
            return
        await asyncio.sleep(0.1)


async def _check_copartitioned(client: AIOKafkaAdminClient, settings: KafkaSettings, names) -> None:
    joined = [settings.topic(n) for n in joiner_inputs() if n in names]
    if not joined:
        return
    counts = {}
    for _ in range(50):  # metadata of a topic created a moment ago can lag on the broker
        described = await client.describe_topics(joined)
        counts = {t["topic"]: len(t["partitions"]) for t in described}
        if all(counts.get(t) for t in joined):
            break
        await asyncio.sleep(0.1)
    wrong = {t: n for t, n in counts.items() if n != settings.partitions}
    if wrong:
        raise ConfigError(
            f"the joiner's input topics must all have {settings.partitions} partitions (--partitions); these differ: "
            + ", ".join(f"{t}={n}" for t, n in sorted(wrong.items()))
            + ". Use the count they were created with, or a new --prefix.")


async def partitions_of(settings: KafkaSettings, name: str) -> int:
    client = admin_client(settings)
    await start_client(client, settings, 30.0)
    try:
        described = await client.describe_topics([settings.topic(name)])
        return len(described[0]["partitions"]) if described else 0
    finally:
        await client.close()
