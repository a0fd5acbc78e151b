"""Subtitles (WebVTT, SRT) from SceneCaption records, written by pysubs2.

Three kinds of cue:
- speech: the transcript's words, grouped into cues that end at a sentence end, at a pause, or after a few seconds
  (and never cross a scene: each scene's words are its own). A cue starts at its first word's start and ends at its
  last word's end, so its times lie within the words it holds.
- sounds: `[Music]`, `[Applause]`, ... from the audio events. Speech-like labels are left out: the transcript
  already says that someone speaks, and what.
- on-screen text: `[On screen: ...]` from the OCR lines, over the time the text was seen.

pysubs2 keeps a whole file's events in memory to write it; a subtitle file is one video's cues (a few thousand for
hours of speech), so that is bounded by one video, never by a whole result file of many."""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pysubs2

FORMATS = ("vtt", "srt")
MAX_CUE_SECONDS = 5.0  # a reader's few seconds; a longer sentence is split between words
MAX_CUE_CHARS = 84  # two lines of 42, the usual subtitle line length
PAUSE_SECONDS = 1.0  # silence between words that starts a new cue
LINE_CHARS = 42
MIN_TEXT_SECONDS = 2.0  # on-screen text read in one keyframe only: show it this long (within its scene)
SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*$")
# A full stop that ends no sentence: titles and initials ("Mr. John Dashwood", "J. R. R.").
ABBREVIATION = re.compile(r"^(mr|mrs|ms|dr|prof|st|sr|jr|vs|etc|e\.g|i\.e|no|[a-z])\.$", re.I)
MAX_SOUND_LABELS = 3  # sounds heard together make one cue naming the likeliest few
# AudioSet (YAMNet/AST) labels that are someone speaking; the transcript covers them. "Silence" is no sound.
_SPEECHY = re.compile(r"speech|speaking|conversation|narration|monologue|whisper|babbling|silence", re.I)


def is_speech_label(label: str) -> bool:
    return bool(_SPEECHY.search(label or ""))


@dataclass
class Cue:
    start: float  # seconds
    end: float
    text: str
    kind: str  # "speech", "sound" or "text"
    speaker: str = ""  # speech, with the speakers agent on: S1, S2, ...


def _join_words(words: list[dict]) -> str:
    pieces = [str(w.get("word", "")) for w in words]
    if any(p[:1].isspace() for p in pieces):  # Whisper-style tokens carry their own leading space
        text = "".join(pieces)
    else:
        text = " ".join(pieces)
    return re.sub(r"\s+", " ", text).strip()


def speech_cues(words: list[dict], max_seconds: float = MAX_CUE_SECONDS, max_chars: int = MAX_CUE_CHARS,
                pause: float = PAUSE_SECONDS) -> list[Cue]:
    """Words (dicts with word, start, end) in time order -> cues split at sentence ends, pauses and length."""
    cues: list[Cue] = []
    group: list[dict] = []

    def flush() -> None:
        text = _join_words(group)
        if text:
            cues.append(Cue(float(group[0]["start"]), max(float(w["end"]) for w in group), text, "speech",
                            str(group[0].get("speaker") or "")))
        group.clear()

    for w in words:
        if not str(w.get("word", "")).strip():
            continue
        if group:
            start0 = float(group[0]["start"])
            too_long = float(w["end"]) - start0 > max_seconds
            too_wide = len(_join_words(group + [w])) > max_chars
            paused = float(w["start"]) - float(group[-1]["end"]) > pause
            other_voice = (w.get("speaker") or "") != (group[0].get("speaker") or "")  # a cue has one speaker
            if too_long or too_wide or paused or other_voice:
                flush()
        group.append(w)
        token = str(w.get("word", "")).strip()
        if SENTENCE_END.search(token) and not ABBREVIATION.match(token):
            flush()
    if group:
        flush()
    return cues


def sound_events(rec: dict) -> list[tuple[float, float, str, float]]:
    """A record's audio events that are not speech: (start, end, label, score)."""
    out = []
    for ev in rec.get("audio_events") or []:
        label = str(ev.get("label", "")).strip()
        if label and not is_speech_label(label):
            out.append((float(ev.get("start", rec.get("start", 0.0))), float(ev.get("end", rec.get("end", 0.0))),
                        label, float(ev.get("score", 0.0))))
    return out


def record_cues(rec: dict) -> list[Cue]:
    """The speech and on-screen text cues of one SceneCaption dict (v1 records have no `text`: none of the
    latter). Sound cues are made across records (`cues_of`), as a sound can go on past a scene's end."""
    start, end = float(rec.get("start", 0.0)), float(rec.get("end", 0.0))
    out: list[Cue] = []
    transcript = rec.get("transcript") or {}
    words = sorted(transcript.get("words") or [], key=lambda w: float(w.get("start", 0.0)))
    if transcript.get("segments"):  # a translation (see `translated`): one cue per segment, as Whisper made them
        out += [Cue(float(s["start"]), float(s["end"]), str(s["text"]).strip(), "speech")
                for s in transcript["segments"] if str(s.get("text", "")).strip()]
    elif words:
        out += speech_cues(words)
    elif (transcript.get("text") or "").strip():  # a backend without word times: the scene's span
        out.append(Cue(start, end, transcript["text"].strip(), "speech"))
    for line in rec.get("text") or []:
        words_seen = str(line.get("text", "")).strip()
        if not words_seen:
            continue
        t0 = float(line.get("start", start))
        t1 = max(float(line.get("end", t0)), min(end, t0 + MIN_TEXT_SECONDS)) if end > t0 else float(line.get("end", t0))
        out.append(Cue(t0, t1, f"[On screen: {words_seen}]", "text"))
    return out


