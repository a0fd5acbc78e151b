"""The `scenestream report` and `scenestream serve` commands. `add_commands(subparsers)` adds them to the main
parser (streams/cli.py); heavy imports stay inside the commands so `--help` stays fast."""
from __future__ import annotations

import argparse
import sys


def cmd_report(args: argparse.Namespace) -> int:
    from streams.outputs.report import write_report

    path = write_report(args.dir, args.out, thumbnails=not args.no_thumbnails, width=args.width)
    print(path)
    return 0


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


__all__ = ["add_commands"]
