"""The run plan: which agents run and with which options, resolved once from the agent table and the `-o` options,
and the live profile laid under them when a source is live. `run`, `serve`, `bench` and `worker` all start here,
so an option means the same in each and is checked the same way, before any model loads.

    plan = RunPlan.resolve(table.parse_agents("asr,captioner"), ["captioner.model=x", "keyframes=3"])
    agents = plan.build()                       # name -> Agent, nothing loaded yet
    request = plan.request(uri, video_id)       # ingest's options travel with the request
    plan.fit(agents, live=True)                 # a live source: the latency profile, agents rebuilt where it differs
    plan.chapters()                             # `-o chapters.KEY=V`: the chapters-and-summary stage, or None when off
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Iterable

from scenestream.agents.base import Agent, SourceAgent
from scenestream.agents.errors import ConfigError, InputError
from scenestream.agents.options import parse_pairs
from scenestream.schemas import VideoRequest
from scenestream.streams.core import table
from scenestream.streams.core.live import LATENCY, with_latency_defaults
from scenestream.streams.video.settings import SECTION as CHAPTERS, ChapterSettings


@dataclass
class RunPlan:
    agents: list[str]  # model agents, in table order of the user's choice
    options: dict[str, dict[str, str]]  # section (ingest, an agent, a role such as joiner) -> its options
    live: bool = False  # the latency profile is in `options`
    base: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)  # the options before any profile

    @classmethod
    def resolve(cls, agents: Iterable[str], pairs: list[str] | None, roles: Iterable[str] = (),
                bare: str | None = "ingest") -> "RunPlan":
        """`agents` (model agents, checked against the table) with `pairs` (`agent.key=value` for an agent,
        `role.key=value` for `roles`, a bare `key=value` for `bare`, or an error when None). Every option is checked
        here: an unknown key or a bad value is one ConfigError naming it, also for an agent that does not run."""
        names = list(dict.fromkeys(agents))
        for n in names:
            table.spec(n)
        roles = (*roles, CHAPTERS)  # every runtime runs the chapters stage on its captions (streams/video)
        options = parse_pairs(pairs, ["ingest", *table.names(), *roles], default_agent=bare)
        check_ingest(options.get("ingest", {}))
        ChapterSettings.of(options.get(CHAPTERS))
        for name in set(options) - {"ingest", *roles}:
            table.build(name, options[name])  # builders check options without loading anything (run or not)
        return cls(names, options, base=options)

    def for_live(self, live: bool) -> "RunPlan":
        """This plan for a live source (the latency profile under the user's options) or for a file."""
        if live == self.live:
            return self
        return replace(self, live=live, options=with_latency_defaults(self.base, self.agents) if live else self.base)

    def of(self, name: str) -> dict[str, str]:
        return dict(self.options.get(name, {}))

    def chapters(self) -> ChapterSettings | None:
        """The settings of the chapters-and-summary stage, or None with `-o chapters.enabled=false`."""
        settings = ChapterSettings.of(self.options.get(CHAPTERS))
        return settings if settings.enabled else None

    def build(self) -> dict[str, Agent]:
        """The model agents, built (not set up: `setup()` loads the models)."""
        return {n: table.build(n, self.of(n)) for n in self.agents}

    def ingest(self) -> SourceAgent:
        from scenestream.agents.ingest import IngestAgent, IngestSettings

        return IngestAgent(IngestSettings().with_options(self.of("ingest")))

    def request(self, uri: str, video_id: str) -> VideoRequest:
        return VideoRequest(video_id, uri, self.of("ingest"), time.time())

    def fit(self, agents: dict[str, Agent], live: bool, built: "RunPlan | None" = None) -> "RunPlan":
        """Make `agents` (built from `built`, default this plan) those of this plan for a live source or a file:
        the agents whose options the live profile changes are closed, rebuilt and set up again (the speech agent:
        its model loads again, seconds). Returns the plan now in effect."""
        want = self.for_live(live)
        had = built or self
        for name in [n for n in agents if n in LATENCY and want.of(n) != had.of(n)]:
            agents[name].close()
            agents[name] = table.build(name, want.of(name))
            agents[name].setup()
        return want


def check_ingest(options: dict[str, str]) -> None:
    from scenestream.agents.ingest import IngestSettings

    try:
        IngestSettings().with_options(options)
    except InputError as exc:
        raise ConfigError(exc.message) from None
