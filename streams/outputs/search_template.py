"""What a scene looks like to a search engine: the index template of OpenSearch (2.x) and Elasticsearch (8/9), the
index names behind the alias, and the document of a record.

One dialect serves both engines: composable `_index_template`, built-in `english` analyser, `keyword`, `double`,
`date` with `epoch_second`, and `enabled: false` objects. Engine-specific types (OpenSearch `flat_object`/`knn_vector`,
Elasticsearch `flattened`/`dense_vector`) are left out on purpose, so the same template loads into either.

Writes go to a versioned index NAME-v1, NAME-v2, ... behind the alias NAME, which readers query. The template matches
NAME-v*, so every version gets this mapping; the alias is not in the template (it would point at two versions while a
rebuild runs): it is set when the first version is made and moved in one `_aliases` call when a rebuild is done.
"""
from __future__ import annotations

import re

from scenestream.agents.errors import ConfigError
from scenestream.streams.outputs import bulk

# Bumped when the mapping changes: stored in the template's and the index's `_meta`, so a cluster shows which
# mapping an index was made with (a changed mapping reaches an existing index by `--rebuild`).
TEMPLATE_VERSION = 1
DEFAULT_INDEX = bulk.DEFAULT_INDEX

TEXT = {"type": "text", "analyzer": "english"}
# Labels (an AudioSet class such as "Telephone bell ringing", a COCO class) are exact keywords for filters and
# aggregations, with an analysed sub-field so a word query finds them too.
LABEL = {"type": "keyword", "ignore_above": 256, "fields": {"text": TEXT}}
KEYWORD = {"type": "keyword", "ignore_above": 256}
TIME = {"type": "double"}  # seconds in the video: double, so a 5-hour video keeps millisecond times exact
SCORE = {"type": "float"}
OPAQUE = {"type": "object", "enabled": False}  # kept in _source, not indexed: maps with open-ended keys


def _span(**more) -> dict:
    return {"properties": {"start": TIME, "end": TIME, **more}}


MAPPINGS: dict = {
    # Fields the template does not know (a newer schema's) stay in _source, unindexed, rather than being typed by a
    # guess that a later record could contradict; a new TEMPLATE_VERSION maps them and a rebuild indexes them.
    "dynamic": False,
    "_meta": {"scenestream_template": TEMPLATE_VERSION},
    "properties": {
        "video_id": KEYWORD,
        "index": {"type": "integer"},
        "scene_key": KEYWORD,  # also the _id
        "start": TIME,
        "end": TIME,
        "duration": TIME,
        "last": {"type": "boolean"},
        "schema_version": {"type": "short"},
        "emitted_at": {"type": "date", "format": "epoch_second"},  # float seconds since 1970 (fraction kept)
        "caption": TEXT,
        "captioner": KEYWORD,
        "transcript": {"properties": {
            "text": TEXT,
            "language": KEYWORD,
            # Flattened, not nested: one Lucene document per scene, not one per word; a word's own time stays in
            # _source. Filters such as words.speaker:S2 work, a "this word at that time" join does not.
            "words": {"properties": {"word": TEXT, "start": TIME, "end": TIME, "probability": SCORE,
                                     "speaker": KEYWORD}},
            "translation": {"properties": {"language": KEYWORD, "text": TEXT,
                                           "segments": _span(text=TEXT)}},
        }},
        "audio_events": _span(label=LABEL, score=SCORE),
        "objects": OPAQUE,  # {label: count}: `object_labels` is its searchable form
        "tracks": {"properties": {"track_id": {"type": "integer"}, "label": LABEL, "first": TIME, "last": TIME,
                                  "observations": {"type": "integer"}, "max_confidence": SCORE}},
        "keyframe_times": TIME,
        "text": _span(text=TEXT, score=SCORE, box=SCORE, frames={"type": "integer"}),
        "speakers": _span(speaker=KEYWORD),
        "timings": OPAQUE,
        "missing": OPAQUE,
        "extra": OPAQUE,
        "caption_usage": OPAQUE,
        # The flat search fields of bulk.document.
        "sounds": LABEL,
        "object_labels": LABEL,
        "on_screen_text": TEXT,
        "speaker_labels": KEYWORD,
        # The chapter a scene belongs to, when the run made chapters (DIR/chapters.json).
        "chapter": {"properties": {"index": {"type": "integer"}, "title": TEXT, "start": TIME, "end": TIME}},
    },
}

