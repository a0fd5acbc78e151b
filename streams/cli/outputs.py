"""The output subcommands of `scenestream`: export (subtitles, Elasticsearch/OpenSearch bulk), index, search.
`add_commands(subparsers)` adds them to the main parser (streams/cli/main.py). Heavy imports stay inside the commands so
`--help` stays fast."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from scenestream.agents.errors import ConfigError
from scenestream.streams.cli.kafka_args import add_kafka_arguments, kafka_settings
from scenestream.streams.cli.opensearch import add_opensearch_arguments

def _one_video(records, video_id: str | None):
    """Subtitles are of one video: keep `video_id`'s records, or insist that there is only one video."""
    first = None
    for rec in records:
        vid = rec.get("video_id")
        if video_id is not None:
            if vid == video_id:
                yield rec
            continue
        if first is None:
            first = vid
        elif vid != first:
            raise ConfigError(f"the source holds more than one video ({first}, {vid}, ...): pick one with --video-id")
        yield rec


def cmd_export(args: argparse.Namespace) -> int:
    try:
        return _export(args)
    except BrokenPipeError:  # `scenestream export ... | head`: the reader has all it wanted
        sys.stderr.close()
        return 0


def _export(args: argparse.Namespace) -> int:
    from scenestream.streams.outputs import bulk, sources, subtitles

    if args.kafka:
        if args.source:
            raise ConfigError("give SOURCE or --kafka, not both")
        settings = kafka_settings(args)
        records = asyncio.run(sources.snapshot_captions(settings, args.video_id))
    elif args.source:
        records = sources.read_jsonl(args.source)
    else:
        raise ConfigError("export needs a SOURCE (captions.jsonl or run folder) or --kafka")

    if args.format == "bulk":
        if args.video_id and not args.kafka:
            records = (r for r in records if r.get("video_id") == args.video_id)
        index = args.index_name or None
        if args.out:
            tmp = Path(args.out).with_name(Path(args.out).name + ".tmp")
            with open(tmp, "wb") as f:
                n = bulk.write_bulk(records, f, index)
            tmp.replace(args.out)
            print(f"{args.out}: {n} scenes", file=sys.stderr)
        else:
            bulk.write_bulk(records, sys.stdout.buffer, index)
            sys.stdout.flush()
        return 0

    records = _one_video(records, args.video_id)
    if args.translation:
        records = list(records)
        if not any(map(subtitles.has_translation, records)):
            raise ConfigError("these records carry no translation: run with -o asr.translate=en and a multilingual "
                              "speech model (e.g. -o asr.model=whisper-base)")
        records = [subtitles.translated(r) for r in records]
    if args.out:
        subtitles.write(records, args.out, args.format)
    else:
        sys.stdout.write(subtitles.to_string(records, args.format))
        sys.stdout.flush()
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from scenestream.streams.outputs import sources
    from scenestream.streams.outputs.index import SceneIndex

    if not args.sources and not args.kafka:
        raise ConfigError("index needs at least one SOURCE (captions.jsonl or run folder) or --kafka")
    if args.opensearch:
        from scenestream.streams.cli.opensearch import index_opensearch

        return index_opensearch(args)
    if not args.db:
        raise ConfigError("index needs --db PATH (a SQLite index file) or --opensearch URL (a search cluster)")
    for s in args.sources:
        sources.captions_path(s)  # every source checked before anything is loaded
    with SceneIndex(args.db) as index:
        changed = index.add_many(sources.read_sources(args.sources)) if args.sources else 0
        if args.kafka:
            settings = kafka_settings(args)
            group = args.group or sources.default_group(settings, args.db)

            async def follow() -> int:
                n = 0
                async for batch in sources.follow_captions(settings, group, idle_timeout=args.idle_timeout):
                    # Blocking (embedding) work in a thread: the consumer keeps heart-beating meanwhile.
                    n += await asyncio.to_thread(index.add_many, batch)
                    if not args.quiet:
                        print(f"scenestream: indexed {n} new or changed scenes ({index.count()} in all)",
                              file=sys.stderr, flush=True)
                return n

            if not args.quiet:
                print(f"scenestream: following {settings.topic('captions')} as group {group}", file=sys.stderr,
                      flush=True)
            changed += asyncio.run(follow())
        if not args.quiet:
            print(f"{args.db}: {changed} scenes added or changed, {index.count()} in all")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    import orjson

    from scenestream.streams.outputs.index import SceneIndex

    if not Path(args.db).expanduser().exists():
        raise ConfigError(f"no index at {args.db} (make one with `scenestream index SOURCE --db {args.db}`)")
    with SceneIndex(args.db) as index:
        hits = index.search(args.query, args.k)
    if args.json:
        for h in hits:
            sys.stdout.write(orjson.dumps(h).decode() + "\n")
        sys.stdout.flush()
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(hits)} scenes for {args.query!r}")
    for col in ("score", "video", "scene", "time", "snippet"):
        table.add_column(col)
    for h in hits:
        table.add_row(f"{h['score']:.4f}", escape(h["video_id"]), str(h["index"]),
                      f"{h['start']:.2f}-{h['end']:.2f} s", escape(h["snippet"]))
    Console(width=200 if not sys.stdout.isatty() else None).print(table)
    return 0


