"""The audio tagger: AudioSet sound events over sliding windows, merged into labelled time spans.

One AudioTags record per audio chunk, covering exactly that chunk (the joiner's coverage unit). The agent keeps no
state between chunks: a sound that crosses a chunk edge comes out as two touching spans, which the joiner merges
when it builds a scene's record; that keeps replays and out-of-order chunks trivially correct."""
from __future__ import annotations

import numpy as np

from agents.models import pick_device, resolve_model
from agents.tagger.settings import TaggerSettings
from schemas import AudioChunk, AudioEvent, AudioTags
from streams.failures import one_line

# Not events: "Silence" is the absence of one.
IGNORED = {"Silence"}


class TaggerAgent:
    name = "tagger"

    def __init__(self, settings: TaggerSettings | None = None):
        self.settings = settings or TaggerSettings.from_options({})
        self.model_id = self.settings.model
        self.backend = None

    @classmethod
    def from_options(cls, options: dict) -> "TaggerAgent":
        return cls(TaggerSettings.from_options(options))

    def setup(self) -> None:
        s = self.settings
        if s.backend == "yamnet":
            from agents.tagger.yamnet import YamnetBackend

            self.backend = YamnetBackend(resolve_model(s.model).location, s.threads)
            self.model_id = "yamnet-int8"
        elif s.backend == "ast":
            from agents.tagger.ast import AstBackend

            src = resolve_model(s.model)
            self.backend = AstBackend(src.location, pick_device(s.device), s.threads, s.batch_size)
            self.model_id = s.model
        else:
            from agents.errors import ConfigError

            raise ConfigError(f"tagger backend must be 'yamnet' or 'ast', not {s.backend!r}")

    def close(self) -> None:
        self.backend = None

    def tag(self, wave: np.ndarray, offset: float, end: float) -> list[AudioEvent]:
        """Events in a float waveform that starts at `offset` seconds; spans are clipped to `end`."""
        s = self.settings
        scores, starts = self.backend.scores(wave, s.window, s.hop)
        labels = self.backend.labels
        events: list[AudioEvent] = []
        open_spans: dict[int, AudioEvent] = {}
        for row, start in zip(scores, starts):
            t0 = offset + float(start)
            t1 = min(end, t0 + s.window)
            top = [i for i in np.argsort(-row)[: s.top_k] if row[i] >= s.threshold and labels[i] not in IGNORED]
            for i in top:
                span = open_spans.get(i)
                if span is not None and t0 <= span.end:
                    span.end, span.score = t1, max(span.score, float(row[i]))
                else:
                    open_spans[i] = AudioEvent(labels[i], float(row[i]), t0, t1)
                    events.append(open_spans[i])
            for i in [i for i in open_spans if i not in top]:
                del open_spans[i]
        for e in events:
            e.score, e.start, e.end = round(e.score, 4), round(e.start, 3), round(e.end, 3)
        return sorted(events, key=lambda e: (e.start, -e.score))

    def process(self, chunk: AudioChunk) -> list[AudioTags]:
        out = AudioTags(chunk.video_id, chunk.index, chunk.start, chunk.end, self.model_id, last=chunk.last)
        try:
            if len(chunk.pcm) % 2:
                raise ValueError(f"PCM has an odd number of bytes ({len(chunk.pcm)})")
            if chunk.sample_rate != 16000:
                raise ValueError(f"expected 16 kHz audio, got {chunk.sample_rate} Hz")
            wave = np.frombuffer(chunk.pcm, dtype="<i2").astype(np.float32) / 32768.0
            if len(wave):
                out.events = self.tag(wave, chunk.start, chunk.end)
        except Exception as exc:  # bad input becomes an error on this window, never a dead worker
            out.error = one_line(exc)
        return [out]
