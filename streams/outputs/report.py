"""report.html: one self-contained page for a run's output folder, readable without a server.

Per video: a timeline of its scenes, then each scene with a keyframe picture, its caption, a transcript excerpt,
the sounds, the objects, the on-screen text and why a field is missing; and the stage timings of summary.json.
CSS is inline and pictures are data: URIs, so the file can be mailed or opened from disk; there is no script.
Everything from a record is HTML-escaped by Jinja2's autoescape (a caption or a transcript is untrusted text).

Pictures: the records carry keyframe times, not JPEGs, so the report decodes the video (its URI is in
summary.json) at each scene's first keyframe with PyAV (streams/outputs/thumbnails.py): `scenestream report DIR`
rebuilds the page from the folder alone, and a run stores nothing extra. A source that cannot be read any more (a
moved file, a live stream) gives a page without pictures, never an error.

`Report` takes the records as they come (it is the run folder's report sink, streams/outputs/sinks.py) and keeps
each scene's card without its picture: times, caption, a transcript excerpt of at most TRANSCRIPT_CHARS, labels and
on-screen lines, about a kilobyte a scene (3 MB for a 5-hour video of 3000 scenes), never the words or the whole
record. The last record of a scene key wins. Pictures are decoded while the page is written out piece by piece
(Jinja2's `generate`), one at a time. `write_report(DIR)` feeds it a run folder's captions.jsonl."""
from __future__ import annotations

import datetime
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson

from scenestream.agents.errors import InputError
from scenestream.streams.outputs import chapters as chapter_files
from scenestream.streams.outputs.sources import CAPTIONS_FILE, captions_path, read_jsonl
from scenestream.streams.outputs.thumbnails import WIDTH, VideoFrames, data_uri, scene_time

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"
TRANSCRIPT_CHARS = 320  # the excerpt of a scene's speech; the full text is in captions.jsonl and the subtitles


@dataclass
class _Video:
    video_id: str
    ordinal: int
    cards: dict[int, dict] = field(default_factory=dict)  # index -> the scene's card, without its picture
    chapters: dict[int, dict] = field(default_factory=dict)  # index -> schemas.Chapter's object (a few per hour)
    overview: str = ""  # the video's summary (schemas.VideoSummary.summary)


