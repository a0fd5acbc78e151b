"""`scenestream worker`: load the models, lay out the topics, then run the faust app until SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import logging
import os
import signal as signals
import sys
import threading
from pathlib import Path

import faust

from scenestream.agents.errors import ConfigError
from scenestream.streams.core import table
from scenestream.streams.core.plan import RunPlan
from scenestream.streams.runtimes.kafka import client_logs
from scenestream.streams.runtimes.kafka.admin import cluster_id, ensure_topics
from scenestream.streams.runtimes.kafka.settings import KafkaSettings

def worker_agents() -> list[str]:
    return ["ingest", *table.names(), "joiner"]


def parse_agents(text: str | None) -> list[str]:
    """Agents a worker runs; default: ingest, every installed model agent that is on by default, and the joiner."""
    if text is None:
        return ["ingest", *table.defaults(), "joiner"]
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = worker_agents()
    for n in names:
        if n not in known:
            raise ConfigError(f"unknown agent {n!r} (known: {', '.join(known)})")
    if not names:
        raise ConfigError("--agents names no agent")
    return list(dict.fromkeys(names))


def worker_plan(agents: list[str], pairs: list[str] | None) -> RunPlan:
    """The run plan of a worker running `agents` (ingest, model agents, joiner), from `-o agent.key=value` pairs
    (a bare key is an error: a worker has no single default agent)."""
    plan = RunPlan.resolve([a for a in agents if a in table.names()], pairs, roles=("joiner",), bare=None)
    extra = set(plan.of("joiner")) - {"sources"}
    if extra:
        raise ConfigError(f"unknown option joiner.{sorted(extra)[0]}; valid: sources")
    return plan


def joiner_sources(options: dict[str, str], running: list[str] = ()) -> list[str]:
    """Which sources the joiner waits for. A joiner cannot see which agents run in other workers, so by default it
    waits for every default agent installed here, and for any other agent this worker runs (`running`);
    `-o joiner.sources=...` names them (`none` for scene bounds only). The ready line shows the choice: a source
    no worker runs holds every scene back."""
    if "sources" not in options:
        defaults = table.defaults()
        return defaults + [a for a in table.names() if a in running and a not in defaults]
    names = [n.strip() for n in options["sources"].split(",") if n.strip() and n.strip() != "none"]
    for n in names:
        if n not in table.names():
            raise ConfigError(f"joiner.sources: unknown agent {n!r} (known: {', '.join(table.names())})")
    return names


class ReadyWorker(faust.Worker):
    """Prints one line on stdout once the app runs (after table recovery, when a joiner is here), and leaves at most
    `grace` seconds after SIGTERM or SIGINT.

    faust's own stop commits offsets, flushes the producers and leaves the group; with the broker gone each of
    those retries without end (a drained node with its cluster down never exits). So a stop signal also arms a
    timer on its own thread: work in flight has `grace` seconds to finish and commit, then the process exits with
    status 1 and one line, whatever the event loop is waiting for. Leaving then commits nothing: the joiner's open
    transaction is aborted by the broker (or fenced by the next owner's producer, which has the same transactional
    id), uncommitted inputs are read again by the partitions' next owner, and the joiner drops what it has already
    used, so nothing is committed twice."""

    ready_line = "ready"
    grace = 20.0
    exit_status = 1  # a stop that had to give up waiting

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spinner = None  # its cursor escapes would land in the stdout that scripts read
        self._deadline: threading.Timer | None = None

    def _schedule_shutdown(self, signal) -> None:
        if self._deadline is None:
            client_logs.leaving()
            self._deadline = threading.Timer(self.grace, self._leave, args=(signal,))
            self._deadline.daemon = True
            self._deadline.start()
        super()._schedule_shutdown(signal)

    def _leave(self, signal) -> None:
        print(f"scenestream worker: still stopping {self.grace:g} s after {_signal_name(signal)} "
              "(broker unreachable?); leaving without a final commit, uncommitted work goes to the partitions' "
              "next owner", file=sys.stderr, flush=True)
        os._exit(self.exit_status)  # from this thread: the event loop may be stuck in a retry

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        print(self.ready_line, flush=True)


def run_worker(settings: KafkaSettings, agents: list[str], plan: RunPlan, loglevel: str = "warning") -> int:
    from scenestream.streams.runtimes.kafka.app import build_app

    processors = plan.build()
    ingest = plan.ingest() if "ingest" in agents else None
    sources = joiner_sources(plan.of("joiner"), agents) if "joiner" in agents else []

    client_logs.install()  # aiokafka's expected retries while topics and the group come up are not errors
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(settings))
    # Local state (the joiner's rocksdb table) is kept per cluster: state written against another cluster (a
    # development broker restarted with fresh data) would have offsets beyond that topic's end, which faust refuses
    # at start-up with ConsistencyError. Under its own cluster's directory a worker recovers from the changelog.
    cid = loop.run_until_complete(cluster_id(settings))
    state_dir = Path(settings.data_dir) / f"cluster-{cid}"
    state_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.with_(data_dir=str(state_dir))
    for proc in processors.values():  # models load once, before the worker joins the group
        proc.setup()
    try:
        wiring = build_app(settings, agents, processors, joiner_sources=sources, ingest=ingest,
                           chapters=plan.chapters())
        worker = ReadyWorker(wiring.app, loop=loop, loglevel=loglevel, quiet=True, redirect_stdouts=False)
        worker.grace = settings.shutdown_grace
        worker.ready_line = (f"scenestream worker ready: group={wiring.app.conf.id} agents={','.join(agents)} "
                             f"broker={settings.broker} guarantee={settings.guarantee}"
                             + (f" joiner.sources={','.join(sources) or 'none'}" if "joiner" in agents else ""))
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0
    finally:
        for proc in processors.values():
            try:
                proc.close()
            except Exception:  # closing is best effort at exit
                logging.getLogger(__name__).exception("closing %s", proc.name)
        sys.stdout.flush()


def _signal_name(signal) -> str:
    """SIGTERM for a signal number or enum (mode's worker passes either); the number itself when it names none."""
    try:
        return signals.Signals(signal).name
    except (ValueError, TypeError):
        return str(signal)
