"""The three Stage-1 agents (asr, tagger, detector) on a long video made from real clips, each alone and all
together, through the embedded runtime with the real ingest agent. Prints and records real-time factors
(RTF = wall seconds / video seconds; below 1 is faster than real time). Model loading is excluded.

    python bench/bench_stage1.py [--minutes 20] [-o detector.imgsz=320]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SCENESTREAM_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")

from scenestream.agents.ingest import IngestAgent  # noqa: E402
from bench.machine import record  # noqa: E402
from scenestream.schemas import VideoRequest  # noqa: E402
from scenestream.streams.core import table  # noqa: E402
from scenestream.streams.runtimes.embedded import EmbeddedPipeline  # noqa: E402
from tests import media  # noqa: E402

RUNS = [["asr"], ["tagger"], ["detector"], ["asr", "tagger", "detector"]]


def run(video: Path, agents: list[str], options: dict[str, dict]) -> dict:
    procs = {n: table.build(n, options.get(n, {})) for n in agents}
    pipe = EmbeddedPipeline(IngestAgent(), procs)
    pipe.setup()  # model loading, not timed
    try:
        result = pipe.run(VideoRequest("bench", str(video)), lambda c: None)
    finally:
        pipe.close()
    if result.failed:
        raise SystemExit(f"failed: {result.failed.message}")
    return result.summary()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("-o", "--option", action="append", default=[], metavar="AGENT.KEY=VALUE")
    args = ap.parse_args()
    options: dict[str, dict] = {}
    for pair in args.option:
        key, value = pair.split("=", 1)
        agent, name = key.split(".", 1)
        options.setdefault(agent, {})[name] = value
    video = media.long_video(args.minutes)
    rows = []
    for agents in RUNS:
        s = run(video, agents, options)
        busy = ", ".join(f"{k} {v / s['duration']:.3f}" for k, v in s["busy_seconds"].items() if k != "joiner")
        rows.append(f"| {' + '.join(agents)} | {s['wall_seconds']:.1f} | **{s['real_time_factor']:.3f}** | {busy} |")
        print(rows[-1], flush=True)
    record(f"Stage 1 on a {args.minutes:g}-minute video ({args.option or 'default settings'})",
           "| agents | wall s | RTF | busy RTF per stage |\n|---|---|---|---|\n" + "\n".join(rows) +
           "\n\nThe seed's Stage 1 (cloud Whisper one scene at a time, AST, YOLO) took 28 min for a 7.6-min video: "
           "RTF 3.7.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
