"""The joiner's state machine: per video, which windows each source has covered, and the scenes not yet emitted.

Pure and synchronous so both runtimes share it: the embedded runtime keeps `VideoJoin` objects in a dict, the Kafka
joiner keeps them (as dicts) in a faust table. A scene is emitted, in index order, once its caption is in and every
other enabled source covers its end (a contiguous prefix of windows, since windows can arrive out of order), or the
source is finished, failed for that window, or cannot exist (no audio track). Emitted scenes and the windows they
no longer need leave the state, so memory follows the open scenes, not the video's length. Emission is a pure
function of the inputs, so a replay after a crash yields the same record under the same key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas import (
    AudioEvent,
    AudioTags,
    Detections,
    Scene,
    SceneCaption,
    TrackSummary,
    Transcript,
    TranscriptPart,
    VideoEvent,
    VlmCaption,
    Word,
    from_dict,
    to_dict,
)

WINDOW_SOURCES = {"asr": Transcript, "tagger": AudioTags, "detector": Detections}
AUDIO_SOURCES = ("asr", "tagger")
ALL_SOURCES = ("captioner", "asr", "tagger", "detector")
SOURCE_OF = {Transcript: "asr", AudioTags: "tagger", Detections: "detector", VlmCaption: "captioner"}


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
    windows: dict[int, dict] = field(default_factory=dict)  # index -> record as dict (times, payload, error)

    def add(self, index: int, record: dict) -> None:
        if index < self.prefix and index not in self.windows:
            return  # a replay of a window already used and dropped
        self.windows[index] = record
        while self.prefix in self.windows:
            w = self.windows[self.prefix]
            self.covered = max(self.covered, w["end"])
            self.complete = self.complete or bool(w.get("last"))
            self.prefix += 1

    def prune(self, until: float) -> None:
        for i in [i for i, w in self.windows.items() if i < self.prefix and w["end"] <= until]:
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
    captions: dict[int, dict] = field(default_factory=dict)
    state: dict[str, SourceState] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "VideoJoin":
        return from_dict(cls, data)


class Joiner:
    """`add(record)` takes any input record and returns the SceneCaptions (and `done` events) it releases."""

    def __init__(self, sources: list[str] | tuple[str, ...] = ALL_SOURCES):
        unknown = set(sources) - set(ALL_SOURCES)
        if unknown:
            raise ValueError(f"unknown joiner sources: {sorted(unknown)}")
        self.sources = list(sources)
        self.videos: dict[str, VideoJoin] = {}

    # -- state access (the Kafka joiner swaps these for a table)
    def get(self, video_id: str) -> VideoJoin:
        v = self.videos.get(video_id)
        if v is None:
            v = self.videos[video_id] = VideoJoin(video_id, list(self.sources))
        return v

    def drop(self, video_id: str) -> None:
        self.videos.pop(video_id, None)

    def open_scenes(self) -> int:
        return sum(len(v.scenes) for v in self.videos.values())

    def add(self, record: Any) -> list[SceneCaption | VideoEvent]:
        v = self.get(record.video_id)
        out = self.apply(v, record)
        if v.done:
            self.drop(v.video_id)
        return out

    def apply(self, v: VideoJoin, record: Any) -> list[SceneCaption | VideoEvent]:
        if v.done:
            return []
        if isinstance(record, Scene):
            if record.index >= v.next_index:
                v.scenes[record.index] = SceneInfo(record.index, record.start, record.end,
                                                   [k.time for k in record.keyframes], record.last)
        elif isinstance(record, VlmCaption):
            if record.index >= v.next_index:
                d = to_dict(record)
                v.captions[record.index] = d
        elif type(record) in SOURCE_OF:
            src = SOURCE_OF[type(record)]
            if src in v.sources:
                v.state.setdefault(src, SourceState()).add(record.index, _compact(record))
        elif isinstance(record, VideoEvent):
            if record.kind in ("accepted", "ingested"):
                v.has_video = record.has_video if record.has_video is not None else v.has_video
                v.has_audio = record.has_audio if record.has_audio is not None else v.has_audio
                v.ingested = v.ingested or record.kind == "ingested"
            elif record.kind == "failed":
                v.failed = f"{record.code}: {record.message}" if record.code else record.message or "failed"
        return self._release(v)

    def _source_status(self, v: VideoJoin, src: str, scene: SceneInfo) -> tuple[bool, str | None]:
        """(ready, missing reason) of one source for one scene."""
        if src not in v.sources:
            return True, "not enabled"
        if src in AUDIO_SOURCES and v.has_audio is False:
            return True, "no audio track"
        if src == "detector" and v.has_video is False:
            return True, "no video track"
        if src == "captioner":
            if scene.index in v.captions:
                err = v.captions[scene.index].get("error")
                return True, err
            return (True, f"video failed ({v.failed})") if v.failed else (False, None)
        st = v.state.get(src)
        if st is not None and (st.complete or st.covered >= scene.end):
            errors = [w["error"] for w in st.windows.values()
                      if w.get("error") and w["start"] < scene.end and w["end"] > scene.start]
            return True, errors[0] if errors else None
        if v.failed:
            return True, f"video failed ({v.failed})"
        return False, None

    def _release(self, v: VideoJoin) -> list[SceneCaption | VideoEvent]:
        out: list[SceneCaption | VideoEvent] = []
        while v.next_index in v.scenes:
            scene = v.scenes[v.next_index]
            statuses = {src: self._source_status(v, src, scene) for src in ALL_SOURCES}
            if not all(ready for ready, _ in statuses.values()):
                break
            missing = {src: reason for src, (_, reason) in statuses.items() if reason}
            out.append(self._build(v, scene, missing))
            del v.scenes[scene.index]
            v.captions.pop(scene.index, None)
            for st in v.state.values():
                st.prune(scene.end)
            v.next_index += 1
            if scene.last:
                v.done = True
                out.append(VideoEvent(v.video_id, "done", counts={"scenes": scene.index + 1}))
                break
        if v.failed and not v.done:
            # Nothing more will arrive for this video: release the state. Scenes already emitted stay emitted.
            v.done = True
        return out

    def _build(self, v: VideoJoin, scene: SceneInfo, missing: dict[str, str]) -> SceneCaption:
        lo, hi = scene.start, scene.end
        cap = v.captions.get(scene.index) or {}
        rec = SceneCaption(v.video_id, scene.index, lo, hi, caption=cap.get("caption", ""),
                           captioner=cap.get("model", ""), keyframe_times=scene.keyframe_times,
                           missing=missing, last=scene.last)
        if cap:
            rec.timings["caption"] = cap.get("latency", 0.0)
            rec.keyframe_times = cap.get("keyframe_times") or scene.keyframe_times
        windows = lambda src: sorted(v.state[src].windows.items()) if src in v.state else []  # noqa: E731

        words: list[Word] = []
        langs: list[str] = []
        for _, w in windows("asr"):
            if w["end"] <= lo or w["start"] >= hi:
                continue
            for word in w.get("words", []):
                if lo <= word["start"] < hi:
                    words.append(Word(**word))
            if w.get("language") and w.get("words"):
                langs.append(w["language"])
        rec.transcript = TranscriptPart(text="".join(w.word for w in words).strip(),
                                        language=max(set(langs), key=langs.count) if langs else "", words=words)

        spans: dict[str, AudioEvent] = {}  # label -> its latest span, to join spans split at chunk edges
        for _, w in windows("tagger"):
            for e in w.get("events", []):
                if not (e["start"] < hi and e["end"] > lo):
                    continue
                start, end = max(e["start"], lo), min(e["end"], hi)
                prev = spans.get(e["label"])
                if prev is not None and start <= prev.end:
                    prev.end, prev.score = max(prev.end, end), max(prev.score, e["score"])
                    continue
                spans[e["label"]] = AudioEvent(e["label"], e["score"], start, end)
                rec.audio_events.append(spans[e["label"]])
        rec.audio_events.sort(key=lambda e: (e.start, -e.score))

        tracks: dict[int, TrackSummary] = {}
        for _, w in windows("detector"):
            for o in w.get("tracks", []):
                if not lo <= o["time"] < hi:
                    continue
                t = tracks.get(o["track_id"])
                if t is None:
                    tracks[o["track_id"]] = TrackSummary(o["track_id"], o["label"], o["time"], o["time"], 1, o["confidence"])
                else:
                    t.first, t.last = min(t.first, o["time"]), max(t.last, o["time"])
                    t.observations += 1
                    t.max_confidence = max(t.max_confidence, o["confidence"])
        rec.tracks = sorted(tracks.values(), key=lambda t: t.track_id)
        for t in rec.tracks:
            rec.objects[t.label] = rec.objects.get(t.label, 0) + 1
        if rec.captioner.startswith("offline:") and not cap.get("error"):
            # The offline captioner only knows image labels; the sentence is finished here, where the objects,
            # sounds and speech of the scene are known.
            from agents.captioner.offline import compose_offline_caption

            rec.caption = compose_offline_caption(cap.get("labels", []), rec.objects,
                                                  [e.label for e in rec.audio_events], rec.transcript.text, hi - lo)
        return rec


def _compact(record: Any) -> dict:
    d = to_dict(record)
    d.pop("schema_version", None)
    d.pop("video_id", None)
    return d
