"""Scene cutting on top of PySceneDetect's own detectors, frame by frame, with bounded keyframe candidates.

We feed PySceneDetect's detectors directly instead of using its SceneManager because SceneManager collects the
whole cut list before returning; we need each scene the moment it closes. The detectors themselves are theirs.

Keyframes: a scene's length is unknown until it closes, so its middle frame cannot be picked on arrival. We keep
candidates at a fixed rate and, when more than `limit` pile up, drop every other one and halve the rate, so
memory per open scene is bounded whatever its length and the chosen middle is within length/limit of the true one.
A candidate is kept as a small YUV picture (swscale, about 1 ms at 720p) and only the chosen few are turned into
JPEGs (RGB conversion and encoding, about 4 ms each): at 8 candidates a second, encoding all of them cost ingest
more CPU than PySceneDetect itself.
"""
from __future__ import annotations

import io
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import av
from PIL import Image
from scenedetect import AdaptiveDetector, ContentDetector
from scenedetect.common import FrameTimecode, Timecode

from scenestream.agents.ingest.settings import IngestSettings
from scenestream.schemas import Keyframe


def make_detector(settings: IngestSettings, fps: float):
    min_len = max(1, round(settings.min_scene_len * fps))  # PySceneDetect counts min length in frames
    if settings.detector == "adaptive":
        kw = {"adaptive_threshold": settings.threshold} if settings.threshold is not None else {}
        return AdaptiveDetector(min_scene_len=min_len, **kw)
    kw = {"threshold": settings.threshold} if settings.threshold is not None else {}
    return ContentDetector(min_scene_len=min_len, **kw)


def scaled_size(width: int, height: int, short_side: int | None = None, long_side: int | None = None) -> tuple[int, int]:
    """Size with the given short (or long) side, never upscaled, even dimensions kept >= 2."""
    if short_side is not None:
        scale = min(1.0, short_side / min(width, height))
    else:
        scale = min(1.0, long_side / max(width, height))
    return max(2, round(width * scale)), max(2, round(height * scale))


# swscale's threads for every conversion ingest makes. Its default, one per core, made each small conversion a
# hand-off between threads that, with the decoder's and the agents' threads busy on the same cores, waited several
# milliseconds for each other (6 ms for a 0.8 ms downscale, measured in a full pipeline). Ingest's conversions
# already run in a thread of their own beside decoding.
SWS_THREADS = 1


def encode_jpeg(frame: av.VideoFrame, size: tuple[int, int], quality: int) -> bytes:
    # to_ndarray + fromarray, not VideoFrame.to_image (the same swscale call, same pixels): the latter costs about
    # 4 ms a 720p frame here against 1.3 ms.
    image = Image.fromarray(frame.to_ndarray(width=size[0], height=size[1], format="rgb24", threads=SWS_THREADS))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@dataclass
class _Candidate:
    """A keyframe candidate: its time and its picture, already downscaled to the keyframe size, not yet a JPEG."""
    time: float
    picture: av.VideoFrame


@dataclass
class ClosedScene:
    start: float
    end: float
    keyframes: list[Keyframe]


@dataclass
class _OpenScene:
    start: float
    candidates: list[_Candidate] = field(default_factory=list)
    interval: float = 0.25
    next_time: float = 0.0


