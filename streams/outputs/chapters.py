"""A run folder's chapter files, from the Chapter records of one video (schemas.Chapter as JSON objects):

    chapters.json   a list of {index, start, end, title, scenes}
    chapters.vtt    WebVTT cues, one per chapter (a player's <track kind="chapters">)
    chapters.txt    "00:00 Title" lines, the first at 00:00, as video sites read them from a description

A run folder holds one video; a folder given several (serve never does) writes the chapters of each in turn."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import orjson

CHAPTERS_JSON, CHAPTERS_VTT, CHAPTERS_TXT = "chapters.json", "chapters.vtt", "chapters.txt"
FIELDS = ("index", "start", "end", "title", "scenes")


def plain(chapters: Iterable[dict]) -> list[dict]:
    return [{k: ch.get(k) for k in FIELDS} for ch in chapters]


def _vtt_time(t: float) -> str:
    ms = max(0, round(t * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _one_line(text: str) -> str:
    # A cue's text must not hold "-->" nor a blank line; a title is one line anyway.
    return " ".join(str(text).split()).replace("-->", "->")


def to_vtt(chapters: list[dict]) -> str:
    lines = ["WEBVTT", "Kind: chapters", ""]
    for ch in chapters:
        start, end = float(ch["start"]), float(ch["end"])
        # No cue identifiers: they are optional, and some readers (pysubs2 among them) take one for text.
        lines += [f"{_vtt_time(start)} --> {_vtt_time(max(end, start + 0.001))}",
                  _one_line(ch.get("title") or f"Chapter {int(ch['index']) + 1}"), ""]
    return "\n".join(lines)


def clock(t: float, hours: bool | None = None) -> str:
    """MM:SS, or H:MM:SS with `hours` (None: when `t` reaches an hour)."""
    s = max(0, int(t))
    if hours is None:
        hours = s >= 3600
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if hours else f"{m:02d}:{s:02d}"


def to_txt(chapters: list[dict]) -> str:
    """YouTube's form: the first chapter at 00:00 (it must be), H:MM:SS once the video reaches an hour."""
    if not chapters:
        return ""
    hours = max(float(ch["start"]) for ch in chapters) >= 3600
    return "".join(f"{clock(0.0 if i == 0 else float(ch['start']), hours)} {_one_line(ch.get('title') or '')}\n"
                   for i, ch in enumerate(chapters))


def write(folder: str | Path, chapters: list[dict]) -> list[Path]:
    """The three files of `chapters` (in index order) in `folder`; each appears whole (written aside, renamed)."""
    folder = Path(folder)
    chapters = sorted(plain(chapters), key=lambda ch: (int(ch["index"])))
    out = []
    for name, data in ((CHAPTERS_JSON, orjson.dumps(chapters, option=orjson.OPT_INDENT_2) + b"\n"),
                       (CHAPTERS_VTT, to_vtt(chapters).encode()), (CHAPTERS_TXT, to_txt(chapters).encode())):
        path = folder / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        out.append(path)
    return out


def read(folder: str | Path, warn=None) -> list[dict]:
    """DIR/chapters.json (a list of chapters; {"chapters": [...]} is accepted too), or [] where there is none or it
    cannot be read; `warn(message)`, when given, hears why an existing file was not read."""
    path = Path(folder) / CHAPTERS_JSON
    if not path.is_file():
        return []
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        if warn is not None:
            warn(f"{path}: not readable ({exc})")
        return []
    if isinstance(data, dict):
        data = data.get("chapters", [])
    return [c for c in data if isinstance(c, dict)] if isinstance(data, list) else []


__all__ = ["CHAPTERS_JSON", "CHAPTERS_TXT", "CHAPTERS_VTT", "clock", "plain", "read", "to_txt", "to_vtt", "write"]
