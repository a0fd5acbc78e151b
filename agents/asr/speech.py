"""Where speech is, where a cut is safe, and how a region is packed for Whisper.

Speech segments come from faster-whisper's bundled Silero VAD with the very options BatchedInferencePipeline uses
itself (pad 400 ms, 160 ms minimum silence, at most 30 s a segment), so one VAD pass serves both purposes: choosing
a cut that falls in a silence, and packing the region's speech into <= 30 s chunks the way the pipeline would
(`collect_chunks`), with times mapped back through the library's own `SpeechTimestampsMap`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from faster_whisper.vad import SpeechTimestampsMap, VadOptions, collect_chunks, get_speech_timestamps

from scenestream.agents.asr.settings import WHISPER_CHUNK

RATE = 16000
VAD_OPTIONS = VadOptions(max_speech_duration_s=WHISPER_CHUNK, min_silence_duration_ms=160)


def speech_segments(audio: np.ndarray) -> list[tuple[int, int]]:
    """Speech as (start, end) sample pairs, padded; neighbours either touch (at the middle of a short silence) or
    are separated by silence."""
    if len(audio) == 0:
        return []
    return [(s["start"], s["end"]) for s in get_speech_timestamps(audio, VAD_OPTIONS, sampling_rate=RATE)]


def choose_cut(speech: list[tuple[int, int]], length: int, limit: int, guard: int) -> int | None:
    """The latest sample p, 0 < p <= min(length - guard, limit), that lies in a silence: before the first segment,
    where two segments meet or between them, or after the last one. None when there is no such point."""
    hi = min(length - guard, limit)
    if hi <= 0:
        return None
    best = None
    prev_end = 0
    for start, end in speech:
        if start >= prev_end:  # silence [prev_end, start], possibly a single point where segments touch
            p = min(start, hi)
            if p >= prev_end and p > 0:
                best = p
        if start >= hi:
            return best
        prev_end = max(prev_end, end)
    if prev_end <= hi:
        best = hi  # trailing silence; the guard keeps speech that is only just starting out of the region
    return best


def chunk_starts(speech: list[tuple[int, int]]) -> list[int]:
    """Where the pipeline's packing (`collect_chunks`: speech segments appended until the next one would make the
    chunk longer than 30 s) starts its second, third, ... chunk. Packing is greedy from the front, so audio that
    arrives later never moves these points: a region cut at one holds only full chunks, as a whole-file call would
    have packed them, and no Whisper pass is spent on a half-empty 30 s window."""
    limit = WHISPER_CHUNK * RATE
    starts, filled = [], 0
    for start, end in speech:
        if filled + (end - start) > limit:
            starts.append(start)
            filled = 0
        filled += end - start
    return starts


def quietest(audio: np.ndarray, near: int, span: int) -> int:
    """The start of the quietest 20 ms in [near - span, near): the least harmful place for a cut forced by
    `max_carry` when no silence was found."""
    frame = RATE // 50
    lo = max(0, near - span)
    piece = audio[lo:near]
    n = len(piece) // frame
    if n == 0:
        return near
    energy = np.square(piece[: n * frame].reshape(n, frame)).sum(axis=1)
    return lo + int(np.argmin(energy)) * frame + frame // 2


@dataclass
class Packed:
    """A region's audio as Whisper will hear it: `audio` (speech only when VAD is on), `clips` (start, end) seconds
    within it, each at most 30 s, and a map from packed seconds back to region seconds."""

    audio: np.ndarray
    clips: list[tuple[float, float]]
    speech: list[dict] | None  # segments in region samples; None = not packed (VAD off)

    def restore(self, start: float, end: float) -> tuple[float, float]:
        """Packed times of one word -> region times, both ends resolved in the same speech chunk (as the
        pipeline's own restore_speech_timestamps does)."""
        if not self.speech:
            return start, end
        i = self._map.get_chunk_index((start + end) / 2)
        return self._map.get_original_time(start, i), self._map.get_original_time(end, i)

    @cached_property
    def _map(self) -> SpeechTimestampsMap:
        return SpeechTimestampsMap(self.speech, RATE, time_precision=3)

    @property
    def empty(self) -> bool:
        return len(self.audio) == 0


def pack(region: np.ndarray, speech: list[tuple[int, int]] | None) -> Packed:
    """`speech` given (VAD on): keep the speech only, in chunks of <= 30 s. None (VAD off): the whole region in
    equal clips of <= 30 s."""
    if speech is None:
        n = len(region)
        if n == 0:
            return Packed(region, [], None)
        pieces = int(np.ceil(n / (WHISPER_CHUNK * RATE)))
        bounds = np.linspace(0, n, pieces + 1).astype(int)
        return Packed(region, [(bounds[i] / RATE, bounds[i + 1] / RATE) for i in range(pieces)], None)
    segs = [{"start": s, "end": e} for s, e in speech if e > s]
    if not segs:
        return Packed(np.zeros(0, np.float32), [], [])
    chunks, meta = collect_chunks(region, segs, RATE, max_duration=WHISPER_CHUNK)
    audio = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    clips = [(m["offset"], m["offset"] + m["duration"]) for m in meta if m["duration"] > 0]
    return Packed(audio, clips, segs)
