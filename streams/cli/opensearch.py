"""`scenestream index --opensearch URL`: the index subcommand's search-engine sink (OpenSearch 2.x, Elasticsearch
8/9), its flags and its run. streams/cli/outputs.py adds the flags to `index` and hands over here."""
from __future__ import annotations

import argparse
import asyncio
import sys

from scenestream.agents.errors import ConfigError
from scenestream.streams.cli.kafka_args import kafka_settings


def add_opensearch_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "search engine (OpenSearch 2.x, Elasticsearch 8/9)",
        "With --opensearch the scenes go to that cluster instead of a SQLite file: an index template (English "
        "analyser on the text, keywords for labels, speakers and video ids, numbers, emitted_at as a date), an "
        "alias NAME over NAME-v1, bulk writes with retries and backoff, _id VIDEO_ID:INDEX so writing again updates. "
        "Secrets come from the environment: SCENESTREAM_OPENSEARCH_PASSWORD (with --user) or "
        "SCENESTREAM_OPENSEARCH_API_KEY.")
    g.add_argument("--opensearch", metavar="URL", help="the cluster, e.g. http://127.0.0.1:9200 or https://host:9200")
    g.add_argument("--index", metavar="NAME", help="the alias to write and search (default scenestream-scenes); "
                                                    "documents live in NAME-v1, NAME-v2, ... behind it")
    g.add_argument("--rebuild", action="store_true",
                   help="write everything into a new version NAME-vN+1, then move the alias onto it in one step "
                        "(the old version is kept until you delete it); with --kafka the new version reads the "
                        "topic from its oldest record, and needs --idle-timeout")
    g.add_argument("--user", help="basic auth user (password from $SCENESTREAM_OPENSEARCH_PASSWORD)")
    g.add_argument("--ca-certs", metavar="PEM", help="https: the CA bundle that signed the cluster's certificate")
    g.add_argument("--client-cert", metavar="PEM", help="https: a client certificate (mutual TLS)")
    g.add_argument("--client-key", metavar="PEM", help="https: its key")
    g.add_argument("--insecure", action="store_true",
                   help="https: do not check the cluster's certificate (development clusters only; off by default)")
    g.add_argument("--dead-letter", metavar="PATH",
                   help="JSON lines file for documents the cluster rejects, each with its reason and the record "
                        "(default ./scenestream-dead-letter.jsonl; made only when one is rejected)")
    g.add_argument("--retry-for", type=float, metavar="S",
                   help="how long a batch is retried while the cluster is unreachable or busy, with backoff, "
                        "before the command gives up with exit status 75 (default 300); with --kafka, offsets are "
                        "committed only after a batch is acknowledged, so a restart resumes there")
    g.add_argument("--batch", type=int, metavar="N", help="documents per _bulk request (default 500)")


def search_settings(args: argparse.Namespace):
    from scenestream.streams.outputs.opensearch import SearchSettings

    return SearchSettings.from_env(url=args.opensearch, index=args.index, user=args.user, ca_certs=args.ca_certs,
                                   client_cert=args.client_cert, client_key=args.client_key,
                                   insecure=args.insecure or None, dead_letter=args.dead_letter,
                                   retry_for=args.retry_for, batch=args.batch)


def index_opensearch(args: argparse.Namespace) -> int:
    """Run `index` into a search cluster. Exit status 75 (EX_TEMPFAIL) when the cluster stayed away."""
    from opensearchpy.exceptions import TransportError

    from scenestream.streams.outputs.opensearch import SearchIndex, SearchUnavailable

    if args.db:
        raise ConfigError("give --db (a SQLite index) or --opensearch (a search cluster), not both")
    if args.rebuild and args.kafka and args.idle_timeout is None:
        raise ConfigError("--rebuild with --kafka needs --idle-timeout: the alias moves once the new version has "
                          "caught up and the command ends")
    settings = search_settings(args)
    log = None if args.quiet else (lambda line: print(f"scenestream: {line}", file=sys.stderr, flush=True))
    try:
        with SearchIndex(settings, log=log) as index:
            index.prepare(rebuild=args.rebuild)
            indexed, rejected = _files(index, args.sources)
            if args.kafka:
                w = _kafka(index, args, log)
                indexed, rejected = indexed + w.indexed, rejected + w.rejected
            index.finish()
            if not args.quiet:
                dead = f", {rejected} rejected (in {index.dead_letter})" if rejected else ""
                print(f"{settings.url} {settings.index}: {indexed} scenes indexed{dead}, {index.count()} in all")
    except SearchUnavailable as exc:
        print(f"scenestream: {exc}", file=sys.stderr)
        return 75
    except TransportError as exc:  # 401, 403, a refused template: the cluster's own words, on one line
        raise ConfigError(f"OpenSearch at {settings.url} refused: {exc.status_code} {exc.error}: "
                          f"{str(exc.info)[:300]}") from None
    return 0


def _files(index, sources: list[str]) -> tuple[int, int]:
    from scenestream.streams.outputs import sources as src
    from scenestream.streams.outputs.opensearch import SearchSink, read_chapters

    for s in sources:
        src.captions_path(s)  # every source checked before anything is sent
    indexed = rejected = 0
    for s in sources:
        sink = SearchSink(index, read_chapters(s))
        for rec in src.read_jsonl(s):
            sink.take(rec)
        sink.flush()
        indexed, rejected = indexed + sink.written.indexed, rejected + sink.written.rejected
    return indexed, rejected


def _kafka(index, args, log):
    from scenestream.streams.outputs import search_follow

    settings = kafka_settings(args)
    group = args.group or search_follow.default_group(settings, index)
    if log:
        log(f"following {settings.topic('captions')} (and {settings.topic('chapters')}, where it exists) as group "
            f"{group} into {index.target}")
    done = [0]

    def progress(w) -> None:
        done[0] += w.indexed
        if log:
            log(f"indexed {done[0]} scenes" + (f" ({w.rejected} rejected into {index.dead_letter})"
                                               if w.rejected else ""))

    return asyncio.run(search_follow.follow(index, settings, group, idle_timeout=args.idle_timeout,
                                            on_batch=progress))


__all__ = ["add_opensearch_arguments", "index_opensearch"]
