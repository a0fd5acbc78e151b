"""What a person or a search system reads, made from the caption stream (SceneCaption records) only: subtitles
(subtitles.py), Elasticsearch/OpenSearch bulk files (bulk.py), a SQLite search index (index.py), read from a
captions.jsonl, a run folder or the live captions topic (sources.py), or taken as they come (sinks.py). Every output is idempotent by scene key."""
from __future__ import annotations

from scenestream.streams.outputs.sinks import RunFolder, Sink

__all__ = ["RunFolder", "Sink"]
