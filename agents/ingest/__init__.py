"""The ingest agent: one decode of a video fanned out into scenes, audio chunks and frame batches.

`IngestAgent.process(request)` is a generator: it yields each record the moment it is complete, so the caller
(embedded runtime or Kafka worker) streams them on while decoding goes on, and memory stays bounded by the
settings (one open scene's candidates, one audio chunk, one frame batch), not by the video's length."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import av

from scenestream.agents.base import SourceAgent
from scenestream.agents.errors import InputError
from scenestream.agents.ingest.audio import AudioChunker
from scenestream.agents.ingest.frames import FrameSampler
from scenestream.agents.ingest.offload import Offload
from scenestream.agents.ingest.scenes import ClosedScene, SceneCutter
from scenestream.agents.ingest.settings import IngestSettings
from scenestream.agents.ingest.source import open_container, resolve
from scenestream.schemas import AudioChunk, FrameBatch, Scene, VideoEvent, VideoRequest

__all__ = ["IngestAgent", "IngestSettings", "resolve"]

Record = Scene | AudioChunk | FrameBatch | VideoEvent


def _stream_offset(stream) -> int:
    return stream.start_time if stream.start_time is not None else 0


def _packets(container, streams, uri: str) -> Iterator[av.Packet]:
    """Demuxed packets. A live stream (no declared duration) that breaks off ends here like one that ended: an RTMP
    server closing the connection is an I/O error, not an end of file, and what came is processed. Anywhere else
    an I/O error is a one-line input error."""
    packets = container.demux(streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.OSError as exc:
            if not container.duration and resolve(uri)[0] == "network":
                return
            raise InputError("read_error", f"reading {uri} failed: {exc.strerror or exc}") from None
        yield packet


class IngestAgent(SourceAgent):
    name = "ingest"

    def __init__(self, settings: IngestSettings | None = None):
        self.settings = settings or IngestSettings()
        self._adopted: dict[str, av.container.InputContainer] = {}

    def adopt(self, uri: str, container: av.container.InputContainer) -> None:
        """Use `container`, already open on `uri`, for the next request of that URI instead of opening it again:
        a source that was probed (is it live?) may serve one client only (`ffmpeg -listen 1`, a camera)."""
        self._adopted[uri] = container

    def setup(self) -> None:
        pass

    def close(self) -> None:
        for container in self._adopted.values():
            container.close()
        self._adopted.clear()

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
        container = self._adopted.pop(request.uri, None) or open_container(request.uri, timeout=s.open_timeout)
        try:
            yield from self._decode(container, request, s)
        finally:
            container.close()

    def _decode(self, container, request: VideoRequest, s: IngestSettings) -> Iterator[Record]:
        """The steps of one ingest, on an open container: probe the tracks and say `accepted`, decode every packet
        into records, then flush what is still open and say `ingested`."""
        d = _probe(container, request, s)
        # Tell consumers at once which tracks exist, so nobody waits for audio from a video without any.
        yield VideoEvent(d.vid, "accepted", time=time.time(), uri=request.uri, duration=d.declared,
                         has_video=d.vstream is not None, has_audio=d.astream is not None)
        _start_decoders(d, pixel_frames=self.pixel_frames)
        try:
            yield from _decode_packets(container, d)
            yield from _finish(d)
        finally:
            if d.video is not None:
                d.video.close()


@dataclass
class _Decoding:
    """One request's decoding state, shared by its steps: the tracks found, their decoders, and how far it got."""
    request: VideoRequest
    s: IngestSettings
    vstream: object | None
    astream: object | None
    declared: float | None  # the container's duration, when it states one
    cutter: SceneCutter | None = None
    sampler: FrameSampler | None = None
    video: Offload | None = None  # the thread that runs the cutter and the sampler on each decoded picture
    chunker: AudioChunker | None = None
    frame_step: float = 0.0
    scene_index: int = 0
    video_end: float = 0.0
    last_pts: int | None = None
    frames: int = 0
    position: float = 0.0

    @property
    def vid(self) -> str:
        return self.request.video_id


def _probe(container, request: VideoRequest, s: IngestSettings) -> _Decoding:
    """Pick the video and audio tracks (an InputError when there is neither) and read the declared duration."""
    vstream = container.streams.video[0] if container.streams.video else None
    astream = container.streams.audio[0] if container.streams.audio else None
    if vstream is not None and (vstream.codec_context is None or not vstream.codec_context.width):
        vstream = None  # e.g. attached cover art without a decodable picture
    if vstream is None and astream is None:
        raise InputError("no_media_streams", f"no video or audio stream in {request.uri}")
    fmt = container.format.name
    if astream is None and (fmt == "image2" or fmt.endswith("_pipe")):  # FFmpeg's still-image demuxers
        raise InputError("not_video", f"a still image ({fmt}), not a video: {request.uri}")
    declared = float(container.duration / av.time_base) if container.duration else None
    return _Decoding(request, s, vstream, astream, declared)


