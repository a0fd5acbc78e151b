"""Memory of chapters and summary over a 2-hour video: do they stay flat?

Feeds a 2-hour video's worth of caption records (one scene per 5 s, 1440 scenes) through the stage every runtime
runs (streams/video/stage.py: ChapterMaker + Summarizer, the real MiniLM and KeyBERT), and prints at 10, 30, 60
and 120 minutes of video: the process's RSS now and its peak, the Python heap that tracemalloc sees (started after
the models are loaded and warm, so it is the stage's own memory and what it leaks), and the state the stage holds
(scene vectors, gap similarities, text sample characters, summary pool). The text is assembled from the spoken
paragraphs of the chaptered test video (tests/video/chaptered.py) and the corpus' readings: one topic for 3 to 6
minutes, then another, each scene one or two of its sentences.

    .venv/bin/python bench/bench_chapters.py [--minutes 120] [--no-record]
"""
from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCENE_SECONDS = 5.0
MARKS = (10, 30, 60, 120)

EXTRA = (
    "The old library holds thousands of books about history, art and philosophy. Students read quietly at the long "
    "wooden tables. The librarian explains how to find a rare manuscript in the catalogue. Some volumes are kept "
    "in a locked room because they are fragile.",
    "The storm brought heavy rain and strong winds to the coast overnight. Rivers rose above their banks and "
    "several roads were closed. The weather service expects the clouds to clear by the weekend. Farmers worry "
    "about the harvest after the flooding.",
    "The orchestra tuned their violins and cellos before the concert began. The conductor raised his baton and the "
    "symphony started softly. The pianist played a long solo in the second movement. The audience applauded for "
    "several minutes at the end.",
)


def _vmrss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def topics() -> list[list[str]]:
    from scenestream.streams.video.text import sentences
    from tests.video.chaptered import COOKING, FOOTBALL, SPACE

    return [sentences(p) for p in (COOKING, SPACE, FOOTBALL, *EXTRA)]


def _script(minutes: float):
    """(start, topic, what is said) per scene: one topic for 3 to 6 minutes, then another."""
    rng = random.Random(7)
    paragraphs = topics()
    topic, until = 0, 0.0
    for i in range(int(minutes * 60 / SCENE_SECONDS)):
        start = i * SCENE_SECONDS
        if start >= until:
            topic = (topic + rng.randrange(1, len(paragraphs))) % len(paragraphs)
            until = start + rng.uniform(180, 360)
        yield start, topic, " ".join(rng.sample(paragraphs[topic], rng.choice((1, 2))))


def switches(minutes: float) -> tuple[float, ...]:
    """The true chapter boundaries of records(minutes): the times the topic changes."""
    script = list(_script(minutes))
    return tuple(script[i][0] for i in range(1, len(script)) if script[i][1] != script[i - 1][1])


def records(minutes: float, video_id: str = "bench-2h"):
    """Caption records as the captions topic holds them (only the fields the stage reads)."""
    script = list(_script(minutes))
    for i, (start, _, said) in enumerate(script):
        yield {"video_id": video_id, "index": i, "start": start, "end": start + SCENE_SECONDS,
               "last": i == len(script) - 1, "caption": "", "captioner": "offline:bench",
               "transcript": {"text": said}, "text": []}


def state(wholes) -> dict:
    """What the stage holds now, by count."""
    vs = list(wholes.videos.values())
    return {"scenes": sum(len(v.maker.recent) for v in vs), "gaps": sum(len(v.maker.sims) for v in vs),
            "text_chars": sum(sum(map(len, v.maker.text.items)) for v in vs),
            "pool": sum(len(v.summarizer.pool) for v in vs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=120.0)
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = ap.parse_args()

    from scenestream.streams.video.settings import ChapterSettings
    from scenestream.streams.video.stage import VideoWholes

    wholes = VideoWholes(ChapterSettings())
    # Warm-up on another video: the models load and KeyBERT's vectorizer runs once before anything is measured.
    for rec in records(3, "warm-up"):
        wholes.take(rec)
    gc.collect()
    rss_start = _vmrss_mb()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rows, chapters, t0 = [], 0, time.perf_counter()
    marks = [m for m in MARKS if m <= args.minutes] or [args.minutes]
    for rec in records(args.minutes):
        at_mark = bool(marks) and rec["end"] / 60 >= marks[0]
        held = state(wholes) if at_mark and rec["last"] else None  # the last scene drops the video's state
        out = wholes.take(rec)
        chapters += sum(1 for w in out if hasattr(w, "title"))
        if at_mark:
            now, peak = tracemalloc.get_traced_memory()
            rows.append((marks.pop(0), _vmrss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                         (now - base) / 2**20, (peak - base) / 2**20, held or state(wholes), chapters,
                         time.perf_counter() - t0))
    summary = [w for w in out if not hasattr(w, "title")]
    tracemalloc.stop()

    lines = ["| video minutes | RSS MiB | peak RSS MiB | Python heap MiB (stage, now) | heap peak MiB | scene vectors "
             "held | gap sims held | text chars held | summary pool | chapters so far | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, rss, peak, heap, heap_peak, held, n, wall in rows:
        lines.append(f"| {m:g} | {rss:.0f} | {peak:.0f} | {heap:.2f} | {heap_peak:.2f} | {held['scenes']} | "
                     f"{held['gaps']} | {held['text_chars']} | {held['pool']} | {n} | {wall:.0f} |")
    words = len(summary[0].summary.split()) if summary else 0
    body = "\n".join(lines) + (
        f"\n\n{int(args.minutes * 60 / SCENE_SECONDS)} scenes (one per {SCENE_SECONDS:g} s) of text assembled from "
        "real spoken paragraphs (bench/bench_chapters.py), through streams/video/stage.py with the default "
        f"chapter settings, real MiniLM and KeyBERT on CPU. RSS after the models loaded and warmed: {rss_start:.0f} "
        f"MiB. {chapters} chapters, a summary of {words} words. The Python heap is what tracemalloc counts since "
        "the warm-up (numpy arrays included); the state columns are the stage's own bounded buffers (the 120-minute "
        "row is taken on the last scene, before the video's state is dropped).")
    if args.no_record:
        print(body)
    else:
        from bench.machine import record

        record("Chapters and summary memory over a 2-hour video", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
