"""Peak RSS and wall time of `scenestream run` on a 1-minute and a 20-minute video made from real clips.

The claim under test (README.md, "How it works"): memory is bounded by configuration, not by video length. Each run is its own
process; its peak RSS comes from the kernel (wait4's ru_maxrss), so nothing is sampled or missed.

    python bench/bench_memory.py [--short 1] [--long 20] [--agents asr,tagger,detector,captioner]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import record  # noqa: E402
from tests import media  # noqa: E402


def run(video: Path, agents: str | None) -> dict:
    out = tempfile.mkdtemp(prefix="scenestream-bench-")
    cmd = [sys.executable, "-m", "streams", "run", str(video), "--out", out, "-q"]
    if agents is not None:
        cmd += ["--agents", agents]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"scenestream failed on {video}: {err}")
    scenes = sum(1 for _ in open(Path(out) / "captions.jsonl"))
    return {"wall": wall, "peak_mb": usage.ru_maxrss / 1024, "scenes": scenes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", type=float, default=1)
    ap.add_argument("--long", type=float, default=20)
    ap.add_argument("--agents", default=None, help="passed to --agents (default: all installed agents)")
    args = ap.parse_args()
    rows = []
    for minutes in (args.short, args.long):
        video = media.long_video(minutes)
        r = run(video, args.agents)
        r["minutes"] = minutes
        rows.append(r)
        print(f"{minutes:g} min: {r['scenes']} scenes, wall {r['wall']:.1f} s (RTF {r['wall'] / (minutes * 60):.3f}), "
              f"peak RSS {r['peak_mb']:.0f} MB", flush=True)
    ratio = rows[1]["peak_mb"] / rows[0]["peak_mb"]
    verdict = "PASS" if ratio <= 1.15 else "FAIL"
    table = "| video | scenes | wall s | RTF | peak RSS MB |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {r['minutes']:g} min | {r['scenes']} | {r['wall']:.1f} | {r['wall'] / (r['minutes'] * 60):.3f} | {r['peak_mb']:.0f} |"
        for r in rows)
    record(f"Memory: `scenestream run`, {args.short:g} vs {args.long:g} minutes (agents: {args.agents if args.agents is not None else 'all installed'})",
           f"{table}\n\nPeak RSS ratio long/short: **{ratio:.3f}** (bound: 1.15) — {verdict}")
    return 0 if ratio <= 1.15 else 1


if __name__ == "__main__":
    sys.exit(main())
