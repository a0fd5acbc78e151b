"""The speech agent: AudioChunk in, Transcript out (words with absolute times, the language of each region).

Two backends behind one edge-handling front (see `stream.py`): faster-whisper's BatchedInferencePipeline on this
machine (`backend="faster-whisper"`, the default) or an OpenAI-compatible `/audio/transcriptions` endpoint
(`backend="openai"`). Transcripts come out in chunk order, one per AudioChunk, covering exactly that chunk's
[start, end), each once every word starting in it is known.
"""
from __future__ import annotations

import logging

from scenestream.agents.base import Agent
from scenestream.agents.asr.settings import AsrSettings
from scenestream.agents.asr.stream import VideoStream
from scenestream.schemas import AudioChunk, Transcript

__all__ = ["AsrAgent", "AsrSettings"]

log = logging.getLogger(__name__)


def make_backend(settings: AsrSettings):
    if settings.backend == "openai":
        from scenestream.agents.asr.openai import OpenAIBackend

        return OpenAIBackend(settings)
    from scenestream.agents.asr.whisper import FasterWhisperBackend

    return FasterWhisperBackend(settings)


class AsrAgent(Agent):
    name = "asr"

    def __init__(self, settings: AsrSettings | None = None):
        self.settings = (settings or AsrSettings()).checked()
        self.backend = make_backend(self.settings)
        self.videos: dict[str, VideoStream] = {}

    @classmethod
    def from_options(cls, options: dict) -> "AsrAgent":
        return cls(AsrSettings.from_options(options))

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    def setup(self) -> None:
        self.backend.setup()

    def process(self, chunk: AudioChunk) -> list[Transcript]:
        """Returns the Transcripts this chunk completes: usually the previous chunk's, and on the last chunk every
        one still open. Never raises for bad input: a bad chunk gets a Transcript with `error` set."""
        vid = getattr(chunk, "video_id", "")
        stream = self.videos.get(vid)
        if stream is None:
            stream = self.videos[vid] = VideoStream(vid, self.settings, self.backend, self.model_id)
        try:
            out = stream.push(chunk)
        except Exception as exc:  # noqa: BLE001 - a broken chunk must not take the worker down
            log.exception("asr failed on %s chunk %s", vid, getattr(chunk, "index", "?"))
            reason = " ".join(f"asr failed: {type(exc).__name__}: {exc}".split())[:300]
            index = getattr(chunk, "index", None)
            out = stream.abort(reason, index if isinstance(index, int) else None)
            if not any(t.index == index for t in out):
                out.append(self._error_record(chunk, reason))
            stream.finished = stream.finished or bool(getattr(chunk, "last", False))
        if stream.finished:
            del self.videos[vid]  # the video is done: its state goes
        return out

    def _error_record(self, chunk, reason: str) -> Transcript:
        return Transcript(getattr(chunk, "video_id", ""), int(getattr(chunk, "index", 0) or 0),
                          float(getattr(chunk, "start", 0.0) or 0.0), float(getattr(chunk, "end", 0.0) or 0.0),
                          model=self.model_id, error=reason, last=bool(getattr(chunk, "last", False)))

    def close(self) -> None:
        for stream in self.videos.values():
            stream.abort("asr closed")
        self.videos.clear()
        self.backend.close()