def add_commands(sub) -> None:
    e = sub.add_parser(
        "export", help="subtitles (VTT, SRT) or an Elasticsearch/OpenSearch bulk file from scene records",
        description="Make subtitles or a search-engine bulk file from scene records. vtt/srt: speech cues from the "
                    "word times (split at sentence ends, pauses and a few seconds), [Sound] cues from the audio "
                    "events, [On screen: ...] cues from the text read in the picture; one video per file. bulk: "
                    "Elasticsearch/OpenSearch _bulk NDJSON, one `index` action per scene with _id VIDEO_ID:INDEX, so "
                    "loading it again updates documents instead of duplicating them "
                    "(curl -H 'Content-Type: application/x-ndjson' --data-binary @FILE http://HOST:9200/_bulk).")
    e.add_argument("source", metavar="SOURCE", nargs="?",
                   help="a captions.jsonl or a `scenestream run --out` folder (omit with --kafka)")
    e.add_argument("--format", "-f", required=True, choices=("vtt", "srt", "bulk"), help="what to write")
    e.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    e.add_argument("--video-id", help="only this video's scenes (needed for subtitles of a multi-video source)")
    e.add_argument("--translation", action="store_true",
                   help="vtt/srt: subtitles from the transcript's English translation (runs with -o asr.translate=en)")
    e.add_argument("--kafka", action="store_true",
                   help="read every record the captions topic holds now, instead of a file")
    e.add_argument("--index-name", default="scenestream-scenes",
                   help="bulk: the _index of each action (default scenestream-scenes; '' to leave it out and POST "
                        "to /INDEX/_bulk)")
    add_kafka_arguments(e)
    e.set_defaults(func=cmd_export)

    i = sub.add_parser(
        "index", help="add scene records to a SQLite search index (words and meaning), or to OpenSearch",
        description="Store every scene of the SOURCEs (caption, transcript, on-screen text, sound and object labels, "
                    "times) in a SQLite file: FTS5 for words, sqlite-vec vectors from the offline MiniLM for meaning. "
                    "Idempotent by scene key (VIDEO_ID:INDEX): indexing the same records again changes nothing, a "
                    "changed record replaces its scene. With --kafka, follows the live captions topic as a consumer "
                    "group (one group per index file by default), so a restart resumes where it stopped; stop it "
                    "with Ctrl-C or --idle-timeout. With --opensearch URL the scenes go to an OpenSearch or "
                    "Elasticsearch cluster instead (see the search engine flags below).")
    i.add_argument("sources", metavar="SOURCE", nargs="*", help="captions.jsonl files or `scenestream run` folders")
    i.add_argument("--db", metavar="PATH", help="the index file (made if missing); or --opensearch")
    i.add_argument("--kafka", action="store_true", help="then follow the captions topic")
    i.add_argument("--group", help="--kafka: consumer group (default: prefix + 'index-' + the db file's name and "
                                   "hash; with --opensearch, prefix + 'opensearch-' + the index and a hash of the URL)")
    i.add_argument("--idle-timeout", type=float, metavar="S",
                   help="--kafka: stop after S seconds without a new record (default: follow until interrupted)")
    i.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    add_kafka_arguments(i)
    add_opensearch_arguments(i)
    i.set_defaults(func=cmd_index)

    s = sub.add_parser(
        "search", help="find scenes in an index by what is said, shown, written or heard",
        description="Search an index made by `scenestream index`. Ranking fuses a word match (FTS5 bm25) with a "
                    "meaning match (MiniLM vectors) by reciprocal rank fusion, so a query in other words than the "
                    "captions' still finds its scene. Prints the best scenes: score, video, scene index, time span "
                    "and a snippet.")
    s.add_argument("query", metavar="QUERY", help="free text, e.g. \"a man talks about his inheritance\"")
    s.add_argument("--db", required=True, metavar="PATH", help="the index file")
    s.add_argument("--k", "-k", type=int, default=10, help="how many scenes (default 10)")
    s.add_argument("--json", action="store_true",
                   help="one JSON object a line: video_id, index, start, end, score, snippet, caption, key, "
                        "fts_rank, vector_rank")
    s.set_defaults(func=cmd_search)


__all__ = ["add_commands"]
