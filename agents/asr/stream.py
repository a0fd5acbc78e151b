"""One video's speech state: audio not yet transcribed, regions in flight, and windows not yet emitted.

Why regions and windows differ: the joiner reads each Transcript as covering [start, end) of the audio chunk with
the same index, and takes a word into a scene by its start time. A word spoken across a chunk edge must therefore be
heard whole (its audio spans two chunks) yet reported in the window where it starts. So audio is transcribed in
*regions* that end in a silence (never mid-word), the rest is carried over to the next chunk, and a chunk's
Transcript (*window*) is emitted once every region up to its end has been transcribed: its words are then complete.
Regions are cut once `window` seconds are pending: where the pipeline would start a new 30 s chunk of speech, else
at the latest silence (so a window comes out that much later than its audio came in: settings.py says why the
default favours throughput), or, when speech runs on for `max_carry` seconds without a pause, at the quietest spot.
The last chunk flushes everything.
"""
from __future__ import annotations

import math
from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from scenestream.agents.asr.backend import Backend, RegionText
from scenestream.agents.asr.settings import WHISPER_CHUNK, AsrSettings
from scenestream.agents.asr.speech import RATE, Packed, choose_cut, chunk_starts, pack, quietest, speech_segments
from scenestream.schemas import AudioChunk, Segment, Transcript, Translation, Word


@dataclass
class Window:
    index: int
    start: float
    end: float
    last: bool
    end_sample: int
    error: str | None = None
    words: list[Word] = field(default_factory=list)
    languages: Counter = field(default_factory=Counter)
    segments: list[Segment] = field(default_factory=list)  # translated speech starting in this window


@dataclass
class Region:
    start: int  # absolute samples
    end: int
    packed: Packed
    future: "Future[RegionText]"


def check(chunk: AudioChunk) -> str | None:
    """Why this chunk's audio cannot be used (one line), or None."""
    if not (math.isfinite(chunk.start) and math.isfinite(chunk.end)) or chunk.start < 0 or chunk.end < chunk.start:
        return f"bad window times [{chunk.start}, {chunk.end})"
    if chunk.sample_rate != RATE:
        return f"audio sample rate {chunk.sample_rate} Hz, expected {RATE}"
    if not isinstance(chunk.pcm, (bytes, bytearray, memoryview)):
        return f"pcm is {type(chunk.pcm).__name__}, not bytes"
    if len(chunk.pcm) % 2:
        return f"odd PCM byte count ({len(chunk.pcm)}): not 16-bit samples"
    if not chunk.pcm and chunk.end > chunk.start:
        return f"no PCM for a {chunk.end - chunk.start:.3f} s window"
    return None