def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("scenestream.streams.outputs", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def _summaries(run_dir: Path) -> dict[str, dict]:
    path = run_dir / SUMMARY_FILE
    if not path.is_file():
        return {}
    try:
        summary = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        print(f"scenestream: {path}: not JSON, report without timings ({exc})", file=sys.stderr)
        return {}
    return summaries_of(summary)


def _span(start: float, end: float) -> str:
    return f"{start:.2f}–{end:.2f} s"


def _timings(summary: dict | None, duration: float) -> list[dict]:
    if not summary:
        return []
    busy = summary.get("busy_seconds") or {}
    calls = summary.get("calls") or {}
    models = summary.get("models") or {}
    stages = [*(summary.get("agents") or []), *(k for k in busy if k not in (summary.get("agents") or []))]
    return [{"stage": s, "model": models.get(s, ""), "busy": float(busy.get(s) or 0.0), "calls": calls.get(s, ""),
             "rtf": f"{float(busy.get(s) or 0.0) / duration:.3f}" if duration else ""} for s in stages]


def _excerpt(text: str, limit: int = TRANSCRIPT_CHARS) -> tuple[str, bool]:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text, False
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut, True


def _card(rec: dict, anchor: str) -> dict:
    sounds: dict[str, float] = {}
    for e in rec.get("audio_events") or []:
        label = str(e.get("label") or "")
        if label:
            sounds[label] = max(sounds.get(label, 0.0), float(e.get("score") or 0.0))
    transcript = rec.get("transcript") or {}
    text, cut = _excerpt(str(transcript.get("text") or ""))
    return {
        "anchor": anchor, "index": int(rec["index"]), "start": float(rec["start"]), "end": float(rec["end"]),
        "span": _span(float(rec["start"]), float(rec["end"])), "thumb_time": scene_time(rec),
        "caption": rec.get("caption") or "", "captioner": rec.get("captioner") or "",
        "transcript": text, "transcript_cut": cut, "language": transcript.get("language") or "",
        # SceneCaption.speakers arrived with schema version 3 (and only with the speakers agent on).
        "speakers": [(str(t.get("speaker")), _span(float(t.get("start", 0)), float(t.get("end", 0))))
                     for t in rec.get("speakers") or [] if isinstance(t, dict) and t.get("speaker")],
        "sounds": [{"label": k, "score": f"{v:.2f}"} for k, v in sorted(sounds.items(), key=lambda kv: -kv[1])],
        "objects": sorted(((str(k), v) for k, v in (rec.get("objects") or {}).items()), key=lambda kv: (-kv[1], kv[0])),
        # SceneCaption.text arrived with schema version 2; an older record has none.
        "text": [str(line.get("text")) for line in rec.get("text") or [] if isinstance(line, dict) and line.get("text")],
        "missing": sorted((rec.get("missing") or {}).items()),
        "timings": [(k, f"{float(v):.2f}") for k, v in sorted((rec.get("timings") or {}).items())],
    }


def _chapters(video: _Video) -> list[dict]:
    """The chapters with their times, each linking to the card of its first scene."""
    out = []
    for i, ch in sorted(video.chapters.items()):
        scenes = ch.get("scenes") or []
        first = int(scenes[0]) if scenes else min((k for k, c in video.cards.items()
                                                   if c["end"] > float(ch["start"])), default=0)
        out.append({"index": i, "title": str(ch.get("title") or f"Chapter {i + 1}"), "start": float(ch["start"]),
                    "clock": chapter_files.clock(float(ch["start"])), "span": _span(float(ch["start"]), float(ch["end"])),
                    "anchor": f"v{video.ordinal}-s{first}"})
    return out


def _cards(video: _Video, uri: str, thumbnails: bool, width: int) -> Iterator[dict]:
    frames = VideoFrames(uri, width) if thumbnails and uri else None
    try:
        for index in sorted(video.cards):
            card = video.cards[index]
            yield {**card, "thumb": data_uri(frames.at(card["thumb_time"]) if frames is not None else None)}
    finally:
        if frames is not None:
            frames.close()


def _view(video: _Video, summary: dict | None, thumbnails: bool, width: int) -> dict:
    ends = [c["end"] for c in video.cards.values()]
    duration = float((summary or {}).get("duration") or 0.0) or max(ends, default=0.0)
    scale = 100.0 / duration if duration else 0.0
    scenes = [{"index": i, "anchor": c["anchor"], "span": c["span"], "left": round(c["start"] * scale, 3),
               "width": round(max(0.0, c["end"] - c["start"]) * scale, 3)} for i, c in sorted(video.cards.items())]
    uri = (summary or {}).get("uri", "")
    name = uri.rstrip("/").rsplit("/", 1)[-1] if uri else video.video_id
    return {"video_id": video.video_id, "name": name, "uri": uri or "(not in summary.json)",
            "duration": duration, "summary": summary, "scenes": scenes, "timings": _timings(summary, duration),
            "chapters": _chapters(video),
            "overview": video.overview or str((summary or {}).get("summary") or ""),
            "cards": _cards(video, uri, thumbnails, width)}


class Report:
    """report.html of the records taken, written by `write`."""

    def __init__(self) -> None:
        self.videos: dict[str, _Video] = {}

    def take(self, rec: dict, where: str = "") -> None:
        try:
            vid, index = str(rec["video_id"]), int(rec["index"])
            video = self._video(vid)
            video.cards[index] = _card(rec, f"v{video.ordinal}-s{index}")
        except (KeyError, TypeError, ValueError) as exc:
            print(f"scenestream: {where or 'report'}: not a scene record, left out of the report ({exc!r})",
                  file=sys.stderr)

    def _video(self, vid: str) -> _Video:
        video = self.videos.get(vid)
        if video is None:
            video = self.videos[vid] = _Video(vid, len(self.videos))
        return video

    def take_whole(self, topic: str, rec: dict) -> None:
        """A chapter or a video's summary (topics `chapters`, `summaries`)."""
        from scenestream.schemas.topics import CHAPTERS, SUMMARIES

        try:
            if topic == CHAPTERS:
                self._video(str(rec["video_id"])).chapters[int(rec["index"])] = rec
            elif topic == SUMMARIES:
                self._video(str(rec["video_id"])).overview = str(rec.get("summary") or "")
        except (KeyError, TypeError, ValueError) as exc:
            print(f"scenestream: report: not a {topic} record, left out ({exc!r})", file=sys.stderr)

    def write(self, target: str | Path, summaries: dict[str, dict], source: str, thumbnails: bool = True,
              width: int = WIDTH) -> Path:
        """The page, with each video's run figures from `summaries` (video_id -> summary.json's object; its
        `uri` is where the pictures are decoded from)."""
        target = Path(target)
        template = _environment().get_template("report.html.j2")
        context = {"videos": [_view(v, summaries.get(v.video_id), thumbnails, width) for v in self.videos.values()],
                   "width": width, "source": source,
                   "made": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            for piece in template.generate(context):
                out.write(piece)
        tmp.replace(target)  # a reader never sees half a page
        return target


def summaries_of(summary: Any) -> dict[str, dict]:
    """summary.json's content (one run's object, or a list of them) by video id."""
    items = summary if isinstance(summary, list) else [summary]
    return {s["video_id"]: s for s in items if isinstance(s, dict) and "video_id" in s}


def write_report(run_dir: str | Path, target: str | Path | None = None, thumbnails: bool = True,
                 width: int = WIDTH) -> Path:
    """Write the report of a run folder (DIR/captions.jsonl, DIR/summary.json) to `target` (DIR/report.html by
    default); returns its path. `thumbnails=False` leaves the pictures out (no decoding)."""
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a folder (give a `scenestream run --out` folder)")
    report = Report()
    for rec in read_jsonl(captions_path(run_dir)):
        report.take(rec)
    from scenestream.schemas.topics import CHAPTERS
    from scenestream.streams.outputs import chapters

    only = list(report.videos)
    for ch in chapters.read(run_dir):  # chapters.json holds no video id: a run folder is one video's
        if len(only) == 1:
            report.take_whole(CHAPTERS, {**ch, "video_id": only[0]})
    return report.write(Path(target) if target else run_dir / REPORT_FILE, _summaries(run_dir),
                        str(run_dir / CAPTIONS_FILE), thumbnails, width)


__all__ = ["REPORT_FILE", "Report", "summaries_of", "write_report"]
