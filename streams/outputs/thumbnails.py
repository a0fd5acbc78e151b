"""Small keyframe pictures for the report and the live page.

The caption records carry keyframe *times*, not pictures (JPEGs stay on the internal `scenes` topic), so a picture
is made in one of two ways:

- from a keyframe JPEG that is at hand (the live page taps the embedded run's `Scene` records): `shrink`;
- from the video itself, decoded with PyAV at the keyframe time (the report, rebuilt from a finished run folder, and
  the live page in Kafka mode): `VideoFrames.at(t)`, seeking to the key frame before `t` and decoding forward, so a
  scene costs a GOP of decoding at most, never the whole video.

Time is the project's one time base: seconds from the start of the video, (pts - stream start) x time_base.
Pictures are JPEG, `width` px wide (160 by default: a timeline of hundreds of scenes stays a few MB)."""
from __future__ import annotations

import base64
import io
import sys
import threading

from PIL import Image

WIDTH = 160
QUALITY = 75


def _jpeg(image: Image.Image, width: int) -> bytes:
    if image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=QUALITY, optimize=True)
    return buf.getvalue()


def shrink(jpeg: bytes, width: int = WIDTH) -> bytes:
    """A `width`-px-wide JPEG of a JPEG."""
    with Image.open(io.BytesIO(jpeg)) as image:
        return _jpeg(image, width)


def data_uri(jpeg: bytes | None) -> str:
    """`data:image/jpeg;base64,...`, so a page holds its pictures and needs no server; '' for no picture."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii") if jpeg else ""


def scene_time(rec: dict) -> float:
    """The time a scene's picture shows: its first keyframe (the ingest's choice of a representative frame), else
    its start."""
    times = rec.get("keyframe_times") or []
    return float(times[0]) if times else float(rec.get("start") or 0.0)


class VideoFrames:
    """Pictures of one video at given times: `VideoFrames(uri).at(t)` -> JPEG bytes or None. Opens the source
    lazily, once; a source that cannot be opened (moved, a live stream that ended) gives None for every time, with
    one line on stderr, never an exception: a report without pictures is still a report."""

    def __init__(self, uri: str, width: int = WIDTH):
        self.uri = uri
        self.width = width
        self._container = None
        self._stream = None
        self._failed = False
        # `at` runs in worker threads; closing the container while one decodes from it crashes FFmpeg (a
        # segfault, seen when `serve` stopped mid-picture), so decoding and closing take turns.
        self._lock = threading.RLock()

    def _open(self) -> bool:
        if self._container is not None or self._failed:
            return not self._failed
        from scenestream.agents.errors import InputError
        from scenestream.agents.ingest.source import open_container

        try:
            self._container = open_container(self.uri)
            streams = self._container.streams.video
            if not streams:
                raise InputError("no_video", "no video stream")
            self._stream = streams[0]
            self._stream.thread_type = "AUTO"
        except InputError as exc:
            self._fail(str(exc))
        return not self._failed

    def _fail(self, why: str) -> None:
        print(f"scenestream: no thumbnails from {self.uri}: {why}", file=sys.stderr)
        self._failed = True
        self.close()

    def at(self, t: float) -> bytes | None:
        with self._lock:
            return self._at(t)

    def _at(self, t: float) -> bytes | None:
        if not self._open():
            return None
        import av

        stream = self._stream
        tb = stream.time_base
        offset = stream.start_time or 0
        target = offset + int(max(0.0, t) / tb)
        # Half a frame of slack: a keyframe time is a frame's own timestamp, rounded to the millisecond.
        rate = stream.average_rate or stream.guessed_rate or 25
        slack = int(0.5 / float(rate) / tb)
        try:
            self._container.seek(target, stream=stream, backward=True, any_frame=False)
            last = None
            for frame in self._container.decode(stream):
                if frame.pts is None:
                    last = frame
                    continue
                if frame.pts + slack >= target:
                    return _jpeg(frame.to_image(), self.width)
                last = frame
            return _jpeg(last.to_image(), self.width) if last is not None else None  # t past the last frame
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            print(f"scenestream: no thumbnail at {t:.2f} s of {self.uri}: {exc}", file=sys.stderr)
            return None

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
                self._container = None

    def __enter__(self) -> "VideoFrames":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["QUALITY", "WIDTH", "VideoFrames", "data_uri", "scene_time", "shrink"]
