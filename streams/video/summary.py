"""The summary of one video, built from its chapters as they close.

Offline it is extractive: the sentences nearest the centroid of all the video's sentences (MiniLM vectors), at
most `summary_words` words, in the order they were said. Only a pool of POOL candidates is kept, with a running
sum for the centroid; when the pool is full, the candidates furthest from the centroid so far are dropped.

With an LLM endpoint it is map-reduce: each chapter's text is summarised as the chapter closes (map); partial
summaries are reduced `fan_in` at a time into one, level by level as a binary counter carries (reduce), so at any
moment at most fan_in partials per level are held and no prompt holds more than fan_in of them: a 5-hour video
never needs one huge prompt. At the end the partials left are reduced into the summary. The extractive summary is
kept beside it and used when the model fails or answers nothing."""
from __future__ import annotations

import sys

import numpy as np

from scenestream.schemas import Chapter, VideoSummary
from scenestream.streams.video.settings import ChapterSettings
from scenestream.streams.video.text import sentences

POOL = 48  # candidate sentences kept for the extractive summary
NEAR_DUPLICATE = 0.9  # a sentence this similar to one already picked is not picked again
PARTIAL_TOKENS = 120  # the length bound of a partial summary (map and reduce answers)
EXTRACTIVE = "extractive"


class Summarizer:
    def __init__(self, video_id: str, settings: ChapterSettings, embedder, client=None):
        self.video_id, self.s, self.embed, self.client = video_id, settings, embedder, client
        self.centroid = np.zeros(embedder.dim, dtype=np.float64)
        self.pool: list[tuple[int, str, np.ndarray]] = []  # (order said, sentence, vector)
        self.said = 0
        self.chapters, self.rounds, self.end = 0, 0, 0.0
        self.levels: list[list[str]] = []  # map-reduce partials by level (level k covers fan_in**k chapters)
        self.model = ""
        self.failed = False

    # -- as chapters close

    def take(self, chapter: Chapter, text: str) -> None:
        self.chapters += 1
        self.end = max(self.end, chapter.end)
        self._extract(text)
        if self.client is not None and not self.failed and text.strip():
            part = self._ask(f"Here is what is said and shown in one part of a video:\n\n{text}\n\n"
                             "Summarise this part in at most three sentences.")
            if part:
                self._carry(0, part)

    def _extract(self, text: str) -> None:
        found = sentences(text)
        if not found:
            return
        vecs = self.embed(found)
        self.centroid += vecs.sum(axis=0)
        for s, v in zip(found, vecs):
            # A sentence said again (a refrain, a repeated headline) is a candidate once: otherwise copies of the
            # one nearest the centre fill the pool and the summary says one thing.
            if not any(float(v @ p[2]) > NEAR_DUPLICATE for p in self.pool):
                self.pool.append((self.said, s, v))
            self.said += 1
        if len(self.pool) > POOL:
            c = self._unit(self.centroid)
            self.pool.sort(key=lambda item: -float(item[2] @ c))
            del self.pool[POOL:]
            self.pool.sort(key=lambda item: item[0])

    @staticmethod
    def _unit(v: np.ndarray) -> np.ndarray:
        n = float(np.linalg.norm(v))
        return (v / n).astype(np.float32) if n else v.astype(np.float32)

    def _ask(self, prompt: str) -> str:
        from scenestream.agents.chat import ChatError, user_message

        try:
            reply = self.client.complete([user_message(prompt)], max_tokens=PARTIAL_TOKENS)
        except ChatError as exc:
            print(f"scenestream: summary of {self.video_id}: {exc}; the extractive summary instead", file=sys.stderr)
            self.failed = True
            return ""
        self.model = reply.model or self.model
        return " ".join(reply.text.split())

    def _reduce(self, parts: list[str]) -> str:
        self.rounds += 1
        joined = "\n".join(f"- {p}" for p in parts)
        return self._ask(f"Here are summaries of consecutive parts of one video:\n\n{joined}\n\n"
                         "Write one summary of them all in at most five sentences.")

    def _carry(self, level: int, part: str) -> None:
        while len(self.levels) <= level:
            self.levels.append([])
        self.levels[level].append(part)
        if len(self.levels[level]) >= self.s.fan_in:
            parts, self.levels[level] = self.levels[level], []
            merged = self._reduce(parts)
            if merged:
                self._carry(level + 1, merged)

    # -- at the end

    def extractive(self) -> str:
        if not self.pool:
            return ""
        c = self._unit(self.centroid)
        ranked = sorted(self.pool, key=lambda item: -float(item[2] @ c))
        picked, words = [], 0
        for item in ranked:
            n = len(item[1].split())
            if words + n > self.s.summary_words:
                continue
            if any(float(item[2] @ p[2]) > NEAR_DUPLICATE for p in picked):
                continue
            picked.append(item)
            words += n
        return " ".join(s for _, s, _ in sorted(picked, key=lambda item: item[0]))

    def finish(self) -> VideoSummary:
        summary, method = "", EXTRACTIVE
        if self.client is not None and not self.failed:
            # Higher levels hold the earlier chapters: read them first, so the parts stay in the video's order.
            parts = [p for level in reversed(self.levels) for p in level]
            while len(parts) > self.s.fan_in and not self.failed:
                parts = [m for i in range(0, len(parts), self.s.fan_in)
                         if (m := self._reduce(parts[i:i + self.s.fan_in]))]
            if len(parts) > 1 and not self.failed:
                parts = [self._reduce(parts)]
            if parts and parts[0] and not self.failed:
                summary, method = parts[0], self.model
        if not summary:
            summary, method = self.extractive(), EXTRACTIVE
        return VideoSummary(self.video_id, summary, method, self.chapters, self.rounds, round(self.end, 3))
