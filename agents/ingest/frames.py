"""Frames sampled at a set rate for the detector, JPEG-encoded (or, for consumers in this process, kept as BGR
arrays: `PixelFrame`) and batched. A batch covers [start, end) where end is the time the next batch's first sample
would be taken, so batches tile the video."""
from __future__ import annotations

import math

import av

from scenestream.agents.ingest.scenes import SWS_THREADS, encode_jpeg, scaled_size
from scenestream.schemas import Frame, FrameBatch, PixelFrame


class FrameSampler:
    def __init__(self, video_id: str, rate: float, per_batch: int, long_side: int, width: int, height: int, quality: int,
                 pixels: bool = False):
        self.video_id = video_id
        self.pixels = pixels
        self.rate = rate
        self.per_batch = per_batch
        self.size = scaled_size(width, height, long_side=long_side)
        self.quality = quality
        self.slot = 0  # index of the next sampling slot; slot k is taken at the first frame with t >= k / rate
        self.pending: list[Frame] = []
        self.batch_start = 0.0
        self.index = 0

    def push(self, t: float, frame: av.VideoFrame) -> list[FrameBatch]:
        if t < self.slot / self.rate:
            return []
        out = []
        if len(self.pending) == self.per_batch:
            out.append(self._emit(end=self.slot / self.rate, last=False))
        self.pending.append(self._frame(round(t, 6), frame))
        self.slot = math.floor(t * self.rate + 1e-9) + 1
        return out

    def _frame(self, t: float, frame: av.VideoFrame) -> Frame:
        w, h = self.size
        if self.pixels:
            return PixelFrame(t, frame.to_ndarray(width=w, height=h, format="bgr24", threads=SWS_THREADS))
        return Frame(time=t, jpeg=encode_jpeg(frame, self.size, self.quality), width=w, height=h)

    def _emit(self, end: float, last: bool) -> FrameBatch:
        batch = FrameBatch(self.video_id, self.index, self.batch_start, end, self.pending, last=last)
        self.pending = []
        self.batch_start = end
        self.index += 1
        return batch

    def finish(self, end: float) -> list[FrameBatch]:
        return [self._emit(end=max(end, self.batch_start), last=True)]
