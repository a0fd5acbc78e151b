"""The joiner's state machine: per video, which windows each source has covered, and the scenes not yet emitted.

Pure and synchronous so both runtimes share it: the embedded runtime keeps `VideoJoin` objects in a dict, the Kafka
joiner keeps them (encoded as JSON) in a faust table. The state holds each agent's outputs as its typed records. A scene is emitted, in index order, once its caption is in and every
other enabled source covers its end (a contiguous prefix of windows, since windows can arrive out of order), or the
source is finished, failed for that window, or cannot exist (no audio track). Emitted scenes and the windows they
no longer need leave the state, so memory follows the open scenes, not the video's length. Emission is a pure
function of the inputs, so a replay after a crash yields the same record under the same key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from scenestream.schemas import Scene, SceneCaption, VideoEvent, dumps, from_dict
from scenestream.streams.core import table


@dataclass
class SceneInfo:
    index: int
    start: float
    end: float
    keyframe_times: list[float] = field(default_factory=list)
    last: bool = False


@dataclass
class SourceState:
    """Windows of one source. `prefix` = how many windows from index 0 have all arrived; `covered` = the end
    of the last of them. Windows are kept until no open scene can need them."""

    prefix: int = 0
    covered: float = 0.0
    complete: bool = False
    windows: dict[int, Any] = field(default_factory=dict)  # index -> the agent's record (times, payload, error)

    def add(self, index: int, record: Any) -> None:
        if index < self.prefix and index not in self.windows:
            return  # a replay of a window already used and dropped
        self.windows[index] = record
        while self.prefix in self.windows:
            w = self.windows[self.prefix]
            self.covered = max(self.covered, w.end)
            self.complete = self.complete or w.last
            self.prefix += 1

    def prune(self, until: float) -> None:
        for i in [i for i, w in self.windows.items() if i < self.prefix and w.end <= until]:
            del self.windows[i]


@dataclass
class VideoJoin:
    video_id: str
    sources: list[str]  # enabled sources
    next_index: int = 0
    has_video: bool | None = None
    has_audio: bool | None = None
    ingested: bool = False
    failed: str | None = None
    done: bool = False
    scenes: dict[int, SceneInfo] = field(default_factory=dict)
    per_scene: dict[str, dict[int, Any]] = field(default_factory=dict)  # scene agents: name -> index -> output
    state: dict[str, SourceState] = field(default_factory=dict)  # window agents
    # The chapters stage's progress (streams/video/stage.py VideoWholes.progress), kept by the Kafka joiner so that
    # a worker taking the video over goes on with its chapters' numbers and the open chapter's start.
    wholes: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return dumps(self)

    @classmethod
    def decode(cls, raw: bytes) -> "VideoJoin":
        # Our own state, written by `encode`: msgspec reads JSON's string keys back as the ints they were. The
        # outputs come back as dicts, then as the record type the table gives their agent.
        v = msgspec.json.decode(raw, type=cls)
        for name, outputs in v.per_scene.items():
            v.per_scene[name] = {i: from_dict(table.spec(name).output_type, o) for i, o in outputs.items()}
        for name, st in v.state.items():
            st.windows = {i: from_dict(table.spec(name).output_type, w) for i, w in st.windows.items()}
        return v


class Joiner:
    """`add(record)` takes any input record and returns the SceneCaptions (and `done` events) it releases.

    `sources`: the agents (names in streams/core/table.py) whose outputs a scene waits for; every other agent of the
    table is reported in `missing` as "not enabled"."""

    def __init__(self, sources: list[str] | tuple[str, ...] | None = None):
        known = table.names()
        self.sources = list(known if sources is None else sources)
        unknown = set(self.sources) - set(known)
        if unknown:
            raise ValueError(f"unknown joiner sources: {sorted(unknown)}")
        self.specs = [table.TABLE[n] for n in known]  # table order: fills run in it
        self.source_of = {s.output_type: s for s in self.specs}
        self.videos: dict[str, VideoJoin] = {}

    # -- state access (the Kafka joiner swaps these for a table)
    def get(self, video_id: str) -> VideoJoin:
        v = self.videos.get(video_id)
        if v is None:
            v = self.videos[video_id] = VideoJoin(video_id, list(self.sources))
        return v

    def drop(self, video_id: str) -> None:
        self.videos.pop(video_id, None)

    def add(self, record: Any) -> list[SceneCaption | VideoEvent]:
        v = self.get(record.video_id)
        out = self.apply(v, record)
        if v.done:
            self.drop(v.video_id)
        return out

    def apply(self, v: VideoJoin, record: Any) -> list[SceneCaption | VideoEvent]:
        if v.done:
            return []
        spec = self.source_of.get(type(record))
        if isinstance(record, Scene):
            if record.index >= v.next_index:
                v.scenes[record.index] = SceneInfo(record.index, record.start, record.end,
                                                   [k.time for k in record.keyframes], record.last)
        elif spec is not None and spec.name in v.sources:
            if spec.covers == "scene":
                if record.index >= v.next_index:
                    v.per_scene.setdefault(spec.name, {})[record.index] = record
            else:
                v.state.setdefault(spec.name, SourceState()).add(record.index, record)
        elif isinstance(record, VideoEvent):
            self._on_event(v, record)
        return self._release(v)

    @staticmethod
    def _on_event(v: VideoJoin, event: VideoEvent) -> None:
        if event.kind in ("accepted", "ingested"):
            v.has_video = event.has_video if event.has_video is not None else v.has_video
            v.has_audio = event.has_audio if event.has_audio is not None else v.has_audio
            v.ingested = v.ingested or event.kind == "ingested"
        elif event.kind == "failed":
            v.failed = f"{event.code}: {event.message}" if event.code else event.message or "failed"

    def _source_status(self, v: VideoJoin, spec: table.AgentSpec, scene: SceneInfo) -> tuple[bool, str | None]:
        """(ready, missing reason) of one source for one scene."""
        if spec.name not in v.sources:
            return True, "not enabled"
        if spec.needs == "audio" and v.has_audio is False:
            return True, "no audio track"
        if spec.needs == "video" and v.has_video is False:
            return True, "no video track"
        if spec.covers == "scene":
            out = v.per_scene.get(spec.name, {}).get(scene.index)
            if out is not None:
                return True, out.error
        else:
            st = v.state.get(spec.name)
            if st is not None and (st.complete or st.covered >= scene.end):
                errors = [w.error for w in st.windows.values()
                          if w.error and w.start < scene.end and w.end > scene.start]
                return True, errors[0] if errors else None
        if v.failed:
            return True, f"video failed ({v.failed})"
        return False, None

    def _release(self, v: VideoJoin) -> list[SceneCaption | VideoEvent]:
        out: list[SceneCaption | VideoEvent] = []
        while v.next_index in v.scenes:
            scene = v.scenes[v.next_index]
            statuses = {s.name: self._source_status(v, s, scene) for s in self.specs}
            if not all(ready for ready, _ in statuses.values()):
                break
            missing = {name: reason for name, (_, reason) in statuses.items() if reason}
            out.append(self._build(v, scene, missing))
            self._forget(v, scene)
            if scene.last:
                v.done = True
                out.append(VideoEvent(v.video_id, "done", counts={"scenes": scene.index + 1}))
                break
        if v.failed and not v.done:
            # Nothing more will arrive for this video: release the state. Scenes already emitted stay emitted.
            v.done = True
        return out

    @staticmethod
    def _forget(v: VideoJoin, scene: SceneInfo) -> None:
        """An emitted scene leaves the state, with the windows no later scene needs."""
        del v.scenes[scene.index]
        for outputs in v.per_scene.values():
            outputs.pop(scene.index, None)
        for st in v.state.values():
            st.prune(scene.end)
        v.next_index += 1

    def _outputs(self, v: VideoJoin, spec: table.AgentSpec, scene: SceneInfo) -> list[Any]:
        if spec.name not in v.sources:
            return []
        if spec.covers == "scene":
            out = v.per_scene.get(spec.name, {}).get(scene.index)
            return [out] if out is not None else []
        st = v.state.get(spec.name)
        return [w for _, w in sorted(st.windows.items())] if st else []

    def _build(self, v: VideoJoin, scene: SceneInfo, missing: dict[str, str]) -> SceneCaption:
        rec = SceneCaption(v.video_id, scene.index, scene.start, scene.end, keyframe_times=scene.keyframe_times,
                           missing=missing, last=scene.last)
        outputs = {s.name: self._outputs(v, s, scene) for s in self.specs}
        for s in self.specs:
            s.fill(rec, outputs[s.name])
        for s in self.specs:
            if s.finish is not None:
                table.finisher(s)(rec, outputs[s.name])
        return rec
