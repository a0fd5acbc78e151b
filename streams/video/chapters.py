"""Chapters of one video from its scene records, as they come: topic segmentation in the manner of TextTiling
(Hearst 1997), over scenes instead of sentences.

Each scene's speech, on-screen text and caption are embedded with MiniLM (the search index's model; the mean of
its passages' vectors, so a long scene is not cut at 256 tokens). The similarity at the gap after scene g is the
cosine of the duration-weighted mean vectors of the scenes within `window` seconds on each side; its depth is how
far it lies below the nearest peaks to its left (within the current chapter) and to its right. A gap is a boundary
when it is the lowest similarity within `min_seconds`, the chapter so far lasts `min_seconds`, and its depth
reaches `depth` (or its sides are `unrelated`); the cut then moves to the neighbouring gap whose two scenes are
least alike (if it is within window/2 seconds). A boundary is confirmed once the scenes up to `window` + `min_seconds` after it are in, and the
chapter before it is emitted then: its title from keyphrases (KeyBERT over the same MiniLM) or, with an LLM
endpoint, written by the model.

State is bounded whatever the video's length: the vectors of the last few scenes, the similarities of the last
few gaps, and the chapter's text as an even sample of at most TEXT_CHARS (text.py)."""
from __future__ import annotations

import re
import sys
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from scenestream.schemas import Chapter
from scenestream.streams.video.settings import ChapterSettings
from scenestream.streams.video.text import Sample, plain_caption, scene_text, scene_words

TEXT_CHARS = 4000  # of a chapter's text kept for its title and the summary (an even sample of its scenes)
PASSAGE_WORDS = 60  # a scene's text is embedded in pieces of this many words (MiniLM reads 256 tokens)
KEYPHRASES = "keyphrases"
FEW_WORDS = 5  # a chapter whose speech and screen text are fewer words than this is titled from its pictures too
BLOCK_SCENES = 24  # the most scenes on one side of a gap (a run of very short scenes stays bounded)


@dataclass
class _Scene:
    pos: int  # position in the video's scene sequence (0, 1, ...)
    index: int
    start: float
    end: float
    vec: np.ndarray
    text: str  # its words for the chapter's title and the summary (text.scene_words)
    caption: str  # what its pictures show (text.plain_caption): a chapter with next to nothing said has that


class Embedder:
    """MiniLM vectors (normalised) of texts, through the search index's loader (one model per process)."""

    def __init__(self, model: str = "minilm"):
        from scenestream.streams.outputs.index import _embedder

        self.model = _embedder(model)
        self.dim = int(self.model.get_embedding_dimension())

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False).astype(np.float32)

    def scene(self, text: str) -> np.ndarray:
        """One vector for a scene: the mean of its passages' (zeros for a scene that says nothing)."""
        words = text.split()
        pieces = [" ".join(words[i:i + PASSAGE_WORDS]) for i in range(0, len(words), PASSAGE_WORDS)]
        if not pieces:
            return np.zeros(self.dim, dtype=np.float32)
        return self(pieces).mean(axis=0)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 1.0  # nothing said on one side: no evidence of a change of topic
    return float(a @ b) / (na * nb)


