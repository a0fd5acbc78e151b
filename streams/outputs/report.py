"""report.html: one self-contained page for a run's output folder, readable without a server.

Per video: a timeline of its scenes, then each scene with a keyframe picture, its caption, a transcript excerpt,
the sounds, the objects, the on-screen text and why a field is missing; and the stage timings of summary.json.
CSS is inline and pictures are data: URIs, so the file can be mailed or opened from disk; there is no script.
Everything from a record is HTML-escaped by Jinja2's autoescape (a caption or a transcript is untrusted text).

Pictures: the records carry keyframe times, not JPEGs, so the report decodes the video (its URI is in
summary.json) at each scene's first keyframe with PyAV (streams/outputs/thumbnails.py): `scenestream report DIR`
rebuilds the page from the folder alone, and a run stores nothing extra. A source that cannot be read any more (a
moved file, a live stream) gives a page without pictures, never an error.

Bounded memory: captions.jsonl is read twice, line by line; the first pass keeps only each scene's times and the
byte offset of its line (the last line wins for a repeated scene key), the second reads the lines back by offset in
scene order while the page is written out piece by piece (Jinja2's `generate`)."""
from __future__ import annotations

import datetime
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import orjson

from scenestream.agents.errors import InputError
from scenestream.streams.outputs.sources import CAPTIONS_FILE, captions_path
from scenestream.streams.outputs.thumbnails import WIDTH, VideoFrames, data_uri, scene_time

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"
TRANSCRIPT_CHARS = 320  # the excerpt of a scene's speech; the full text is in captions.jsonl and the subtitles


@dataclass
class _Video:
    video_id: str
    ordinal: int
    uri: str = ""
    summary: dict | None = None
    scenes: dict[int, tuple[float, float, int]] = field(default_factory=dict)  # index -> (start, end, byte offset)


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
    items = summary if isinstance(summary, list) else [summary]
    return {s["video_id"]: s for s in items if isinstance(s, dict) and "video_id" in s}


def _scan(captions: Path, summaries: dict[str, dict]) -> list[_Video]:
    videos: dict[str, _Video] = {}
    with open(captions, "rb") as f:
        offset = 0
        for n, line in enumerate(f, 1):
            here, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
                vid, index, start, end = str(rec["video_id"]), int(rec["index"]), float(rec["start"]), float(rec["end"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                print(f"scenestream: {captions}:{n}: not a scene record, left out of the report ({exc})",
                      file=sys.stderr)
                continue
            video = videos.get(vid)
            if video is None:
                summary = summaries.get(vid)
                video = videos[vid] = _Video(vid, len(videos), (summary or {}).get("uri", ""), summary)
            video.scenes[index] = (start, end, here)
    return list(videos.values())


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


def _card(rec: dict, anchor: str, frames: VideoFrames | None) -> dict:
    sounds: dict[str, float] = {}
    for e in rec.get("audio_events") or []:
        label = str(e.get("label") or "")
        if label:
            sounds[label] = max(sounds.get(label, 0.0), float(e.get("score") or 0.0))
    transcript = rec.get("transcript") or {}
    text, cut = _excerpt(str(transcript.get("text") or ""))
    t = scene_time(rec)
    jpeg = frames.at(t) if frames is not None else None
    return {
        "anchor": anchor, "index": rec["index"], "start": rec["start"], "end": rec["end"],
        "span": _span(rec["start"], rec["end"]), "thumb": data_uri(jpeg), "thumb_time": t,
        "caption": rec.get("caption") or "", "captioner": rec.get("captioner") or "",
        "transcript": text, "transcript_cut": cut, "language": transcript.get("language") or "",
        "sounds": [{"label": k, "score": f"{v:.2f}"} for k, v in sorted(sounds.items(), key=lambda kv: -kv[1])],
        "objects": sorted(((str(k), v) for k, v in (rec.get("objects") or {}).items()), key=lambda kv: (-kv[1], kv[0])),
        # SceneCaption.text arrived with schema version 2; an older record has none.
        "text": [str(line.get("text")) for line in rec.get("text") or [] if isinstance(line, dict) and line.get("text")],
        "missing": sorted((rec.get("missing") or {}).items()),
        "timings": [(k, f"{float(v):.2f}") for k, v in sorted((rec.get("timings") or {}).items())],
    }


def _cards(captions: Path, video: _Video, thumbnails: bool, width: int) -> Iterator[dict]:
    frames = VideoFrames(video.uri, width) if thumbnails and video.uri else None
    try:
        with open(captions, "rb") as f:
            for index in sorted(video.scenes):
                f.seek(video.scenes[index][2])
                rec = orjson.loads(f.readline())
                yield _card(rec, f"v{video.ordinal}-s{index}", frames)
    finally:
        if frames is not None:
            frames.close()


def _view(captions: Path, video: _Video, thumbnails: bool, width: int) -> dict:
    summary = video.summary
    ends = [end for _, end, _ in video.scenes.values()]
    duration = float((summary or {}).get("duration") or 0.0) or max(ends, default=0.0)
    scale = 100.0 / duration if duration else 0.0
    scenes = [{"index": i, "anchor": f"v{video.ordinal}-s{i}", "span": _span(s, e),
               "left": round(s * scale, 3), "width": round(max(0.0, e - s) * scale, 3)}
              for i, (s, e, _) in sorted(video.scenes.items())]
    name = video.uri.rstrip("/").rsplit("/", 1)[-1] if video.uri else video.video_id
    return {"video_id": video.video_id, "name": name, "uri": video.uri or "(not in summary.json)",
            "duration": duration, "summary": summary, "scenes": scenes, "timings": _timings(summary, duration),
            "cards": _cards(captions, video, thumbnails, width)}


def write_report(run_dir: str | Path, target: str | Path | None = None, thumbnails: bool = True,
                 width: int = WIDTH) -> Path:
    """Write the report of a run folder (DIR/captions.jsonl, DIR/summary.json) to `target` (DIR/report.html by
    default); returns its path. `thumbnails=False` leaves the pictures out (no decoding)."""
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a folder (give a `scenestream run --out` folder)")
    captions = captions_path(run_dir)
    videos = _scan(captions, _summaries(run_dir))
    target = Path(target) if target else run_dir / REPORT_FILE
    template = _environment().get_template("report.html.j2")
    context = {"videos": [_view(captions, v, thumbnails, width) for v in videos], "width": width,
               "source": str(run_dir / CAPTIONS_FILE),
               "made": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for piece in template.generate(context):
            out.write(piece)
    tmp.replace(target)  # a reader never sees half a page
    return target


__all__ = ["REPORT_FILE", "write_report"]
