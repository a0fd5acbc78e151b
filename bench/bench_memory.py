"""Peak RSS and wall time of `scenestream run` on videos of several lengths made from real clips, looped.

The claim under test (README.md, "How it works"): memory is bounded by configuration, not by video length. Each run is its own
process; its peak RSS comes from the kernel (wait4's ru_maxrss), so nothing is sampled or missed. VmRSS is also
sampled every `--every` seconds, to say whether the peak was reached early (bounded) or at the end (still growing):
"RSS half 1 / half 2" are the highest samples in each half of the run.

    python bench/bench_memory.py [--lengths 1,10,30] [--video long|film] [--agents asr,tagger,detector,captioner,ocr]

The verdict compares the longest run's peak with the longest-but-one's (bound: --bound, 1.10 by default).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import record  # noqa: E402
from tests import media  # noqa: E402


def _vmrss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(video: Path, agents: str | None, every: float = 2.0) -> dict:
    out = tempfile.mkdtemp(prefix="scenestream-bench-")
    cmd = [sys.executable, "-m", "streams", "run", str(video), "--out", out, "-q"]
    if agents is not None:
        cmd += ["--agents", agents]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:  # reads /proc only; the peak itself comes from wait4
        while not done.wait(every):
            mb = _vmrss_mb(proc.pid)
            if mb is not None:
                samples.append((time.perf_counter() - t0, mb))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)  # never block on a full pipe
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    reader.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"scenestream failed on {video}: {b''.join(err).decode()[-2000:]}")
    scenes = sum(1 for _ in open(Path(out) / "captions.jsonl"))
    half = [max((mb for t, mb in samples if (t < wall / 2) == first), default=0.0) for first in (True, False)]
    return {"wall": wall, "peak_mb": usage.ru_maxrss / 1024, "scenes": scenes, "half1_mb": half[0],
            "half2_mb": half[1]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="1,10,30", help="video lengths in minutes, comma-separated")
    ap.add_argument("--video", choices=("long", "film"), default="long",
                    help="long: tests/media long_video (640x360, synth + bikes); film: 1280x720 real footage")
    ap.add_argument("--agents", default=None, help="passed to --agents (default: every default agent installed)")
    ap.add_argument("--bound", type=float, default=1.10, help="most the longest peak may be over the one before")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between VmRSS samples")
    ap.add_argument("--note", default="", help="a line put under the table (what else shared the machine)")
    args = ap.parse_args()
    lengths = sorted(float(x) for x in args.lengths.split(","))
    if len(lengths) < 2:
        ap.error("--lengths needs two lengths or more")
    make = media.long_video if args.video == "long" else media.film
    rows = []
    for minutes in lengths:
        r = run(make(minutes), args.agents, args.every)
        r["minutes"] = minutes
        rows.append(r)
        print(f"{minutes:g} min: {r['scenes']} scenes, wall {r['wall']:.1f} s ({r['wall'] / minutes:.1f} s per video "
              f"minute), peak RSS {r['peak_mb']:.0f} MB (halves {r['half1_mb']:.0f} / {r['half2_mb']:.0f})",
              flush=True)
    ratio = rows[-1]["peak_mb"] / rows[-2]["peak_mb"]
    verdict = "PASS" if ratio <= args.bound else "FAIL"
    table = ("| video | scenes | wall s | s per video minute | peak RSS MB | RSS half 1 / half 2 MB | × first |\n"
             "|---|---|---|---|---|---|---|\n" + "\n".join(
                 f"| {r['minutes']:g} min | {r['scenes']} | {r['wall']:.1f} | {r['wall'] / r['minutes']:.1f} | "
                 f"{r['peak_mb']:.0f} | {r['half1_mb']:.0f} / {r['half2_mb']:.0f} | "
                 f"{r['peak_mb'] / rows[0]['peak_mb']:.3f} |" for r in rows))
    malloc = {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "GLIBC_TUNABLES", "SCENESTREAM_MALLOC"))}
    record(f"Memory: `scenestream run`, {' vs '.join(f'{m:g}' for m in lengths)} minutes of {args.video}_video "
           f"(agents: {args.agents if args.agents is not None else 'every default'})",
           f"{table}\n\nPeak RSS ratio {lengths[-1]:g} min / {lengths[-2]:g} min: **{ratio:.3f}** "
           f"(bound: {args.bound:.2f}) — {verdict}. malloc environment: {malloc or 'none'}."
           + (f" {args.note}" if args.note else ""))
    return 0 if ratio <= args.bound else 1


if __name__ == "__main__":
    sys.exit(main())
