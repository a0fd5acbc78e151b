"""Elasticsearch / OpenSearch `_bulk` NDJSON from SceneCaption records.

Each scene is an `index` action with `_id` = `video_id:index` followed by the record itself, so loading the same
export twice (or an export of a replayed run) replaces documents instead of adding copies. Load it with
`curl -H 'Content-Type: application/x-ndjson' --data-binary @scenes.ndjson http://HOST:9200/_bulk`. A few flat fields
are added for search (`sounds`, `object_labels`, `on_screen_text`, `speaker_labels`, `duration`) beside the record's own, which stay as
they are. The index template these documents are meant for is in search_template.py."""
from __future__ import annotations

from typing import IO, Iterable, Iterator

import orjson

from scenestream.streams.outputs.sources import scene_key

DEFAULT_INDEX = "scenestream-scenes"
DERIVED = ("scene_key", "sounds", "object_labels", "on_screen_text", "speaker_labels", "duration")


def document(rec: dict) -> dict:
    """The record plus flat search fields (derived from it; a v1 record simply has no on-screen text)."""
    doc = dict(rec)
    doc["scene_key"] = scene_key(rec)
    doc["sounds"] = sorted({str(e.get("label", "")) for e in rec.get("audio_events") or [] if e.get("label")})
    doc["object_labels"] = sorted(str(k) for k in (rec.get("objects") or {}))
    doc["on_screen_text"] = " / ".join(str(t.get("text", "")) for t in rec.get("text") or [] if t.get("text"))
    doc["speaker_labels"] = speaker_labels(rec)
    try:
        doc["duration"] = round(float(rec["end"]) - float(rec["start"]), 6)
    except (KeyError, TypeError, ValueError):  # a broken record: the engine's mapping says what is wrong with it
        pass
    return doc


def speaker_labels(rec: dict) -> list[str]:
    """Who speaks in the scene, in order of first turn (records before schema 3, or without the agent: none)."""
    return list(dict.fromkeys(str(t.get("speaker")) for t in rec.get("speakers") or [] if t.get("speaker")))


def bulk_lines(records: Iterable[dict], index: str | None = DEFAULT_INDEX) -> Iterator[bytes]:
    """Two NDJSON lines per record (action, document), each ending in a newline. `index=None` leaves `_index` out,
    for POSTing to /INDEX/_bulk."""
    for rec in records:
        action = {"_id": scene_key(rec)}
        if index:
            action = {"_index": index, **action}
        yield orjson.dumps({"index": action}) + b"\n"
        yield orjson.dumps(document(rec)) + b"\n"


def write_bulk(records: Iterable[dict], out: IO[bytes], index: str | None = DEFAULT_INDEX) -> int:
    """Stream the NDJSON to a binary file; returns the number of scenes written."""
    n = 0
    for i, line in enumerate(bulk_lines(records, index)):
        out.write(line)
        n += i % 2
    return n


def read_bulk(lines: Iterable[bytes]) -> Iterator[tuple[dict, dict]]:
    """(action, document) pairs of a _bulk NDJSON stream: the inverse of `bulk_lines`, for checks and tools."""
    it = (line for line in lines if line.strip())
    for action_line in it:
        action = orjson.loads(action_line)
        try:
            doc = orjson.loads(next(it))
        except StopIteration:
            raise ValueError("bulk file ends after an action line, without its document") from None
        yield action, doc


__all__ = ["DEFAULT_INDEX", "DERIVED", "bulk_lines", "document", "read_bulk", "write_bulk"]
