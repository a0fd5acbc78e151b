"""The speech agent against faster-whisper's BatchedInferencePipeline called directly on the same audio.

Same model, same settings (batch 8, beam 5, word timestamps, Silero VAD, 2 CPU threads); the model is loaded once
and shared, so only transcription is timed. The agent gets the audio as ingest gives it (10 s chunks) and does all
its own work: VAD for the cuts, packing, word placement, one Transcript per chunk. The direct call gets the whole
track at once: the fastest the library can go, and the agent's target (within 10 %).

The track: a few minutes of read English (LibriVox recordings from tests/media between paragraphs read by
espeak-ng), mono 16 kHz.

    python bench/bench_asr.py [--minutes 3] [--repeat 3] [--windows 120,30]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from scenestream.agents.asr import AsrAgent, AsrSettings  # noqa: E402
from bench.machine import record  # noqa: E402
from tests import media  # noqa: E402
from tests.agents.test_asr import chunks, edits, normalise, pcm16k  # noqa: E402

PARAGRAPH = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of "
    "a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, "
    "this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful "
    "property of some one or other of their daughters. My dear Mr. Bennet, said his lady to him one day, have you "
    "heard that Netherfield Park is let at last? Mr. Bennet replied that he had not. But it is, returned she; for "
    "Mrs. Long has just been here, and she told me all about it."
)


def speech_track(minutes: float) -> tuple[bytes, list[str]]:
    """LibriVox, espeak-ng, LibriVox, ... (whole pieces, at least `minutes` long) as 16 kHz s16le mono, with the
    words it says."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), PARAGRAPH], check=True)
        espeak = pcm16k(wav)
    recordings = media.librivox()
    unit = b"".join(pcm16k(w) for w, _ in recordings) + espeak
    text = " ".join(t for _, t in recordings) + " " + PARAGRAPH
    repeats = max(1, math.ceil(minutes * 60 * 16000 * 2 / len(unit)))
    return unit * repeats, normalise(" ".join([text] * repeats))


def run_agent(agent: AsrAgent, pcm: bytes) -> tuple[float, float, list[str]]:
    pieces = chunks(pcm, 10.0, f"bench{time.monotonic_ns()}")
    t, c = time.perf_counter(), time.process_time()
    out = [tr for piece in pieces for tr in agent.process(piece)]
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    assert len(out) == len(pieces) and not any(tr.error for tr in out)
    return elapsed, cpu, [w.word for tr in out for w in tr.words]


def run_direct(pipeline, pcm: bytes, s: AsrSettings) -> tuple[float, float, list[str]]:
    t, c = time.perf_counter(), time.process_time()
    audio = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
    segments, _ = pipeline.transcribe(audio, language=s.language, batch_size=s.batch_size, beam_size=s.beam_size,
                                      word_timestamps=True, vad_filter=s.vad)
    words = [w.word for seg in segments for w in seg.words]
    return time.perf_counter() - t, time.process_time() - c, words


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--windows", default="120,30", help="agent `window` settings to try (seconds)")
    ap.add_argument("--model", default="whisper-tiny.en")
    args = ap.parse_args()

    from faster_whisper import BatchedInferencePipeline

    pcm, truth = speech_track(args.minutes)
    seconds = len(pcm) / 2 / 16000
    windows = [float(w) for w in args.windows.split(",")]
    agents = {w: AsrAgent(AsrSettings(model=args.model, window=w)) for w in windows}
    first = agents[windows[0]]
    first.setup()
    for a in agents.values():  # one loaded model for everyone: only transcription is timed
        a.backend.pipeline, a.backend.model_id = first.backend.pipeline, first.backend.model_id
    direct = BatchedInferencePipeline(first.backend.pipeline.model)
    s = first.settings
    run_direct(direct, pcm[: 16000 * 2 * 5], s)  # warm-up

    # Wall time is what counts, but these machines are shared: CPU seconds (all threads) are shown too, as they
    # suffer less from other people's load.
    names = ["direct", *(f"agent w={w:g}" for w in windows)]
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    texts: dict[str, list[str]] = {}
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits every contender alike
        for name in names:
            if name == "direct":
                t, c, texts[name] = run_direct(direct, pcm, s)
            else:
                t, c, texts[name] = run_agent(agents[float(name.split("=")[1])], pcm)
            wall[name].append(t)
            cpu[name].append(c)
        print({n: (round(wall[n][-1], 2), round(cpu[n][-1], 2)) for n in names}, flush=True)

    base, base_cpu = statistics.median(wall["direct"]), statistics.median(cpu["direct"])
    rows = []
    for name in names:
        med, med_cpu = statistics.median(wall[name]), statistics.median(cpu[name])
        hyp = normalise(" ".join(texts[name]))
        wer = edits(truth, hyp) / len(truth)
        rows.append(f"| {name} | {med:.2f} | {med / seconds:.4f} | {med / base:.3f} | {med_cpu:.2f} | "
                    f"{med_cpu / base_cpu:.3f} | {len(hyp)} / {len(truth)} | {wer:.3f} |")
        print(f"{name}: wall {med:.2f} s (RTF {med / seconds:.4f}, {med / base:.3f}x direct), CPU {med_cpu:.2f} s "
              f"({med_cpu / base_cpu:.3f}x), {len(hyp)} of {len(truth)} words, WER {wer:.3f}")
    table = ("| run | wall s (median) | RTF | wall vs direct | CPU s | CPU vs direct | words / spoken | WER |\n"
             "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    record(f"ASR: agent vs BatchedInferencePipeline, {seconds:.0f} s of read speech",
           f"Model {first.model_id}, int8, {s.cpu_threads} threads, batch {s.batch_size}, beam {s.beam_size}, "
           f"VAD on, word timestamps; agent fed 10 s chunks; median of {args.repeat} interleaved runs, model "
           f"loading excluded. `window` = seconds gathered before a region is transcribed (default "
           f"{AsrSettings().window:g}). WER against the text read (tiny.en in batched mode skips whole stretches "
           f"of the synthetic espeak-ng voice, whoever calls it).\n\n{table}\n\nTarget: the default agent "
           f"within 10 % of direct.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
