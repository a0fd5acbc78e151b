"""Audio to 16 kHz mono s16 chunks of a fixed length, on a sample-count time line (so chunks tile the audio with
no gap and no overlap whatever the source frame sizes are). FFmpeg's resampler, through PyAV, downmixes any
channel layout (5.1 included) to mono."""
from __future__ import annotations

import av

from scenestream.schemas import AudioChunk


class AudioChunker:
    def __init__(self, video_id: str, sample_rate: int, chunk_seconds: float):
        self.video_id = video_id
        self.rate = sample_rate
        self.chunk_bytes = 2 * max(1, int(round(chunk_seconds * sample_rate)))
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        self.buffer = bytearray()
        self.index = 0
        self.emitted_samples = 0

    def push(self, frame: av.AudioFrame | None) -> list[AudioChunk]:
        """Resample one decoded frame (None flushes the resampler). A full chunk is emitted once at least one
        sample past it has arrived, so the final chunk, emitted by `finish`, is never empty."""
        for out in self.resampler.resample(frame):
            self.buffer += out.to_ndarray().tobytes()
        chunks = []
        while len(self.buffer) > self.chunk_bytes:
            chunks.append(self._emit(bytes(self.buffer[: self.chunk_bytes]), last=False))
            del self.buffer[: self.chunk_bytes]
        return chunks

    def _emit(self, pcm: bytes, last: bool) -> AudioChunk:
        start = self.emitted_samples / self.rate
        self.emitted_samples += len(pcm) // 2
        chunk = AudioChunk(self.video_id, self.index, start, self.emitted_samples / self.rate, pcm,
                           sample_rate=self.rate, last=last)
        self.index += 1
        return chunk

    @property
    def seconds(self) -> float:
        return (self.emitted_samples + len(self.buffer) // 2) / self.rate

    def finish(self) -> list[AudioChunk]:
        chunks = self.push(None)
        chunks.append(self._emit(bytes(self.buffer), last=True))
        self.buffer.clear()
        return chunks
