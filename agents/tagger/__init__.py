"""The audio tagger: AudioSet sound events over sliding windows, merged into labelled time spans.

One AudioTags record per audio chunk, covering exactly that chunk (the joiner's coverage unit), with the chunk's
index and `last`. Per-video state: none. Spans are merged within a chunk and end at its edges (the windows reach
the chunk's end: the last one is zero-padded), so a sound crossing an edge comes out as two spans that touch
there, and the joiner joins them when it builds a scene's record. Holding open spans across chunks instead would
delay every chunk's record until the next chunk arrives, and make the output depend on chunk order, which Kafka
does not promise across partitions and a worker takeover replays; stateless, a replay gives the same record."""
from __future__ import annotations

import numpy as np

from scenestream.agents.base import Agent
from scenestream.agents.models import pick_device, resolve_model
from scenestream.agents.tagger.settings import TaggerSettings
from scenestream.agents.tagger.spans import merge_windows
from scenestream.schemas import AudioChunk, AudioEvent, AudioTags
from scenestream.agents.errors import one_line

__all__ = ["TaggerAgent", "TaggerSettings"]


class TaggerAgent(Agent):
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
            from scenestream.agents.tagger.yamnet import YamnetBackend

            self.backend = YamnetBackend(resolve_model(s.model).location, s.threads)
            self.model_id = "yamnet-int8" if s.model in ("yamnet", "pack:yamnet") else s.model
        else:
            from scenestream.agents.tagger.ast import AstBackend

            self.backend = AstBackend(resolve_model(s.model).location, pick_device(s.device), s.threads,
                                      s.batch_size)
            self.model_id = s.model

    def close(self) -> None:
        self.backend = None

    def scores(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-window scores [windows, classes] of a float waveform and each window's start (seconds into it)."""
        s = self.settings
        if s.backend == "yamnet":
            return self.backend.scores(wave, s.hop)
        return self.backend.scores(wave, s.window, s.hop)

    def tag(self, wave: np.ndarray, offset: float, end: float) -> list[AudioEvent]:
        """Events in a float waveform that starts at `offset` seconds; spans are clipped to `end`."""
        s = self.settings
        scores, starts = self.scores(wave)
        return merge_windows(scores, starts, s.window, self.backend.labels, s.threshold, s.top_k, offset, end)

    def process(self, chunk: AudioChunk) -> list[AudioTags]:
        out = AudioTags(chunk.video_id, chunk.index, chunk.start, chunk.end, self.model_id, last=chunk.last)
        try:
            if chunk.sample_rate != 16000:
                raise ValueError(f"expected 16 kHz audio, got {chunk.sample_rate} Hz")
            if len(chunk.pcm) % 2:
                raise ValueError(f"PCM has an odd number of bytes ({len(chunk.pcm)}): not s16le")
            wave = np.frombuffer(chunk.pcm, dtype="<i2").astype(np.float32) / 32768.0
            if len(wave):
                out.events = self.tag(wave, chunk.start, chunk.end)
        except Exception as exc:  # bad input (or a model failure) costs this window, never the worker
            out.error = one_line(exc)
        return [out]
