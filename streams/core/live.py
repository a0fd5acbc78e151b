"""Live sources: which sources are live, and the option defaults that make a live source answer within seconds.

A file is processed for throughput: long audio chunks, large frame batches and ASR regions of two minutes, since
nobody sees a record before the end anyway. A live source (a camera, a broadcast) is the same pipeline with
windows made for latency, so a scene's record follows the scene's end by seconds:

- ingest: 2 s audio chunks (a scene's audio is complete 2 s after its end, not 10), frame batches of 2 (1 s at
  2 fps), and `max_scene_seconds`: a detector reports a cut only once it sees the next scene's frames, so a long
  shot would otherwise hold its record until the shot ends;
- asr: regions are cut at the latest silence once 3 s are pending (not 120 s), and speech without a pause is cut
  after 8 s. Each region costs a Whisper pass, which is why files keep long windows (bench/bench_asr.py).

The joiner releases a scene as soon as every source covers its end; the captioner waits at most `batch_wait`
(0.05 s) for company; tagger and detector answer per chunk/batch; so nothing else holds a record back.

The profile goes under the user's own options: `-o asr.window=20` still wins. Live is decided by the scheme (rtsp,
rtmp, udp, srt, ...), by a probe of an HTTP source once the models are loaded (a stream without a known duration is
live: PyAV reports no duration for it), or by `--live` / `--no-live`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit

from scenestream.agents.errors import InputError

# Schemes FFmpeg reads that only ever carry live streams.
LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "rtmpt", "udp", "rtp", "srt", "tcp")
PROBED_SCHEMES = ("http", "https")

# Per agent: the defaults a live source gets. Keys are options of that agent (agents/options.py grammar).
LATENCY: dict[str, dict[str, Any]] = {
    "ingest": {"audio_chunk_seconds": 1.0, "frames_per_batch": 2, "max_scene_seconds": 10.0, "progress_every": 2.0},
    "asr": {"window": 2.0, "max_carry": 6.0},
    "speakers": {"window": 8.0},  # a voice needs a few seconds; 8 s keeps labels sure and turns 8 s late at most
}


def scheme_says(uri: str) -> bool | None:
    """True for a live-only scheme, False for a local file, None when only a probe can tell (http, https)."""
    if "://" not in uri:
        return False
    try:
        scheme = urlsplit(uri.strip()).scheme.lower()
    except ValueError:  # a malformed URI (`http://[::1/x`): not live; ingest reports it in one line
        return False
    if scheme in LIVE_SCHEMES:
        return True
    if scheme in PROBED_SCHEMES:
        return None
    return False


def with_latency_defaults(per_agent: dict[str, dict[str, Any]], agents: Iterable[str] | None = None,
                          ) -> dict[str, dict[str, Any]]:
    """`per_agent` (agent -> options) with the live profile underneath for ingest and `agents` (default: every
    agent of the profile): every option the user set wins."""
    out = {agent: dict(options) for agent, options in per_agent.items()}
    wanted = None if agents is None else {"ingest", *agents}
    for agent, defaults in LATENCY.items():
        if wanted is None or agent in wanted:
            out[agent] = {**defaults, **out.get(agent, {})}
    return out


@dataclass
class Source:
    """Whether a source is live (None: not known yet, an HTTP source not probed), why, and the container a probe
    left open (handed to ingest: some live servers take one client only)."""

    uri: str
    live: bool | None
    reason: str
    container: Any = field(default=None, repr=False)

    def probe(self, timeout: float = 15.0) -> None:
        """Open the source with PyAV: a stream without a duration (None or 0) is live. The container stays open for
        ingest. A source that cannot be opened is "not live" here: ingest opens it again and reports why it fails,
        in one line, as for any bad input."""
        from scenestream.agents.ingest.source import open_container

        try:
            self.container = open_container(self.uri, timeout=timeout)
        except InputError as exc:
            self.live, self.reason = False, f"probe failed ({exc.code})"
            return
        self.live = not self.container.duration
        self.reason = "an HTTP stream without a duration" if self.live else "a known duration"

    def hand_to(self, ingest: Any) -> None:
        if self.container is not None:
            ingest.adopt(self.uri, self.container)
            self.container = None

    def settle(self, plan: Any, pipeline: Any) -> Any:
        """Once the models are loaded: probe a source not decided yet, fit the pipeline's agents to the answer
        (streams/core/plan.py: the speech agent is rebuilt when the profile changes its options) and hand a probe's
        container to ingest. Returns the plan in effect. Probing only now matters: from the moment a live stream
        is opened it runs, and everything it sends while models load is a backlog the pipeline must catch up on
        before its records come within seconds (measured: 20-30 s of delay through a 60 s stream when the probe
        came before loading)."""
        if self.live is None:
            self.probe()
        plan = plan.fit(pipeline.processors, bool(self.live))
        self.hand_to(pipeline.ingest)
        return plan

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


def decide(uri: str, live: bool | None = None) -> Source:
    """What can be decided without opening `uri`: `live` True/False (`--live`/`--no-live`) outright, else the
    scheme. An http(s) source stays undecided (live None) until `probe`/`settle`."""
    if live is not None:
        return Source(uri, live, "--live" if live else "--no-live")
    said = scheme_says(uri)
    if said is None:
        return Source(uri, None, "not probed yet")
    return Source(uri, said, f"{urlsplit(uri).scheme} is a live scheme" if said else "a file")