class Titler:
    """Chapter titles: keyphrases offline; with a chat client, the LLM's (the keyphrases when it fails)."""

    def __init__(self, embedder: Embedder, settings: ChapterSettings, client=None):
        self.embedder, self.settings, self.client = embedder, settings, client
        self._kb = None
        # The video's titles so far (a new one differs from them all: a subject coming back gets another title);
        # bounded for a video of thousands of chapters, some 60 bytes each.
        self.recent: deque[str] = deque(maxlen=2000)

    def keyphrases(self, text: str) -> list[str]:
        if not text.strip():
            return []
        if self._kb is None:
            from keybert import KeyBERT

            self._kb = KeyBERT(model=self.embedder.model)
        try:
            found = self._kb.extract_keywords(text, keyphrase_ngram_range=(1, 2), stop_words="english", top_n=6,
                                              use_mmr=True, diversity=0.6)
        except ValueError:  # only stop words: scikit-learn's vectorizer finds an empty vocabulary
            return []
        # Words only: not "240 181" from an on-screen timecode.
        phrases = [" ".join(w for w in k.split() if any(c.isalpha() for c in w)) for k, _ in found]
        return list(dict.fromkeys(p for p in phrases if p))

    def offline(self, text: str, number: int) -> str:
        phrases = self.keyphrases(text)
        words_max = self.settings.title_words
        for first in range(len(phrases)):
            picked, used = [], set()
            for p in phrases[first:]:
                if set(p.split()) & used:
                    continue  # "tomato sauce" after "tomato" says nothing new
                picked.append(p)
                used |= set(p.split())
                if len(" ".join(picked).split()) >= words_max - 1 or len(picked) == 2:
                    break
            title = ", ".join(picked)
            title = " ".join(title.split()[:words_max])
            title = title[:1].upper() + title[1:]
            if title and title.lower() not in {t.lower() for t in self.recent}:
                return title
        return f"Chapter {number + 1}"

    def title(self, text: str, number: int) -> tuple[str, str]:
        title, by = "", KEYPHRASES
        if self.client is not None and text.strip():
            from scenestream.agents.chat import ChatError, user_message

            prompt = (f"Here is what is said and shown in one part of a video:\n\n{text}\n\n"
                      f"Write a title for this part in at most {self.settings.title_words} words. "
                      "Answer with the title only.")
            try:
                reply = self.client.complete([user_message(prompt)], max_tokens=8 * self.settings.title_words)
                title, by = clean_title(reply.text, self.settings.title_words), reply.model
            except ChatError as exc:
                print(f"scenestream: chapter title: {exc}; keyphrases instead", file=sys.stderr)
        if not title or title.lower() in {t.lower() for t in self.recent}:
            title, by = self.offline(text, number), KEYPHRASES
        self.recent.append(title)
        return title, by


def clean_title(text: str, words: int) -> str:
    """An LLM's answer as a title: its first line, without quotes, labels or markup, at most `words` words."""
    line = next((l for l in text.splitlines() if l.strip()), "")
    line = re.sub(r"^\s*(title\s*:|#+|\*+)\s*", "", line, flags=re.I).strip(" \"'*`“”")
    return " ".join(line.split()[:words])[:120]


