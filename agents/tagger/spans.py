"""Windows over a chunk and the merging of per-window scores into labelled time spans. Model-free, so both backends
share it and the tests can check it on hand-made score matrices."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scenestream.schemas import AudioEvent

# Not events: "Silence" is the absence of one.
IGNORED = frozenset({"Silence"})


def window_starts(n: int, win: int, step: int) -> list[int]:
    """Start offsets (in samples, or frames) of windows `win` long every `step`, until one reaches `n`.

    The last window may run past the end (the backend zero-pads it, as YAMNet's own `pad_waveform` does): without
    it the tail of every chunk shorter than a window would never be listened to, and a sound crossing a chunk edge
    could not come out as two spans that touch at the edge for the joiner to join."""
    starts = [0]
    while starts[-1] + win < n:
        starts.append(starts[-1] + step)
    return starts


def merge_windows(scores: np.ndarray, starts: Sequence[float], window: float, labels: Sequence[str],
                  threshold: float, top_k: int, offset: float, end: float) -> list[AudioEvent]:
    """Spans from per-window scores ([windows, classes], windows in time order starting `starts` seconds after
    `offset`). A label counts in a window when it is among the window's `top_k` and scores >= `threshold`. A window
    where a label counts extends that label's latest span when it overlaps or touches it (consecutive windows
    overlap, so they merge; with hop = window / 2 a single window without the label does not split the span),
    keeping the best score seen; otherwise it starts a new span. That is the joiner's rule for spans of adjacent
    chunks too, so the result barely depends on where chunks are cut. Spans are clipped to `end` (the chunk's end),
    so a chunk's events never leave the time it covers."""
    events: list[AudioEvent] = []
    latest: dict[int, AudioEvent] = {}  # class -> its latest span
    for row, start in zip(scores, starts):
        t0 = offset + float(start)
        if t0 >= end:
            break
        t1 = min(end, t0 + window)
        for i in np.argsort(-row, kind="stable")[:top_k]:
            if row[i] < threshold or labels[i] in IGNORED:
                continue
            span = latest.get(i)
            if span is not None and t0 <= span.end:
                span.end, span.score = t1, max(span.score, float(row[i]))
            else:
                latest[i] = AudioEvent(labels[i], float(row[i]), t0, t1)
                events.append(latest[i])
    for e in events:  # ms are plenty; rounding must not move a span out of the chunk
        e.score, e.start, e.end = round(e.score, 4), max(offset, round(e.start, 3)), min(end, round(e.end, 3))
    return sorted(events, key=lambda e: (e.start, -e.score, e.label))
