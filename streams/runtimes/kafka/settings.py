"""Settings of Kafka mode: where the broker is, how topics are laid out, how the clients authenticate.

Every field has an environment variable (SCENESTREAM_*) so containers need no flags, and a CLI flag for the
common ones. The same settings serve the faust worker and the plain aiokafka clients of submit/tail/status, so a
client and a worker can never disagree on topic names, partition counts or credentials.
"""
from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from scenestream.agents.errors import ConfigError
from scenestream.agents.options import convert
from scenestream.schemas.topics import CAPTIONS, CHAPTERS, ERRORS, SCENES, SUMMARIES, VIDEO_EVENTS, VIDEOS
from scenestream.streams.core import table

# Topic names without the prefix, derived from the agent table. `scene-bounds` is internal: Scenes without their
# JPEGs, keyed by video id, so the joiner sees scene bounds co-partitioned with everything else it joins.
MEDIA_TOPICS = tuple(table.INGEST_TOPICS)
SCENE_BOUNDS = "scene-bounds"


def joiner_inputs() -> tuple[str, ...]:
    return (*(table.spec(n).output_topic for n in table.names()), VIDEO_EVENTS, SCENE_BOUNDS)


def all_topics() -> tuple[str, ...]:
    return (VIDEOS, *MEDIA_TOPICS, SCENE_BOUNDS, *(table.spec(n).output_topic for n in table.names()),
            CAPTIONS, VIDEO_EVENTS, ERRORS, CHAPTERS, SUMMARIES)


GUARANTEES = ("exactly_once", "at_least_once")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _env(name: str, default=None):
    value = os.environ.get(f"SCENESTREAM_{name}")
    return default if value is None or value == "" else value


def _default_data_dir() -> str:
    base = os.environ.get("SCENESTREAM_CACHE") or os.path.join(Path.home(), ".cache", "scenestream")
    return os.path.join(base, "worker")


