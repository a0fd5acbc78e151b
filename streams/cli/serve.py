"""The `scenestream report` and `scenestream serve` commands. `add_commands(subparsers)` adds them to the main
parser (streams/cli/main.py); heavy imports stay inside the commands so `--help` stays fast."""
from __future__ import annotations

import argparse


def cmd_report(args: argparse.Namespace) -> int:
    from scenestream.streams.outputs.report import write_report

    path = write_report(args.dir, args.out, thumbnails=not args.no_thumbnails, width=args.width)
    print(path)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scenestream.streams.server.app import ServeSettings, serve

    settings = ServeSettings(db=Path(args.db), out=Path(args.out), agents=args.agents, options=args.option or [],
                             queue_size=args.queue_size, broker=args.broker, prefix=args.prefix,
                             keep_videos=args.keep, token=args.token or None,
                             allow_dirs=[Path(d) for d in args.allow_dir or []],
                             allow_private_sources=args.allow_private_sources)
    return serve(settings, host=args.host, port=args.port)


def add_commands(sub) -> None:
    r = sub.add_parser(
        "report", help="(re)build report.html of a `scenestream run --out` folder",
        description="Write DIR/report.html from DIR/captions.jsonl and DIR/summary.json: per video a timeline of "
                    "the scenes, each scene's keyframe picture, caption, transcript excerpt, sounds, objects and "
                    "on-screen text, and the stage timings. One self-contained file (inline CSS, pictures as data: "
                    "URIs): open it from disk, no server. Pictures are decoded from the video named in summary.json; "
                    "if it cannot be read any more, the page has none.")
    r.add_argument("dir", metavar="DIR", help="a `scenestream run --out` folder")
    r.add_argument("--out", metavar="FILE", help="write here instead of DIR/report.html")
    r.add_argument("--width", type=int, default=160, help="picture width in px (default 160)")
    r.add_argument("--no-thumbnails", action="store_true", help="no pictures (nothing decoded)")
    r.set_defaults(func=cmd_report)

    s = sub.add_parser(
        "serve", help="a live page and HTTP API: submit videos, watch scenes arrive, search, open reports",
        description="Serve http://HOST:PORT/: submit a path or URI, watch each scene's record arrive with its "
                    "picture as soon as it is final (server-sent events, /api/events), search the scenes "
                    "(/api/search?q=...), open each run's report (/runs/VIDEO_ID/report.html). Videos run in this "
                    "process (embedded runtime, one at a time, models loaded once) unless a Kafka broker is "
                    "configured (--broker or $SCENESTREAM_BROKER): then they are submitted to the Kafka workers and "
                    "followed on the captions topic. Every completed scene goes into the index --db. /healthz; "
                    "/metrics for Prometheus (scenestream_*). "
                    "Security: with a token (--token or $SCENESTREAM_TOKEN) every route but /healthz needs "
                    "`Authorization: Bearer TOKEN`, or, in a browser, opening the page once as /?token=TOKEN (it sets "
                    "an HttpOnly cookie); without one serve listens on loopback only. Local files are accepted only "
                    "under --allow-dir; URLs only for file, http(s), rtsp(s) and rtmp(s), and not to loopback, "
                    "private, link-local or cloud metadata addresses unless --allow-private-sources. Refusals are a "
                    "4xx with one line.")
    s.add_argument("--db", required=True, metavar="PATH", help="the scene index (SQLite; made if missing)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for all, which needs a token)")
    s.add_argument("--token", metavar="TOKEN",
                   help="the bearer token every route but /healthz needs, at least 16 characters (default: "
                        "$SCENESTREAM_TOKEN; prefer it: a command line is visible to every user of the machine). "
                        "Required to listen on a non-loopback address")
    s.add_argument("--allow-dir", action="append", metavar="DIR",
                   help="a folder whose videos clients may submit by path (symlinks followed, no way out with ..); "
                        "repeat for more. Without it no local file is accepted")
    s.add_argument("--allow-private-sources", action="store_true",
                   help="accept URLs whose host is or resolves to a loopback, private, link-local, CGNAT or cloud "
                        "metadata address (refused by default: the server would fetch from its own network for "
                        "whoever asks)")
    s.add_argument("--out", default="out", metavar="DIR",
                   help="run folders, one per video: DIR/VIDEO_ID/{captions.jsonl,summary.json,report.html,...} "
                        "(default ./out)")
    s.add_argument("--agents", metavar="LIST", help="embedded: the agents to run (as `scenestream run --agents`)")
    s.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                   help="embedded: an option, as `scenestream run -o` (ingest's KEY=VALUE, an agent's AGENT.KEY=VALUE)")
    s.add_argument("--queue-size", type=int, default=8, help="embedded: records buffered between stages (default 8)")
    s.add_argument("--broker", help="Kafka bootstrap servers: run videos on the Kafka workers (default: "
                                    "$SCENESTREAM_BROKER; unset: embedded)")
    s.add_argument("--prefix", help="Kafka topic prefix (default: $SCENESTREAM_PREFIX or 'scenestream.')")
    s.add_argument("--keep", type=int, default=20, help="videos whose events the page can replay (default 20)")
    s.set_defaults(func=cmd_serve)


__all__ = ["add_commands"]
