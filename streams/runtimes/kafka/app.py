"""The faust app of one worker: the topics, and one faust agent per scenestream agent it runs.

Values travel as raw bytes (faust's `raw` serializer) and are decoded here with `scenestream.schemas.loads`, so a message no one
can read becomes a DeadLetter on `errors` instead of an exception inside faust that would stop the agent.
"""
from __future__ import annotations

from typing import Any

from scenestream.streams.runtimes.kafka.ingest import register_ingest
from scenestream.streams.runtimes.kafka.join import register_joiner
from scenestream.streams.runtimes.kafka.models import register_model_agent
from scenestream.streams.runtimes.kafka.settings import KafkaSettings, all_topics, joiner_inputs
from scenestream.streams.runtimes.kafka.transactions import Transport
from scenestream.streams.runtimes.kafka.wiring import App, Wiring


def build_app(settings: KafkaSettings, agents: list[str], processors: dict[str, Any], *,
              joiner_sources: list[str] | None = None, ingest=None, chapters=None) -> Wiring:
    """A faust app running `agents` (ingest, any agent of the table, joiner). `processors` are
    the set-up model agents by name; `ingest` the IngestAgent when ingest runs here; `chapters` the
    ChapterSettings of the chapters-and-summary stage the joiner runs (None: none)."""
    group = settings.group_for(agents)
    credentials, ssl_context = settings.faust_credentials()
    eos = settings.guarantee == "exactly_once"
    app = App(
        group,
        broker=[f"kafka://{b.strip()}" for b in settings.broker.split(",")],
        broker_credentials=credentials,
        ssl_context=ssl_context,
        store=settings.store,
        datadir=settings.data_dir,
        processing_guarantee=settings.guarantee,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        broker_max_poll_interval=settings.max_poll_interval,
        broker_commit_interval=settings.commit_interval,
        broker_request_timeout=max(90.0, settings.session_timeout + 10),
        # Raised together so a message one side accepts the other can carry.
        producer_max_request_size=settings.max_message_bytes,
        consumer_max_fetch_size=settings.max_message_bytes,
        producer_linger_ms=5,
        producer_compression_type=None,
        stream_buffer_maxsize=settings.stream_buffer,
        # Ingest holds a request for minutes and model agents hold inputs until their outputs are out; a rebalance
        # must not wait for that. Unfinished inputs are simply not committed and the new owner redoes them.
        stream_wait_empty=False,
        web_enabled=False,
        autodiscover=False,
        table_cleanup_interval=3600.0,
    )
    app.revoke_hooks = []
    # Our transport's transaction manager gives the joiner its per-input-partition transactions (see
    # transactions.py). Set before anything asks the app for its transport.
    app.transport = Transport(app.conf.broker_consumer, app)
    wiring = Wiring(app, settings)
    for name in all_topics():
        wiring.topic(name)

    if "ingest" in agents:
        register_ingest(wiring, ingest)
    for name, proc in processors.items():
        register_model_agent(wiring, name, proc)
    if "joiner" in agents:
        register_joiner(wiring, joiner_sources or [], chapters)
        if eos:
            app.joiner_topics = frozenset(settings.topic(n) for n in joiner_inputs())
            app.changelog_topics = frozenset({wiring.table.changelog_topic.get_topic_name()})
    return wiring