@dataclass
class KafkaSettings:
    broker: str = "localhost:9092"  # host:port[,host:port...]
    prefix: str = "scenestream."  # topic prefix: several pipelines (or test runs) can share one cluster
    partitions: int = 4  # of every topic; the joiner's inputs must all have the same count (co-partitioning)
    scene_partitions: int | None = None  # `scenes` only (captioners share scenes across these); None = partitions
    replication: int = 1
    media_retention_ms: int = 3_600_000  # scenes, audio, frames: consumed within minutes, then only disk
    max_message_bytes: int = 1_048_576  # producer request, consumer fetch and topic limit, kept equal
    guarantee: str = "exactly_once"  # the joiner's outputs, its state and its input offsets in one transaction
    store: str = "rocksdb://"  # the joiner table's local store; memory:// rebuilds from the changelog on start
    data_dir: str = field(default_factory=_default_data_dir)  # rocksdb files, one subdirectory per group
    group: str | None = None  # consumer group / faust app id; None = derived from prefix and agents
    session_timeout: float = 30.0  # seconds before a dead worker's partitions move to the others
    heartbeat_interval: float = 3.0
    # Ingest holds one request for as long as the video takes to decode; faust polls from its own thread, but a
    # large limit keeps a slow poll from costing a rebalance in the middle of a long video.
    max_poll_interval: float = 3600.0
    commit_interval: float = 1.0  # seconds; with exactly_once also the latency of captions becoming visible
    # After SIGTERM/SIGINT: seconds work in flight has to finish and commit before the worker leaves regardless
    # (a stop must not wait on a broker that is gone; what was not committed is redone by the next owner).
    shutdown_grace: float = 20.0
    stream_buffer: int = 8  # records buffered per agent: bounds memory (an audio record is ~430 kB)
    # Authentication, passed through to every client.
    security_protocol: str | None = None  # None = derived: SASL_SSL / SASL_PLAINTEXT / SSL / PLAINTEXT
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None  # client certificate (mutual TLS)
    ssl_keyfile: str | None = None

    @classmethod
    def from_env(cls, **overrides) -> "KafkaSettings":
        """Defaults, then SCENESTREAM_* variables, then `overrides` that are not None (CLI flags)."""
        # The environment's strings go through the agents' options grammar (msgspec), so numbers, booleans and
        # `none` read the same in SCENESTREAM_* as in `-o` options, and a bad value is one line naming the variable.
        env = {f.name: raw for f in fields(cls) if (raw := _env(f.name.upper())) is not None}
        for name, raw in env.items():  # one at a time, so a bad value names its variable
            try:
                convert(cls, {name: raw}, "kafka")
            except ConfigError as exc:
                raise ConfigError(f"SCENESTREAM_{name.upper()}={raw!r}: {str(exc).split(': ', 1)[-1]}") from None
        settings = convert(cls, env, "kafka")
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None}).checked()

    def checked(self) -> "KafkaSettings":
        if not self.broker.strip():
            raise ConfigError("the broker address is empty (set --broker or SCENESTREAM_BROKER)")
        if self.partitions < 1 or (self.scene_partitions is not None and self.scene_partitions < 1):
            raise ConfigError("partitions must be at least 1")
        if self.guarantee not in GUARANTEES:
            raise ConfigError(f"guarantee must be one of {', '.join(GUARANTEES)}, not {self.guarantee!r}")
        if not self.store.startswith(("rocksdb://", "memory://")):
            raise ConfigError(f"store must be rocksdb:// or memory://, not {self.store!r}")
        if self.sasl_mechanism and self.sasl_mechanism.upper() not in SASL_MECHANISMS:
            raise ConfigError(f"SASL mechanism must be one of {', '.join(SASL_MECHANISMS)}")
        if bool(self.sasl_username) != bool(self.sasl_password):
            raise ConfigError("set both SCENESTREAM_SASL_USERNAME and SCENESTREAM_SASL_PASSWORD, or neither")
        if not 0 < self.shutdown_grace <= 25:
            raise ConfigError("shutdown_grace must be more than 0 and at most 25 s (a worker stops within 30 s)")
        if self.heartbeat_interval * 3 > self.session_timeout:
            raise ConfigError("heartbeat_interval must be at most a third of session_timeout")
        if not all(c.isalnum() or c in "._-" for c in self.prefix):
            raise ConfigError(f"topic prefix {self.prefix!r}: Kafka topic names allow only letters, digits, . _ -")
        return self

    def with_(self, **changes) -> "KafkaSettings":
        return replace(self, **changes).checked()

    # ------------------------------------------------------------------ topics

    def topic(self, name: str) -> str:
        if name not in all_topics():  # a mistyped name would otherwise be a new, empty topic
            raise ValueError(f"no topic {name!r} in this pipeline (known: {', '.join(all_topics())})")
        return f"{self.prefix}{name}"

    def partitions_of(self, name: str) -> int:
        if name == SCENES and self.scene_partitions:
            return self.scene_partitions
        return self.partitions

    def topic_config(self, name: str) -> dict[str, str]:
        """Broker-side configuration each topic is created with."""
        config = {"max.message.bytes": str(self.max_message_bytes)}
        if name in MEDIA_TOPICS:
            config["retention.ms"] = str(self.media_retention_ms)
        if name in (CAPTIONS, CHAPTERS, SUMMARIES):
            # One record per scene, chapter or video key: compaction keeps the newest; delete still ages old videos
            # out.
            config["cleanup.policy"] = "compact,delete"
        return config

    def group_for(self, agents: list[str]) -> str:
        """Consumer group (and faust app id) of a worker. Workers running the same agents share one group and so
        share the partitions; a worker running other agents is another group, reading every partition itself."""
        if self.group:
            return self.group
        return f"{self.prefix}worker-{'-'.join(sorted(agents))}"

    # ------------------------------------------------------------------ authentication

    def ssl_context(self) -> ssl.SSLContext | None:
        wants_ssl = (self.ssl_cafile or self.ssl_certfile
                     or (self.security_protocol or "").upper() in ("SSL", "SASL_SSL"))
        if not wants_ssl:
            return None
        ctx = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            ctx.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return ctx

    def protocol(self) -> str:
        if self.security_protocol:
            return self.security_protocol.upper()
        sasl = bool(self.sasl_mechanism or self.sasl_username)
        tls = self.ssl_context() is not None
        return {(True, True): "SASL_SSL", (True, False): "SASL_PLAINTEXT", (False, True): "SSL"}.get(
            (sasl, tls), "PLAINTEXT")

    def aiokafka_auth(self) -> dict:
        """Keyword arguments for any aiokafka client."""
        auth: dict = {"security_protocol": self.protocol()}
        ctx = self.ssl_context()
        if ctx is not None:
            auth["ssl_context"] = ctx
        if auth["security_protocol"].startswith("SASL"):
            auth["sasl_mechanism"] = (self.sasl_mechanism or "PLAIN").upper()
            auth["sasl_plain_username"] = self.sasl_username
            auth["sasl_plain_password"] = self.sasl_password
        return auth

    def faust_credentials(self):
        """(broker_credentials, ssl_context) for faust.App."""
        import faust

        protocol = self.protocol()
        ctx = self.ssl_context()
        if protocol.startswith("SASL"):
            return faust.SASLCredentials(username=self.sasl_username, password=self.sasl_password,
                                         mechanism=(self.sasl_mechanism or "PLAIN").upper(), ssl_context=ctx), None
        if ctx is not None:
            return faust.SSLCredentials(ctx), None
        return None, None