# The chapters index, ALIAS-chapters, beside the versions (the template's ALIAS-v* does not match it): one document
# per chapter read from the Kafka `chapters` topic (schemas.Chapter), _id video_id:index. The sink keeps chapters
# there, not in its memory, because a chapter and its scenes come on two topics, in either order: scenes indexed
# after their chapter look it up here, also after a restart. It is searchable in its own right.
CHAPTER_MAPPINGS: dict = {
    "dynamic": False,
    "_meta": {"scenestream_template": TEMPLATE_VERSION},
    "properties": {"video_id": KEYWORD, "index": {"type": "integer"}, "start": TIME, "end": TIME, "title": TEXT,
                   "scenes": {"type": "integer"}, "titled_by": KEYWORD, "schema_version": {"type": "short"}},
}


def chapters_index(alias: str) -> str:
    return f"{alias}-chapters"


# Index names: lowercase, no spaces or \ / * ? " < > | , # :, not starting with - _ +, at most 255 bytes (both
# engines' rules). Checked here so a bad --index is one line, not a 400 from the cluster.
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name in (".", "..") or len(name.encode()) > 200:
        raise ConfigError(f"index name {name!r}: use lowercase letters, digits, '.', '_' and '-', starting with a "
                          "letter or digit (at most 200 characters)")
    if re.search(r"-v\d+$", name):
        raise ConfigError(f"index name {name!r}: give the alias (without -vN); the versions behind it are made here")
    return name


def version_name(alias: str, version: int) -> str:
    return f"{alias}-v{version}"


def version_of(index: str, alias: str) -> int | None:
    """N of ALIAS-vN, or None for any other name."""
    m = re.fullmatch(re.escape(alias) + r"-v(\d+)", index)
    return int(m.group(1)) if m else None


def template(alias: str) -> dict:
    """The body of PUT _index_template/ALIAS."""
    return {
        "index_patterns": [f"{alias}-v*"],
        # Above the engines' built-in templates (Elasticsearch's logs-*-* and the like sit at 100 and below).
        "priority": 200,
        "_meta": {"scenestream_template": TEMPLATE_VERSION, "alias": alias},
        "template": {"mappings": MAPPINGS},
    }


def document(rec: dict, chapter: dict | None = None) -> dict:
    """The indexed document of a record: bulk.document (the record plus the flat search fields, duration among
    them) and, where known, its chapter."""
    doc = bulk.document(rec)
    if chapter is not None:
        doc["chapter"] = chapter
    return doc


def chapter_of(rec: dict, chapters: list[dict]) -> dict | None:
    """The chapter that holds the scene: by its scene range (`scenes`: first and last index, schemas.Chapter), else
    by the time span that holds the scene's start."""
    for ch in chapters:
        if ch.get("video_id") not in (None, rec.get("video_id")):
            continue
        try:
            scenes = ch.get("scenes") or []
            if scenes:
                inside = int(scenes[0]) <= int(rec["index"]) <= int(scenes[-1])
            else:
                inside = float(ch["start"]) <= float(rec["start"]) < float(ch["end"])
            if inside:
                return {"index": int(ch["index"]), "title": str(ch.get("title") or ""),
                        "start": float(ch["start"]), "end": float(ch["end"])}
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            continue  # a malformed chapter names no scene; the scene is indexed without one
    return None


__all__ = ["CHAPTER_MAPPINGS", "DEFAULT_INDEX", "MAPPINGS", "TEMPLATE_VERSION", "chapter_of", "chapters_index",
           "check_name", "document", "template", "version_name", "version_of"]