class SceneCutter:
    """Feed decoded frames in order with `push`; get back the scenes they close. `finish(end)` closes the last."""

    def __init__(self, settings: IngestSettings, fps: float, width: int, height: int, time_base: Fraction, start_pts: int,
                 release: Callable[[av.VideoFrame], None] | None = None):
        self.settings = settings
        # Where a decoded frame goes when the cutter is done with it (None: dropped here). Ingest drops them in its
        # decode thread: freeing a frame beside FFmpeg's busy frame threads cost 1.8 ms a frame, a fifth of the
        # video thread's time, and nothing in the decode thread.
        self.release = release
        self.fps = Fraction(fps).limit_denominator(1001 * 1000) if fps else Fraction(25)
        self.detector = make_detector(settings, float(self.fps))
        self.time_base = time_base
        self.start_pts = start_pts
        factor = max(1.0, width / settings.detect_width)
        self.detect_size = (max(2, int(width / factor)), max(2, int(height / factor)))
        self.key_size = scaled_size(width, height, short_side=settings.keyframe_short_side)
        # A detector may report a cut a few frames after it happened; keep those frames to take the new
        # scene's first keyframe from.
        self.recent: deque[tuple[float, av.VideoFrame]] = deque(maxlen=self.detector.event_buffer_length + 2)
        self.scene = _OpenScene(start=0.0, interval=1.0 / settings.keyframe_candidates_per_second)
        self.forced_at: float | None = None  # where `max_scene_seconds` last closed a scene

    def _seconds(self, pts: int) -> float:
        return float((pts - self.start_pts) * self.time_base)

    def _candidate(self, t: float, frame: av.VideoFrame) -> _Candidate:
        return _Candidate(round(t, 6), frame.reformat(width=self.key_size[0], height=self.key_size[1],
                                                      threads=SWS_THREADS))

    def _keyframe(self, c: _Candidate) -> Keyframe:
        return Keyframe(time=c.time, jpeg=encode_jpeg(c.picture, self.key_size, self.settings.jpeg_quality),
                        width=self.key_size[0], height=self.key_size[1])

    def _maybe_keep(self, scene: _OpenScene, t: float, frame: av.VideoFrame) -> None:
        if scene.candidates and t < scene.next_time:
            return
        scene.candidates.append(self._candidate(t, frame))
        scene.next_time = t + scene.interval
        if len(scene.candidates) > self.settings.keyframe_candidate_limit:
            scene.candidates = scene.candidates[::2]  # keeps the first: the scene's start frame
            scene.interval *= 2

    def push(self, pts: int, frame: av.VideoFrame) -> list[ClosedScene]:
        t = self._seconds(pts)
        if self.release is not None and len(self.recent) == self.recent.maxlen:
            self.release(self.recent.popleft()[1])
        self.recent.append((t, frame))
        # AREA: an averaging downscale, the right one for shrinking and 1.5x faster in swscale than its default
        # bicubic (1.2 -> 0.8 ms a 640x360 frame here); this resize runs on every decoded frame.
        image = frame.to_ndarray(width=self.detect_size[0], height=self.detect_size[1], format="bgr24",
                                 interpolation="AREA", threads=SWS_THREADS)
        cuts = self.detector.process_frame(FrameTimecode(Timecode(pts, self.time_base), fps=self.fps), image)
        closed = [self._cut(self._seconds_of(c)) for c in cuts if not self._too_soon(self._seconds_of(c))]
        limit = self.settings.max_scene_seconds
        if limit and t - self.scene.start >= limit:
            closed.append(self._cut(t))  # this frame opens the next scene
            self.forced_at = t
        self._maybe_keep(self.scene, t, frame)
        return [c for c in closed if c is not None]

    def _too_soon(self, t: float) -> bool:
        """A detector cut just after a forced one (`max_scene_seconds`) would leave a sliver of a scene: the detector
        does not know about our cut, so its own minimum scene length is applied here."""
        return self.forced_at is not None and self.forced_at <= t < self.forced_at + self.settings.min_scene_len

    def _seconds_of(self, cut: FrameTimecode) -> float:
        if cut.pts is not None and cut.time_base is not None:
            return self._seconds(cut.pts)
        return cut.seconds - float(self.start_pts * self.time_base)

    def _cut(self, t: float) -> ClosedScene | None:
        old = self.scene
        if t <= old.start:
            return None
        new = _OpenScene(start=t, interval=1.0 / self.settings.keyframe_candidates_per_second)
        new.candidates = [c for c in old.candidates if c.time >= t]
        old.candidates = [c for c in old.candidates if c.time < t]
        first = next(((ft, f) for ft, f in self.recent if ft >= t), None)
        if first is not None and (not new.candidates or new.candidates[0].time > first[0]):
            new.candidates.insert(0, self._candidate(first[0], first[1]))
        if new.candidates:
            new.next_time = new.candidates[-1].time + new.interval
        self.scene = new
        return ClosedScene(old.start, t, self._choose(old, t))

    def finish(self, end: float) -> ClosedScene:
        scene = self.scene
        return ClosedScene(scene.start, max(end, scene.start), self._choose(scene, end))

    def _choose(self, scene: _OpenScene, end: float) -> list[Keyframe]:
        """Pick the candidates nearest to start + i/n of the scene, distinct, in time order."""
        n, cands = self.settings.keyframes, scene.candidates
        chosen: list[_Candidate] = []
        for i in range(n):
            target = scene.start + (end - scene.start) * i / n
            free = [c for c in cands if all(c is not x for x in chosen)]
            if not free:
                break
            chosen.append(min(free, key=lambda c: abs(c.time - target)))
        return [self._keyframe(c) for c in sorted(chosen, key=lambda c: c.time)]