class VideoStream:
    def __init__(self, video_id: str, settings: AsrSettings, backend: Backend, model_id: str):
        self.video_id = video_id
        self.s = settings
        self.backend = backend
        self.model_id = model_id
        self.pcm = bytearray()  # s16le audio from sample t0 on, not yet in any region
        self.t0 = 0
        self.next_index = 0
        self.stash: dict[int, AudioChunk] = {}
        self.windows: deque[Window] = deque()
        self.regions: deque[Region] = deque()
        self.last_word_start = 0.0
        self.finished = False

    @property
    def buffer_end(self) -> int:
        return self.t0 + len(self.pcm) // 2

    # ------------------------------------------------------------------ input
    def push(self, chunk: AudioChunk) -> list[Transcript]:
        """Take one chunk (in any order; duplicates ignored) and return the windows it completes."""
        if chunk.index < self.next_index or chunk.index in self.stash:
            return []  # a replay of a chunk already taken
        self.stash[chunk.index] = chunk
        # A video's audio arrives in order, so once its last chunk is here nothing earlier is still coming (a worker
        # that took the video over mid-way never sees the chunks its predecessor took): stop waiting for them.
        while (self.next_index in self.stash or len(self.stash) > self.s.reorder_limit
               or any(c.last for c in self.stash.values())):
            if self.next_index not in self.stash:  # too many held, or the end is here: give up on the missing
                self._missing(self.next_index, min(self.stash))
            c = self.stash.pop(self.next_index)
            self.next_index += 1
            self._add(c)
            if c.last:
                self.finished = True
                self.stash.clear()
        return self._advance()

    def _missing(self, index: int, until: int) -> None:
        at = self.buffer_end / RATE
        nxt = self.stash[until].start
        for i in range(index, until):
            self.windows.append(Window(i, at, max(at, nxt), False, round(max(at, nxt) * RATE),
                                       error=f"audio chunk {i} never arrived"))
        self.next_index = until

    def _add(self, chunk: AudioChunk) -> None:
        error = check(chunk)
        if error is not None and error.startswith("bad window"):
            at = self.buffer_end  # times unusable: an empty window where the audio stands
            self.windows.append(Window(chunk.index, at / RATE, at / RATE, chunk.last, at, error=error))
            return
        start, end = round(chunk.start * RATE), round(chunk.end * RATE)
        self.windows.append(Window(chunk.index, float(chunk.start), float(chunk.end), chunk.last, end, error=error))
        if error is not None:
            return  # no audio from this chunk: the next good one starts after a gap, handled below
        samples = bytes(chunk.pcm)
        if start > self.buffer_end:
            # A gap (a bad or lost chunk before this one): what is pending cannot continue across it.
            self._cut(len(self.pcm) // 2)
            self.t0 = start
        elif start < self.buffer_end:  # overlaps audio already taken: keep only the new part
            samples = samples[2 * (self.buffer_end - start):]
        self.pcm += samples

    # ------------------------------------------------------------------ regions
    def _advance(self) -> list[Transcript]:
        self._cut_regions()
        return self._drain(wait=self.finished)

    def _cut_regions(self) -> None:
        s = self.s
        window = round(s.window * RATE)
        while self.pcm:
            n = len(self.pcm) // 2
            if not self.finished and n < window:
                return
            audio = np.frombuffer(self.pcm, "<i2").astype(np.float32) / 32768.0
            speech = speech_segments(audio) if (s.vad or not self.finished) else None
            if self.finished:
                cut = n
            else:
                limit = round(max(s.window, WHISPER_CHUNK) * RATE)
                guard = round(s.guard * RATE)
                # Best: after the last full 30 s chunk of speech (no encoder pass wasted); else the last silence.
                full = [p for p in chunk_starts(speech) if 0 < p <= min(n - guard, limit)]
                cut = full[-1] if full else choose_cut(speech, n, limit, guard)
                if cut is None:
                    if n < round(max(s.window, s.max_carry) * RATE):
                        return  # no silence yet: carry everything over
                    near = min(n - round(s.guard * RATE), limit)
                    cut = quietest(audio, near, RATE)  # nothing quiet enough: cut where it hurts least
            self._cut(cut, speech, audio)

    def _cut(self, cut: int, speech=None, audio: np.ndarray | None = None) -> None:
        if cut <= 0:
            return
        if audio is None:
            audio = np.frombuffer(self.pcm, "<i2").astype(np.float32) / 32768.0
            speech = speech_segments(audio) if self.s.vad else None
        region_speech = None
        if self.s.vad:
            region_speech = [(a, min(b, cut)) for a, b in speech if a < cut]
        packed = pack(audio[:cut], region_speech)
        future = self.backend.submit(packed, self.s.language) if not packed.empty else _done(RegionText())
        self.regions.append(Region(self.t0, self.t0 + cut, packed, future))
        del self.pcm[: 2 * cut]
        self.t0 += cut

    # ------------------------------------------------------------------ output
    def _drain(self, wait: bool) -> list[Transcript]:
        while self.regions and (wait or self.regions[0].future.done()):
            region = self.regions.popleft()
            try:
                text = region.future.result()
            except Exception as exc:  # noqa: BLE001 - a failed region marks its windows, it never escapes
                message = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
                for w in self.windows:
                    if w.end_sample > region.start and round(w.start * RATE) < region.end and w.error is None:
                        w.error = f"transcription failed: {message}"
            else:
                self._place(region, text)
        resolved = self.regions[0].start if self.regions else self.t0
        out = []
        while self.windows and (self.windows[0].end_sample <= resolved or (self.finished and not self.regions)):
            out.append(self._record(self.windows.popleft()))
        return out

    def _place(self, region: Region, text: RegionText) -> None:
        lo, hi = region.start / RATE, region.end / RATE
        for word, a, b, p in text.words:
            a, b = region.packed.restore(a, b)
            # Whisper's times are estimates: keep them inside the region and in order, so a word can never land
            # in a window already emitted (every such window ended at or before this region's start).
            start = round(min(max(lo + a, lo, self.last_word_start), hi), 3)  # rounded before it picks a window
            end = round(min(max(lo + b, start), hi), 3)
            self.last_word_start = start
            target = None
            for w in self.windows:
                if w.start <= start:
                    target = w
                else:
                    break
            if target is None:
                continue
            target.words.append(Word(word, start, end, round(p, 4)))
            target.languages[text.language] += 1
        for said, a, b in text.translation or ():
            a, b = region.packed.restore(a, b)
            start = round(min(max(lo + a, lo), hi), 3)
            end = round(min(max(lo + b, start), hi), 3)
            target = next((w for w in reversed(self.windows) if w.start <= start), None)
            if target is not None:
                target.segments.append(Segment(said.strip(), start, end))

    def _record(self, w: Window) -> Transcript:
        language = self.s.language or ""
        if w.languages:
            language = w.languages.most_common(1)[0][0] or language
        translation = None
        if self.s.translate:
            translation = Translation(self.s.translate, " ".join(x.text for x in w.segments).strip(), w.segments)
        return Transcript(self.video_id, w.index, w.start, w.end, model=self.model_id, language=language,
                          text="".join(x.word for x in w.words).strip(), words=w.words, last=w.last, error=w.error,
                          translation=translation)

    def abort(self, reason: str, index: int | None = None) -> list[Transcript]:
        """Something unexpected broke this video's state: report every open window as failed and start afresh
        after chunk `index` (later chunks then continue after a gap)."""
        for r in self.regions:
            r.future.cancel()
        out = []
        for w in self.windows:
            w.error = w.error or reason
            out.append(self._record(w))
        self.windows.clear()
        self.regions.clear()
        self.stash.clear()
        self.t0 = self.buffer_end
        self.pcm.clear()
        if index is not None:
            self.next_index = max(self.next_index, index + 1)
        return out


def _done(value: RegionText) -> "Future[RegionText]":
    fut: Future = Future()
    fut.set_result(value)
    return fut
