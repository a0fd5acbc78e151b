"""Batched against one-at-a-time captioning of 16 scenes with tiny randomly initialised VLMs (LLaVA-Next, and Qwen2-VL
through the generic backend; built here, no download), through the captioner agent's own `process` and
`process_batch`. Random weights: only time is measured (and that batching leaves the captions unchanged).

    python bench/bench_captioner.py [--scenes 16] [--batch 8] [--new-tokens 32] [--repeats 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.machine import record  # noqa: E402
from tests.agents import test_captioner as tc  # noqa: E402  (the tiny checkpoints the tests build)


class _Factory:
    """Stands in for pytest's tmp_path_factory when the fixtures' builders run outside pytest."""

    def __init__(self, root: Path):
        self.root, self.n = root, 0

    def mktemp(self, name: str) -> Path:
        self.n += 1
        d = self.root / f"{name}{self.n}"
        d.mkdir()
        return d


def _builder(fixture):
    return getattr(fixture, "__wrapped__", None) or fixture._get_wrapped_function()


def bench(model_dir: Path, args) -> tuple[float, float, bool]:
    agent = tc.agent(model_dir, max_new_tokens=args.new_tokens, repeat_times=10**6, max_batch=args.batch,
                     threads=args.threads)
    scenes = tc.scenes(args.scenes)
    agent.process_batch(scenes[:2])  # warm-up
    single, batched, same = [], [], True
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        one = [agent.process(s)[0].caption for s in scenes]
        single.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        many = [c.caption for i in range(0, len(scenes), args.batch)
                for c in agent.process_batch(scenes[i:i + args.batch])]
        batched.append(time.perf_counter() - t0)
        same = same and one == many
    return statistics.median(single), statistics.median(batched), same


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        factory = _Factory(Path(tmp))
        for name, fixture in (("LLaVA-Next", tc.tiny_llava_next), ("Qwen2-VL (generic)", tc.tiny_qwen2_vl)):
            one, many, same = bench(_builder(fixture)(factory), args)
            rows.append(f"| {name} | {one:.3f} | {one / args.scenes * 1000:.1f} | {many:.3f} | "
                        f"{many / args.scenes * 1000:.1f} | **{one / many:.2f}x** | {'yes' if same else 'NO'} |")
            print(rows[-1], flush=True)
    record(f"Captioner: batched vs one at a time ({args.scenes} scenes, tiny VLMs)",
           f"| model | one at a time s | ms / scene | batches of {args.batch} s | ms / scene | speed-up "
           "| same captions |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
           f"Median of {args.repeats}; 2 keyframes (64x48) a scene, {args.new_tokens} new tokens, greedy, "
           f"{args.threads} torch threads, model loading excluded; random weights, so every caption runs to the "
           "token limit. Through the agent's `process` / `process_batch`, keyframe JPEG decoding included.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
