"""How each agent's outputs fill a SceneCaption: the `fill` functions of the agent table (streams/core/table.py).

Each takes the caption being built (bounds set) and the agent's outputs, as the agent's typed records: for a window
agent every window the joiner still keeps, in index order (a function keeps what overlaps the scene); for a scene
agent the one output of this scene, if any. Pure functions of their inputs, so a replay builds the same record.
"""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from scenestream.schemas import (AgentWindow, AudioEvent, AudioTags, Detections, SceneCaption, SceneText, SpeakerTurn,
                                 SpeakerTurns, TrackSummary, Transcript, TranscriptPart, Translation, VlmCaption,
                                 to_dict)


def _overlaps(w: Any, lo: float, hi: float) -> bool:
    return w.start < hi and w.end > lo


def transcript(rec: SceneCaption, outputs: list[Transcript]) -> None:
    """Words that start in the scene; the language most windows with words said."""
    lo, hi = rec.start, rec.end
    words = []
    langs: list[str] = []
    for w in outputs:
        if not _overlaps(w, lo, hi):
            continue
        words += [replace(word) for word in w.words if lo <= word.start < hi]
        if w.language and w.words:
            langs.append(w.language)
    translated = [w.translation for w in outputs if w.translation is not None and _overlaps(w, lo, hi)]
    translation = None
    if translated:  # segments that start in the scene, as words do
        segments = [replace(s) for t in translated for s in t.segments if lo <= s.start < hi]
        translation = Translation(translated[0].language, " ".join(s.text for s in segments).strip(), segments)
    rec.transcript = TranscriptPart(text="".join(w.word for w in words).strip(),
                                    language=max(set(langs), key=langs.count) if langs else "", words=words,
                                    translation=translation)


def audio_events(rec: SceneCaption, outputs: list[AudioTags]) -> None:
    """Sound spans clipped to the scene; a label's spans split at chunk edges are joined."""
    lo, hi = rec.start, rec.end
    spans: dict[str, AudioEvent] = {}  # label -> its latest span
    events: list[AudioEvent] = []
    for w in outputs:
        for e in w.events:
            if not _overlaps(e, lo, hi):
                continue
            start, end = max(e.start, lo), min(e.end, hi)
            prev = spans.get(e.label)
            if prev is not None and start <= prev.end:
                prev.end, prev.score = max(prev.end, end), max(prev.score, e.score)
                continue
            spans[e.label] = AudioEvent(e.label, e.score, start, end)
            events.append(spans[e.label])
    rec.audio_events = sorted(events, key=lambda e: (e.start, -e.score))


def tracks(rec: SceneCaption, outputs: list[Detections]) -> None:
    """One summary per track seen in the scene, and per label the number of distinct tracks."""
    lo, hi = rec.start, rec.end
    found: dict[int, TrackSummary] = {}
    for w in outputs:
        for o in w.tracks:
            if not lo <= o.time < hi:
                continue
            t = found.get(o.track_id)
            if t is None:
                found[o.track_id] = TrackSummary(o.track_id, o.label, o.time, o.time, 1, o.confidence)
            else:
                t.first, t.last = min(t.first, o.time), max(t.last, o.time)
                t.observations += 1
                t.max_confidence = max(t.max_confidence, o.confidence)
    rec.tracks = sorted(found.values(), key=lambda t: t.track_id)
    rec.objects = {}
    for t in rec.tracks:
        rec.objects[t.label] = rec.objects.get(t.label, 0) + 1


def caption(rec: SceneCaption, outputs: list[VlmCaption]) -> None:
    if not outputs:
        return
    cap = outputs[0]
    rec.caption, rec.captioner = cap.caption, cap.model
    rec.timings["caption"] = cap.latency
    rec.keyframe_times = list(cap.keyframe_times) or rec.keyframe_times
    rec.caption_usage = dict(cap.usage)


def text(rec: SceneCaption, outputs: list[SceneText]) -> None:
    if outputs:
        rec.text = [replace(line) for line in outputs[0].lines]


def speakers(rec: SceneCaption, outputs: list[SpeakerTurns]) -> None:
    """The turns within the scene (a turn cut by a chunk edge is one turn again), and each transcript word's
    speaker: the turn its middle falls in, else the nearest turn within half a second (turn edges come from 1.5 s
    pieces, word times from the speech model; they do not meet exactly). Runs after the transcript's fill."""
    lo, hi = rec.start, rec.end
    every = [t for w in outputs for t in w.turns]
    found: list[SpeakerTurn] = []
    for t in every:
        if t.start < hi and t.end > lo:
            a, b = max(t.start, lo), min(t.end, hi)
            if found and found[-1].speaker == t.speaker and a - found[-1].end < 0.05:
                found[-1].end = max(found[-1].end, b)
            else:
                found.append(SpeakerTurn(t.speaker, a, b))
    rec.speakers = found
    for word in rec.transcript.words:
        mid = (word.start + word.end) / 2
        dist = [(0.0 if t.start <= mid < t.end else min(abs(mid - t.start), abs(mid - t.end)), t.speaker) for t in every]
        near = min(dist, default=(1.0, ""))
        word.speaker = near[1] if near[0] <= 0.5 else ""


# The envelope's fields, which a plugin's payload in `extra` leaves out.
ENVELOPE = frozenset(f.name for f in fields(AgentWindow))


def extra(name: str):
    """The fill of an agent added as a plugin: its outputs' payload under `extra[name]` (scene agents: the one
    output's fields; window agents: the payloads of the windows overlapping the scene)."""

    def fill_extra(rec: SceneCaption, outputs: list[Any]) -> None:
        kept = [{k: v for k, v in to_dict(o).items() if k not in ENVELOPE} for o in outputs
                if _overlaps(o, rec.start, rec.end) or o.index == rec.index]
        if kept:
            rec.extra[name] = kept[0] if len(outputs) == 1 else kept

    return fill_extra