def _start_decoders(d: _Decoding, pixel_frames: bool) -> None:
    """The scene cutter and frame sampler for the video track (frames as pictures when `pixel_frames`), the audio
    chunker for the audio track."""
    s, vstream = d.s, d.vstream
    if vstream is not None:
        vstream.thread_type = "AUTO"  # frame + slice threading in the decoder
        fps = float(vstream.average_rate or vstream.guessed_rate or 25)
        w, h = vstream.codec_context.width, vstream.codec_context.height
        d.video = Offload(lambda item: _picture(d, *item))
        d.cutter = SceneCutter(s, fps, w, h, vstream.time_base, _stream_offset(vstream), release=d.video.release)
        d.sampler = FrameSampler(d.vid, s.frame_rate, s.frames_per_batch, s.frame_long_side, w, h, s.jpeg_quality,
                                 pixels=pixel_frames)
        d.frame_step = 1.0 / fps
    if d.astream is not None:
        d.chunker = AudioChunker(d.vid, s.sample_rate, s.audio_chunk_seconds)


def _decode_packets(container, d: _Decoding) -> Iterator[Record]:
    """The decode loop: every frame of every packet into scenes, frame batches and audio chunks, with a progress
    event every `progress_every` seconds; more than `max_decode_errors` failing packets in a row is an InputError."""
    s, uri = d.s, d.request.uri
    streams = [x for x in (d.vstream, d.astream) if x is not None]
    errors = 0
    next_progress = s.progress_every
    for packet in _packets(container, streams, uri):
        try:
            decoded = packet.decode()
            errors = 0
        except av.error.FFmpegError as exc:
            errors += 1
            if errors > s.max_decode_errors:
                raise InputError("decode_error", f"too many decode errors in {uri}: {exc}")
            continue
        for frame in decoded:
            if packet.stream is d.vstream:
                yield from _video_frame(d, frame)
            else:
                yield from d.chunker.push(frame)
                d.position = max(d.position, d.chunker.seconds)
        if d.position >= next_progress:
            yield VideoEvent(d.vid, "progress", time=time.time(), uri=uri, position=round(d.position, 3),
                             duration=d.declared)
            next_progress = d.position + s.progress_every


def _video_frame(d: _Decoding, frame: av.VideoFrame) -> Iterator[Record]:
    """One decoded picture, handed to the video thread; what that thread has finished so far comes back."""
    pts = frame.pts
    if pts is None:  # no timestamp: continue the frame grid
        pts = (d.last_pts or 0) + int(round(d.frame_step / d.vstream.time_base))
    d.last_pts = pts
    d.frames += 1
    t = d.cutter._seconds(pts)
    d.video_end = max(d.video_end, t + d.frame_step)
    d.position = max(d.position, t)
    yield from _records(d, d.video.put((pts, t, frame)))


def _picture(d: _Decoding, pts: int, t: float, frame: av.VideoFrame) -> list[ClosedScene | FrameBatch]:
    """In the video thread: the scenes a picture closes, then the frame batches it completes."""
    return [*d.cutter.push(pts, frame), *d.sampler.push(t, frame)]


def _records(d: _Decoding, done: list[ClosedScene | FrameBatch]) -> Iterator[Record]:
    """The video thread's output as records, scenes numbered in order."""
    for out in done:
        if isinstance(out, ClosedScene):
            yield Scene(d.vid, d.scene_index, out.start, out.end, out.keyframes)
            d.scene_index += 1
        else:
            yield out


def _finish(d: _Decoding) -> Iterator[Record]:
    """End of stream: check that something decoded and nothing was cut short, flush what is still open (the last
    scene, the audio tail, the last frame batch) and say `ingested` with the counts."""
    uri = d.request.uri
    audio_end = 0.0
    audio_chunks = 0
    tail: list[Record] = []
    if d.chunker is not None:
        tail += d.chunker.finish()
        audio_end = d.chunker.seconds
        audio_chunks = d.chunker.index
    if d.vstream is not None and d.frames == 0:
        raise InputError("no_frames", f"no decodable video frames in {uri}")
    duration = max(d.video_end, audio_end)
    if d.vstream is None and audio_end == 0.0:
        raise InputError("no_audio", f"no decodable audio in {uri}")
    if d.declared and duration < d.s.truncation_tolerance * d.declared:
        raise InputError("truncated", f"decoding stopped at {duration:.2f} s of {d.declared:.2f} s: {uri} looks truncated")

    if d.video is not None:
        yield from _records(d, d.video.finish())
        closed = d.cutter.finish(duration)
        scene = Scene(d.vid, d.scene_index, closed.start, closed.end, closed.keyframes, last=True)
    else:  # audio only: one scene over the whole file, with no keyframes
        scene = Scene(d.vid, 0, 0.0, duration, [], last=True)
    yield scene
    yield from tail
    if d.sampler is not None:
        yield from d.sampler.finish(d.video_end)
    yield VideoEvent(
        d.vid, "ingested", time=time.time(), uri=uri, duration=round(duration, 6),
        has_video=d.vstream is not None, has_audio=d.astream is not None,
        counts={"scenes": scene.index + 1, "audio_chunks": audio_chunks,
                "frame_batches": d.sampler.index if d.sampler is not None else 0, "frames": d.frames},
    )