class ChapterMaker:
    """`take(record)` for each final scene of one video, in order -> the chapters that closed; `finish()` at its
    end -> the rest (the last one has `last` set). `on_close(chapter, text)` sees each chapter with its text
    sample (the summary's input)."""

    def __init__(self, video_id: str, settings: ChapterSettings, embedder: Embedder, titler: Titler,
                 on_close: Callable[[Chapter, str], None] | None = None):
        self.video_id, self.s, self.embed, self.titler, self.on_close = video_id, settings, embedder, titler, on_close
        self.recent: deque[_Scene] = deque(maxlen=3 * BLOCK_SCENES + 2)  # scenes a gap still needs
        self.sims: deque[tuple[int, float]] = deque(maxlen=4 * BLOCK_SCENES)  # (gap, similarity), the recent ones
        self.pos = 0  # scenes seen
        self.decided = -1  # the last gap decided (boundary or not)
        self.next_gap = 0  # the first gap without its similarity yet
        self.count = 0  # chapters emitted
        self.last_index = -1  # record index of the last scene seen: replays are skipped
        self.carried: tuple[float, int] | None = None  # (start, first scene index) of a chapter another process opened
        self._open()

    def _open(self, first: _Scene | None = None) -> None:
        self.first: _Scene | None = first
        self.text = Sample(TEXT_CHARS)
        self.captions = Sample(TEXT_CHARS // 4)

    def _add(self, sc: _Scene) -> None:
        self.text.add(sc.text)
        self.captions.add(sc.caption)

    # -- the similarity curve

    def _scene(self, pos: int) -> _Scene | None:
        for sc in self.recent:
            if sc.pos == pos:
                return sc
        return None

    def _block(self, gap: int, right: bool, upto: int) -> list[_Scene]:
        """The scenes of one side of the gap after scene `gap`: those within `window` seconds of it (at least
        the neighbour, at most BLOCK_SCENES), the right side only up to scene `upto`."""
        at = self._scene(gap)
        t = at.end if at else 0.0
        if right:
            side = [sc for sc in self.recent if gap < sc.pos <= upto]
            keep = [sc for i, sc in enumerate(side) if i == 0 or sc.start < t + self.s.window]
        else:
            side = [sc for sc in reversed(self.recent) if sc.pos <= gap]
            keep = [sc for i, sc in enumerate(side) if i == 0 or sc.end > t - self.s.window]
        return keep[:BLOCK_SCENES]

    def _sim(self, gap: int, upto: int) -> float:
        """Similarity at the gap after scene `gap`: the duration-weighted mean vectors of its two blocks."""
        def mean(block: list[_Scene]) -> np.ndarray:
            weights = np.array([max(sc.end - sc.start, 0.1) for sc in block])
            return (np.stack([sc.vec for sc in block]) * weights[:, None]).sum(axis=0)

        return _cos(mean(self._block(gap, False, upto)), mean(self._block(gap, True, upto)))

    def _ready(self, gap: int) -> bool:
        """Has the right block of this gap been seen whole (a scene starting `window` seconds after it)?"""
        at, newest = self._scene(gap), self.recent[-1]
        return at is not None and (newest.start >= at.end + self.s.window or newest.pos - gap > BLOCK_SCENES)

    def _sim_of(self, gap: int) -> float | None:
        for g, s in self.sims:
            if g == gap:
                return s
        return None

    def _depth(self, gap: int) -> float:
        s = self._sim_of(gap)
        known = dict(self.sims)
        lo = self.first.pos if self.first else 0
        lpeak, j = s, gap - 1
        while j >= lo and j in known and known[j] >= lpeak:
            lpeak, j = known[j], j - 1
        rpeak, j = s, gap + 1
        while j in known and known[j] >= rpeak:
            rpeak, j = known[j], j + 1
        return (lpeak - s) + (rpeak - s)

    def _is_boundary(self, gap: int) -> bool:
        s = self._sim_of(gap)
        sc = self._scene(gap)
        if s is None or sc is None or self.first is None:
            return False
        if sc.end - self.first.start < self.s.min_seconds:
            return False
        known = dict(self.sims)
        near = [known[o.pos] for o in self.recent if o.pos != gap and o.pos in known
                and abs(o.end - sc.end) < self.s.min_seconds]
        if near and s > min(near):
            return False  # a lower point is close by in time: the boundary is there
        return s <= self.s.unrelated or self._depth(gap) >= self.s.depth

    # -- the stream

    def take(self, rec: dict) -> list[Chapter]:
        index = int(rec["index"])
        if index <= self.last_index:
            return []  # a replay of a scene already taken
        self.last_index = index
        sc = _Scene(self.pos, index, float(rec["start"]), float(rec["end"]), self.embed.scene(scene_text(rec)),
                    scene_words(rec), plain_caption(rec))
        self.recent.append(sc)
        if self.first is None:
            if self.carried is not None:  # the chapter began before this process took the video over
                sc = _Scene(sc.pos, self.carried[1], self.carried[0], sc.end, sc.vec, sc.text, sc.caption)
                self.recent[-1], self.carried = sc, None
            self._open(sc)
        self.pos += 1
        while self.next_gap < sc.pos and self._ready(self.next_gap):
            self.sims.append((self.next_gap, self._sim(self.next_gap, sc.pos)))
            self.next_gap += 1
        out = []
        while self.decided + 1 < self.next_gap and self._confirmed(self.decided + 1):
            out += self._decide(self.decided + 1)
        return out

    def _confirmed(self, gap: int) -> bool:
        """Can the gap be decided: are the similarities of the gaps up to `min_seconds` after it known (a lower
        one there would take the boundary)?"""
        at, newest = self._scene(gap), self._scene(self.next_gap - 1)
        return at is not None and newest is not None and (
            newest.end >= at.end + self.s.min_seconds or self.next_gap - gap > BLOCK_SCENES)

    def _decide(self, gap: int) -> list[Chapter]:
        self.decided = gap
        sc = self._scene(gap)
        if sc is None:
            return []
        self._add(sc)
        if not self._is_boundary(gap):
            return []
        # The blocks find the stretch where the subject changes; the two scenes either side of the cut differ
        # most at the cut itself, so the boundary moves to the neighbouring gap (one scene either way) whose
        # scenes are least alike.
        pairs = {j: _cos(a.vec, b.vec) for j in (gap - 1, gap, gap + 1)
                 if (a := self._scene(j)) is not None and (b := self._scene(j + 1)) is not None
                 and j >= self.first.pos and (j != gap + 1 or j < self.next_gap)
                 and abs(a.end - sc.end) <= self.s.window / 2}  # a short move only: not across a long scene
        cut = min(pairs, key=pairs.get) if pairs else gap
        if cut == gap + 1:
            self.decided = cut
            sc = self._scene(cut)
            self._add(sc)
        elif cut == gap - 1 and self._scene(cut).end - self.first.start >= self.s.min_seconds:
            sc = self._scene(cut)  # (the scene after the cut was sampled into this chapter's text: one scene)
        else:
            cut = gap
        nxt = self._scene(cut + 1)
        chapter = self._close(sc.end if nxt is None else nxt.start, sc.index, last=False)
        self._open(nxt)
        if cut == gap - 1 and nxt is not None:
            self._add(nxt)
        return [chapter]

    def finish(self) -> list[Chapter]:
        """The video ended: the gaps still open are decided with the scenes there are, and the last chapter
        closes."""
        if self.pos == 0:
            return []
        top = self.pos - 1
        for gap in range(self.next_gap, top):
            self.sims.append((gap, self._sim(gap, top)))
        self.next_gap = top
        out = []
        while self.decided + 1 < top:
            out += self._decide(self.decided + 1)
        last = self._scene(top)
        self._add(last)
        out.append(self._close(last.end, last.index, last=True))
        return out

    def progress(self) -> dict:
        """What another process needs to go on with this video where this one stops: the chapters sent so far, the
        last scene taken and where the open chapter began (the vectors and the text sample are not carried: the
        new owner's similarities start afresh, and the open chapter's title is made from what it sees)."""
        first = self.first
        start, index = (first.start, first.index) if first else self.carried or (None, None)
        return {"count": self.count, "last_index": self.last_index, "start": start, "first": index}

    def resume(self, progress: dict) -> None:
        """Go on from another process's progress() (nothing taken here yet)."""
        self.count = int(progress.get("count") or 0)
        self.last_index = int(progress.get("last_index", -1))
        if progress.get("start") is not None and progress.get("first") is not None:
            self.carried = (float(progress["start"]), int(progress["first"]))

    def _close(self, end: float, last_index: int, last: bool) -> Chapter:
        text = self.text.text()
        # Next to nothing said or written in words: speech in a language the speech model does not know ("The"),
        # or only a burned-in timecode on screen.
        if sum(any(c.isalpha() for c in w) for w in text.split()) < FEW_WORDS:
            text = " ".join(p for p in (text, self.captions.text()) if p)
        title, by = self.titler.title(text, self.count)
        chapter = Chapter(self.video_id, self.count, self.first.start, end, title, [self.first.index, last_index],
                          by, last=last)
        self.count += 1
        if self.on_close is not None:
            self.on_close(chapter, text)
        return chapter
