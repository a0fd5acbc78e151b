"""The ingest agent: one decode of a video fanned out into scenes, audio chunks and frame batches.

`IngestAgent.process(request)` is a generator: it yields each record the moment it is complete, so the caller
(embedded runtime or Kafka worker) streams them on while decoding goes on, and memory stays bounded by the
settings (one open scene's candidates, one audio chunk, one frame batch), not by the video's length."""
from __future__ import annotations

import time
from fractions import Fraction
from typing import Iterator

import av

from agents.errors import InputError
from agents.ingest.audio import AudioChunker
from agents.ingest.frames import FrameSampler
from agents.ingest.scenes import SceneCutter
from agents.ingest.settings import IngestSettings
from agents.ingest.source import open_container, resolve
from schemas import AudioChunk, FrameBatch, Scene, VideoEvent, VideoRequest

__all__ = ["IngestAgent", "IngestSettings", "resolve"]

Record = Scene | AudioChunk | FrameBatch | VideoEvent


def _stream_offset(stream) -> int:
    return stream.start_time if stream.start_time is not None else 0


class IngestAgent:
    name = "ingest"

    def __init__(self, settings: IngestSettings | None = None):
        self.settings = settings or IngestSettings()

    def setup(self) -> None:
        pass

    def close(self) -> None:
        pass

    def process(self, request: VideoRequest) -> Iterator[Record]:
        """Yield scenes, audio chunks, frame batches and progress events, then `ingested`; or a `failed` event
        (after whatever was already complete) when the input turns out to be bad. Never raises for bad input."""
        try:
            yield from self._run(request)
        except InputError as exc:
            yield VideoEvent(request.video_id, "failed", time=time.time(), uri=request.uri, code=exc.code,
                             message=exc.message)

    def _run(self, request: VideoRequest) -> Iterator[Record]:
        s = self.settings.with_options(request.options)
        container = open_container(request.uri, timeout=s.open_timeout)
        try:
            yield from self._decode(container, request, s)
        finally:
            container.close()

    def _decode(self, container, request: VideoRequest, s: IngestSettings) -> Iterator[Record]:
        vid = request.video_id
        vstream = container.streams.video[0] if container.streams.video else None
        astream = container.streams.audio[0] if container.streams.audio else None
        if vstream is not None and (vstream.codec_context is None or not vstream.codec_context.width):
            vstream = None  # e.g. attached cover art without a decodable picture
        if vstream is None and astream is None:
            raise InputError("no_media_streams", f"no video or audio stream in {request.uri}")
        declared = float(container.duration / av.time_base) if container.duration else None
        # Tell consumers at once which tracks exist, so nobody waits for audio from a video without any.
        yield VideoEvent(vid, "accepted", time=time.time(), uri=request.uri, duration=declared,
                         has_video=vstream is not None, has_audio=astream is not None)

        cutter = sampler = chunker = None
        if vstream is not None:
            vstream.thread_type = "AUTO"  # frame + slice threading in the decoder
            fps = float(vstream.average_rate or vstream.guessed_rate or 25)
            w, h = vstream.codec_context.width, vstream.codec_context.height
            cutter = SceneCutter(s, fps, w, h, vstream.time_base, _stream_offset(vstream))
            sampler = FrameSampler(vid, s.frame_rate, s.frames_per_batch, s.frame_long_side, w, h, s.jpeg_quality)
            frame_step = 1.0 / fps
        if astream is not None:
            chunker = AudioChunker(vid, s.sample_rate, s.audio_chunk_seconds)
        streams = [x for x in (vstream, astream) if x is not None]

        scene_index = 0
        video_end = 0.0
        last_pts = None
        frames = 0
        errors = 0
        next_progress = s.progress_every
        position = 0.0
        for packet in container.demux(streams):
            try:
                decoded = packet.decode()
                errors = 0
            except av.error.FFmpegError as exc:
                errors += 1
                if errors > s.max_decode_errors:
                    raise InputError("decode_error", f"too many decode errors in {request.uri}: {exc}")
                continue
            for frame in decoded:
                if packet.stream is vstream:
                    pts = frame.pts
                    if pts is None:  # no timestamp: continue the frame grid
                        pts = (last_pts or 0) + int(round(frame_step / vstream.time_base))
                    last_pts = pts
                    frames += 1
                    for closed in cutter.push(pts, frame):
                        yield Scene(vid, scene_index, closed.start, closed.end, closed.keyframes)
                        scene_index += 1
                    t = cutter._seconds(pts)
                    video_end = max(video_end, t + frame_step)
                    yield from sampler.push(t, frame)
                    position = max(position, t)
                else:
                    yield from chunker.push(frame)
                    position = max(position, chunker.seconds)
            if position >= next_progress:
                yield VideoEvent(vid, "progress", time=time.time(), uri=request.uri, position=round(position, 3),
                                 duration=declared)
                next_progress = position + s.progress_every

        # End of stream: flush what is still open.
        audio_end = 0.0
        audio_chunks = 0
        tail: list[Record] = []
        if chunker is not None:
            tail += chunker.finish()
            audio_end = chunker.seconds
            audio_chunks = chunker.index
        if vstream is not None and frames == 0:
            raise InputError("no_frames", f"no decodable video frames in {request.uri}")
        duration = max(video_end, audio_end)
        if vstream is None and audio_end == 0.0:
            raise InputError("no_audio", f"no decodable audio in {request.uri}")
        if declared and duration < s.truncation_tolerance * declared:
            raise InputError("truncated", f"decoding stopped at {duration:.2f} s of {declared:.2f} s: {request.uri} looks truncated")

        if cutter is not None:
            closed = cutter.finish(duration)
            scene = Scene(vid, scene_index, closed.start, closed.end, closed.keyframes, last=True)
        else:  # audio only: one scene over the whole file, with no keyframes
            scene = Scene(vid, 0, 0.0, duration, [], last=True)
        yield scene
        yield from tail
        if sampler is not None:
            batches = sampler.finish(video_end)
            yield from batches
        yield VideoEvent(
            vid, "ingested", time=time.time(), uri=request.uri, duration=round(duration, 6),
            has_video=vstream is not None, has_audio=astream is not None,
            counts={"scenes": scene.index + 1, "audio_chunks": audio_chunks,
                    "frame_batches": sampler.index if sampler is not None else 0, "frames": frames},
        )
