"""Readings of the frames of one scene merged into lines: a title on screen for the whole scene is read once per
frame, and is one TextLine with the time of the first and last frame that showed it."""
from __future__ import annotations

from dataclasses import dataclass

from scenestream.schemas import TextLine

MIN_IOU = 0.3  # boxes of one line in two frames; text that moved further is a new line
MAX_GAP = 0.8  # line heights between two words of one line that the detector boxed apart


@dataclass
class Reading:
    """One line read in one frame."""

    text: str
    score: float
    box: list[float]  # normalised x1, y1, x2, y2
    time: float


def same_row(a: Reading, b: Reading) -> bool:
    """Boxes overlapping vertically by more than half the lower one's height."""
    overlap = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
    return overlap > 0.5 * min(a.box[3] - a.box[1], b.box[3] - b.box[1])


def join_fragments(readings: list[Reading], width: int, height: int, max_gap: float = MAX_GAP) -> list[Reading]:
    """Words of one text line that the detector boxed apart ("Directed by Ana" + "Lima"), within one frame, joined
    left to right: same row, and the gap between them at most `max_gap` times the line's height. (A word space is
    about a quarter of a box's height; separate items side by side are usually further apart than a line height.)"""
    out: list[Reading] = []
    for r in sorted(readings, key=lambda r: r.box[0]):
        for i, o in enumerate(out):
            line_h = max(o.box[3] - o.box[1], r.box[3] - r.box[1]) * height
            gap = (r.box[0] - o.box[2]) * width
            if same_row(o, r) and r.box[2] > o.box[2] and -0.5 * line_h <= gap <= max_gap * line_h:
                n, m = len(o.text), len(r.text)
                out[i] = Reading(f"{o.text} {r.text}", round((o.score * n + r.score * m) / max(n + m, 1), 4),
                                 [min(o.box[0], r.box[0]), min(o.box[1], r.box[1]), r.box[2], max(o.box[3], r.box[3])],
                                 o.time)
                break
        else:
            out.append(r)
    return out


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions): two rows of the classic table."""
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def similarity(a: str, b: str) -> float:
    """1 - normalised edit distance, without case and spaces (a space the recogniser missed is the same line)."""
    a, b = "".join(a.casefold().split()), "".join(b.casefold().split())
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def iou(p: list[float], q: list[float]) -> float:
    w = min(p[2], q[2]) - max(p[0], q[0])
    h = min(p[3], q[3]) - max(p[1], q[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
    return inter / union if union > 0 else 0.0


def merge_readings(frames: list[list[Reading]], min_similarity: float) -> list[TextLine]:
    """`frames`: each frame's readings, frames in time order. A reading joins the most similar line of the earlier
    frames whose box it overlaps, at most one reading per line per frame; the line keeps the text and score of its
    best reading and the box of its first. Lines come in reading order: by first time, then top to bottom."""
    lines: list[TextLine] = []
    for readings in frames:
        taken: set[int] = set()
        for r in sorted(readings, key=lambda r: -r.score):
            best, best_sim = None, min_similarity
            for i, line in enumerate(lines):
                if i in taken or iou(line.box, r.box) < MIN_IOU:
                    continue
                sim = similarity(line.text, r.text)
                if sim >= best_sim:
                    best, best_sim = i, sim
            if best is None:
                lines.append(TextLine(r.text, r.score, list(r.box), r.time, r.time, 1))
                taken.add(len(lines) - 1)
                continue
            line = lines[best]
            taken.add(best)
            if r.score > line.score:
                line.text, line.score = r.text, r.score
            line.start, line.end = min(line.start, r.time), max(line.end, r.time)
            line.frames += 1
    return reading_order(lines)


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    """By first time, then top to bottom, and left to right within a row (two boxes overlapping vertically by
    more than half the lower one's height are one row, as words of one line split by the detector are)."""
    out = sorted(lines, key=lambda t: (t.start, t.box[1]))
    for i in range(1, len(out)):
        j = i
        while j > 0:
            a, b = out[j - 1], out[j]
            if not (a.start == b.start and same_row(a, b) and b.box[0] < a.box[0]):
                break
            out[j - 1], out[j] = b, a
            j -= 1
    return out
