"""What a person or a search system reads, made from the caption stream (SceneCaption records) only: subtitles
(subtitles.py), Elasticsearch/OpenSearch bulk files (bulk.py), a SQLite search index (index.py), read from a
captions.jsonl, a run folder or the live captions topic (sources.py). Every output is idempotent by scene key."""
from __future__ import annotations

import sys
from pathlib import Path

from scenestream.streams.outputs.sources import CAPTIONS_FILE, read_jsonl


def write_run_outputs(out_dir: Path) -> list[Path]:
    """After `scenestream run`: the files made from out_dir/captions.jsonl (captions.vtt, captions.srt,
    report.html). A failure here is one line on stderr, never a failed run: the records themselves are written."""
    from scenestream.streams.outputs import subtitles

    out_dir = Path(out_dir)
    written: list[Path] = []
    if not (out_dir / CAPTIONS_FILE).is_file():
        return written
    for fmt in subtitles.FORMATS:
        target = out_dir / f"captions.{fmt}"
        try:
            written.append(subtitles.write(read_jsonl(out_dir), target, fmt))
        except Exception as exc:  # noqa: BLE001 - an output is extra; the run's records stand
            print(f"scenestream: {target}: not written ({type(exc).__name__}: {exc})", file=sys.stderr)
    from scenestream.streams.outputs.report import REPORT_FILE, write_report  # report.html: timeline, pictures, timings

    try:
        written.append(write_report(out_dir))
    except Exception as exc:  # noqa: BLE001 - as above
        print(f"scenestream: {out_dir / REPORT_FILE}: not written ({type(exc).__name__}: {exc})", file=sys.stderr)
    return written


__all__ = ["write_run_outputs"]
