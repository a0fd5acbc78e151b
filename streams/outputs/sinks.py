"""Sinks: where scene records go as they become final. One interface: `take(record)` for each record (a SceneCaption
as the JSON object a file or the captions topic holds), `close(summary)` once at the end (the run's figures, for the
sinks that write them). A runtime hands each record to a list of sinks; whoever made the sinks closes them.

The run folder is one sink, `RunFolder`, used by `scenestream run` and by serve for each video:

    DIR/captions.jsonl   each record the moment it is final (a reader can follow it)
    DIR/summary.json     the run's figures, at close
    DIR/captions.vtt     subtitles (speech, sounds, on-screen text), at close
    DIR/captions.srt
    DIR/report.html      the page (streams/outputs/report.py), at close
    DIR/chapters.json    the video's chapters (streams/outputs/chapters.py: also .vtt and .txt), at close; the
                         summary of the video is the field `summary` of summary.json

Nothing is read back from disk: subtitles keep their cues and the report its cards (no words, no whole records)
as the records pass. An output that fails at close is one line on stderr; the others and the records stand.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Callable, Iterable

import orjson

from scenestream.schemas.topics import CHAPTERS, SUMMARIES
from scenestream.streams.outputs import bulk, chapters as chapter_files, subtitles
from scenestream.streams.outputs.report import REPORT_FILE, SUMMARY_FILE, Report, summaries_of
from scenestream.streams.outputs.sources import CAPTIONS_FILE


class Sink:
    def take(self, record: dict) -> None:
        """One final scene record."""

    def take_whole(self, topic: str, record: dict) -> None:
        """A record about a video as a whole (topic `chapters` or `summaries`, streams/video/stage.py), as the
        topic holds it; sinks that have no use for them ignore them."""

    def close(self, summary: dict | None = None) -> list[Path]:
        """The end of the records; returns the files written (if any)."""
        return []


def take_all(sinks: Iterable[Sink], records: Iterable[dict]) -> None:
    sinks = list(sinks)
    for rec in records:
        for sink in sinks:
            sink.take(rec)


class Collect(Sink):
    """The records in a list (tests, and callers that want them in memory)."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def take(self, record: dict) -> None:
        self.records.append(record)


class Each(Sink):
    """Calls `fn(record)` for each record: a progress bar, a live page; and `whole(topic, record)` for each
    chapter and summary, if given."""

    def __init__(self, fn: Callable[[dict], None], whole: Callable[[str, dict], None] | None = None):
        self.fn, self.whole = fn, whole

    def take(self, record: dict) -> None:
        self.fn(record)

    def take_whole(self, topic: str, record: dict) -> None:
        if self.whole is not None:
            self.whole(topic, record)


class CaptionsFile(Sink):
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.file: IO[bytes] = open(self.path, "wb")

    def take(self, record: dict) -> None:
        self.file.write(orjson.dumps(record) + b"\n")
        self.file.flush()  # each scene is readable the moment it is final

    def close(self, summary: dict | None = None) -> list[Path]:
        if not self.file.closed:
            self.file.close()
        return [self.path]


class SubtitleFiles(Sink):
    """`stem.vtt` and `stem.srt` (or the formats given) of one video's records."""

    def __init__(self, stem: str | Path, formats: Iterable[str] = subtitles.FORMATS):
        self.stem, self.formats = Path(stem), tuple(formats)
        self.cues = subtitles.CueList()

    def take(self, record: dict) -> None:
        self.cues.add(record)

    def close(self, summary: dict | None = None) -> list[Path]:
        return [path for fmt in self.formats
                if (path := _guarded(self.stem.with_name(f"{self.stem.name}.{fmt}"),
                                     lambda p, fmt=fmt: subtitles.write(self.cues, p, fmt)))]


class ReportFile(Sink):
    def __init__(self, path: str | Path, source: str = "", thumbnails: bool = True):
        self.path, self.source, self.thumbnails = Path(path), source, thumbnails
        self.report = Report()

    def take(self, record: dict) -> None:
        self.report.take(record)

    def take_whole(self, topic: str, record: dict) -> None:
        self.report.take_whole(topic, record)

    def close(self, summary: dict | None = None) -> list[Path]:
        written = _guarded(self.path, lambda p: self.report.write(p, summaries_of(summary), self.source,
                                                                  self.thumbnails))
        return [written] if written else []


class BulkFile(Sink):
    """Elasticsearch/OpenSearch _bulk NDJSON (streams/outputs/bulk.py) to a binary stream."""

    def __init__(self, out: IO[bytes], index: str | None = bulk.DEFAULT_INDEX):
        self.out, self.index, self.count = out, index, 0

    def take(self, record: dict) -> None:
        for line in bulk.bulk_lines([record], self.index):
            self.out.write(line)
        self.count += 1

    def close(self, summary: dict | None = None) -> list[Path]:
        self.out.flush()
        return []


class RunFolder(Sink):
    """A run's output folder (see the module's docstring)."""

    def __init__(self, out_dir: str | Path, thumbnails: bool = True):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.captions = CaptionsFile(self.dir / CAPTIONS_FILE)
        self.made: list[Sink] = [SubtitleFiles(self.dir / "captions"),
                                 ReportFile(self.dir / REPORT_FILE, str(self.captions.path), thumbnails)]
        self.chapters: list[dict] = []  # a few per video hour: kept whole until close
        self.summaries: dict[str, dict] = {}

    def take(self, record: dict) -> None:
        self.captions.take(record)
        for sink in self.made:
            sink.take(record)

    def take_whole(self, topic: str, record: dict) -> None:
        if topic == CHAPTERS:
            self.chapters.append(record)
        elif topic == SUMMARIES:
            self.summaries[str(record.get("video_id"))] = record
        for sink in self.made:
            sink.take_whole(topic, record)

    def close(self, summary: dict | None = None) -> list[Path]:
        written = self.captions.close()
        if self.chapters:
            written += _guarded_all(lambda: chapter_files.write(self.dir, self.chapters), self.dir / "chapters.*")
        if summary is not None:
            made = self.summaries.get(str(summary.get("video_id")))
            if made is not None:
                summary = {**summary, "summary": made.get("summary", ""), "summary_method": made.get("method", ""),
                           "chapters": made.get("chapters", 0)}
            path = self.dir / SUMMARY_FILE
            path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
            written.append(path)
        for sink in self.made:
            written += sink.close(summary)
        return written


def _guarded_all(write: Callable[[], list[Path]], what: Path) -> list[Path]:
    try:
        return write()
    except Exception as exc:  # noqa: BLE001 - an output is extra; the run's records stand
        print(f"scenestream: {what}: not written ({type(exc).__name__}: {exc})", file=sys.stderr)
        return []


def _guarded(path: Path, write: Callable[[Path], Path]) -> Path | None:
    try:
        return write(path)
    except Exception as exc:  # noqa: BLE001 - an output is extra; the run's records stand
        print(f"scenestream: {path}: not written ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None


__all__ = ["BulkFile", "CaptionsFile", "Collect", "Each", "ReportFile", "RunFolder", "Sink", "SubtitleFiles",
           "take_all"]