def _merged_sounds(events: list[tuple[float, float, str, float]]) -> list[Cue]:
    """Sound events (start, end, label, score) -> cues: events that overlap or touch (several labels of one noise)
    make one cue naming the MAX_SOUND_LABELS likeliest labels, so the
    screen does not fill with a stack of near-synonyms ([Alarm] [Buzzer] [Beep, bleep] ...)."""
    cues: list[Cue] = []
    group: dict[str, float] = {}
    start = end = 0.0

    def flush() -> None:
        if group:
            labels = sorted(group, key=lambda k: -group[k])[:MAX_SOUND_LABELS]
            cues.append(Cue(start, end, "[" + " / ".join(labels) + "]", "sound"))
            group.clear()

    for t0, t1, label, score in sorted(events):
        if group and t0 > end + 0.05:
            flush()
        if not group:
            start, end = t0, t1
        end = max(end, t1)
        group[label] = max(group.get(label, 0.0), score)
    flush()
    return cues


def _joined_across_scenes(cues: list[Cue]) -> list[Cue]:
    """A sound going on over a cut is in both scenes' records: the same cue text, touching, becomes one cue."""
    out: list[Cue] = []
    for c in sorted(cues, key=lambda c: (c.text, c.start)):
        if out and out[-1].text == c.text and c.start <= out[-1].end + 0.05:
            out[-1].end = max(out[-1].end, c.end)
        else:
            out.append(Cue(c.start, c.end, c.text, c.kind))
    return out


class CueList:
    """The cues of a video's records, taken one record at a time (a sink keeps this, not the records)."""

    def __init__(self) -> None:
        self.cues: list[Cue] = []
        self.sounds: list[Cue] = []

    def add(self, rec: dict) -> None:
        self.cues += record_cues(rec)
        self.sounds += _merged_sounds(sound_events(rec))  # grouped within a scene: a cut often changes the sound

    def result(self) -> list[Cue]:
        order = {"speech": 0, "sound": 1, "text": 2}
        return sorted(self.cues + _joined_across_scenes(self.sounds), key=lambda c: (c.start, order[c.kind], c.end))


def translated(rec: dict) -> dict:
    """The record with its transcript replaced by the transcript's translation (`asr.translate=en`), for subtitles
    in that language; a record without one keeps no speech."""
    t = (rec.get("transcript") or {}).get("translation") or {}
    return {**rec, "transcript": {"text": t.get("text", ""), "language": t.get("language", ""), "words": [],
                                  "segments": t.get("segments") or []}}


def has_translation(rec: dict) -> bool:
    return bool((rec.get("transcript") or {}).get("translation"))


def cues_of(records: Iterable[dict]) -> list[Cue]:
    cues = CueList()
    for rec in records:
        cues.add(rec)
    return cues.result()


def _lines(text: str) -> str:
    """At most LINE_CHARS a line where the words allow; two lines split near the middle (balanced, as subtitle
    style guides ask), more only for text longer than two full lines."""
    if len(text) <= LINE_CHARS:
        return text
    if len(text) <= 2 * LINE_CHARS:
        spaces = [i for i, ch in enumerate(text) if ch == " "]
        if spaces:
            cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
            return text[:cut] + "\n" + text[cut + 1:]
    return "\n".join(textwrap.wrap(text, LINE_CHARS, break_long_words=False)) or text


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def build(records: Iterable[dict] | CueList, fmt: str = "vtt") -> pysubs2.SSAFile:
    """An SSAFile (pysubs2's in-memory subtitles) of the records' cues (or of cues already taken); one video. Who
    speaks: WebVTT's voice tag on every speech cue (`<v S1>`); in SRT, which has none, `S1: ` where the speaker
    changes, as subtitlers do."""
    subs = pysubs2.SSAFile()
    voice = ""
    for c in records.result() if isinstance(records, CueList) else cues_of(records):
        start, end = _ms(c.start), _ms(c.end)
        event = pysubs2.SSAEvent(start=start, end=max(end, start))
        # Wrapped here, as pysubs2 writes line breaks of plaintext as the format wants them.
        text = _lines(c.text)
        if c.speaker and fmt == "vtt":
            text = f"<v {c.speaker}>{text}"
        elif c.speaker and c.speaker != voice:
            text = f"{c.speaker}: {text}"
        if c.kind == "speech":
            voice = c.speaker
        event.plaintext = text
        event.name = c.kind
        subs.append(event)
    return subs


def to_string(records: Iterable[dict] | CueList, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"subtitle format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return build(records, fmt).to_string(fmt)


def write(records: Iterable[dict] | CueList, path: str | Path, fmt: str | None = None) -> Path:
    """Write the records' subtitles to `path`, in `fmt` (default: from the suffix, .vtt or .srt)."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    text = to_string(records, fmt)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a file
    return path


__all__ = ["FORMATS", "Cue", "CueList", "build", "cues_of", "has_translation", "is_speech_label", "record_cues",
           "sound_events", "speech_cues", "to_string", "translated", "write"]
