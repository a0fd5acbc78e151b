"""Batched against one-at-a-time captioning of 16 scenes with a tiny randomly initialised LLaVA-Next (built here,
no download), through the captioner agent's own code path. Random weights: only time is measured.

    python bench/bench_captioner.py [--scenes 16] [--batch 8] [--new-tokens 32] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest  # noqa: E402,F401  (the fixtures' module imports it)

from bench.machine import record  # noqa: E402
from tests.agents import test_captioner as tc  # noqa: E402


class _Factory:
    def __init__(self, root: Path):
        self.root, self.n = root, 0

    def mktemp(self, name: str) -> Path:
        self.n += 1
        d = self.root / f"{name}{self.n}"
        d.mkdir()
        return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = tc.tiny_llava_next.__wrapped__(_Factory(Path(tmp)))
        agent = tc.agent(model_dir, max_new_tokens=args.new_tokens, repeat_times=10**6, max_batch=args.batch)
        scenes = tc.scenes(args.scenes)
        agent.process_batch(scenes[:2])  # warm-up
        single, batched = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for s in scenes:
                agent.process(s)
            single.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(0, len(scenes), args.batch):
                agent.process_batch(scenes[i:i + args.batch])
            batched.append(time.perf_counter() - t0)
    one, many = statistics.median(single), statistics.median(batched)
    record(f"Captioner: batched vs one at a time ({args.scenes} scenes, tiny LLaVA-Next)",
           f"| mode | seconds (median of {args.repeats}) | per scene |\n|---|---|---|\n"
           f"| one at a time | {one:.3f} | {one / args.scenes * 1000:.1f} ms |\n"
           f"| batches of {args.batch} | {many:.3f} | {many / args.scenes * 1000:.1f} ms |\n\n"
           f"Speed-up from batching: **{one / many:.2f}x** (2 keyframes a scene, {args.new_tokens} new tokens, greedy, "
           "random weights so every caption runs to the token limit).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
