"""Live latency: the 60 s synthetic clip served at its own pace by ffmpeg (HTTP MPEG-TS and RTMP, one client each),
`scenestream run URL` as a user runs it (live found by itself), and for each scene the delay from the moment the
server had sent the scene's end (ffmpeg's own progress reports) to the record's `emitted_at`. Prints the delays and
records them in bench/RESULTS.md.

    python bench/bench_live.py [--protocol http rtmp] [--agents asr,tagger,detector,captioner,ocr] [--no-record]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SCENESTREAM_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")

import orjson  # noqa: E402

from bench.machine import record  # noqa: E402
from scenestream.schemas import SceneCaption, loads  # noqa: E402
from tests import media  # noqa: E402
from tests.streams.live_server import LiveServer  # noqa: E402


def run(protocol: str, agents: str | None) -> tuple[list[tuple[SceneCaption, float]], dict]:
    with tempfile.TemporaryDirectory() as out, LiveServer(media.synth_clip(), protocol) as server:
        cmd = [sys.executable, "-m", "streams", "run", server.url, "--out", out, "-q"]
        if agents is not None:
            cmd += ["--agents", agents]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"run failed: {proc.stderr.strip()}")
        server.wait(30)
        caps = [loads(SceneCaption, line) for line in (Path(out) / "captions.jsonl").read_bytes().splitlines()]
        summary = orjson.loads((Path(out) / "summary.json").read_bytes())
        return [(c, c.emitted_at - server.sent_at(c.end)) for c in caps], summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", nargs="+", default=["http", "rtmp"], choices=["http", "rtmp"])
    ap.add_argument("--agents", default=None, help="agents to run (default: every installed default agent)")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = ap.parse_args()
    load = os.getloadavg()
    rows = []
    for protocol in args.protocol:
        delays, summary = run(protocol, args.agents)
        waited = [d for _, d in delays]
        row = (f"| {protocol} | {'yes' if summary['live'] else 'no'} | {', '.join(summary['agents'][1:])} | "
               + ", ".join(f"{d:.1f}" for _, d in delays)
               + f" | {max(waited):.2f} | {statistics.median(waited):.2f} |")
        rows.append(row)
        print(row, flush=True)
    load_after = os.getloadavg()
    body = ("| protocol | live found | agents | delay per scene, s (scenes end at 10, 15, 25, 30, 40, 45, 55, 60 s) "
            "| max | median |\n|---|---|---|---|---|---|\n" + "\n".join(rows) +
            f"\n\nDelay = the record's emitted_at minus the moment ffmpeg had sent the scene's end (its -progress "
            f"reports). Load average before {load[0]:.1f}, after {load_after[0]:.1f} (on {os.cpu_count()} cores; "
            f"above that, other work shared the machine).")
    if args.no_record:
        print(body)
    else:
        record("Live latency: the 60 s clip served paced over HTTP and RTMP", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
