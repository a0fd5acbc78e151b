from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class IngestSettings:
    """How ingest decodes and what it emits. Every field can be overridden per request through
    `VideoRequest.options` (an unknown key or a bad value is rejected with a one-line reason)."""

    detector: str = "content"  # PySceneDetect detector: "content" or "adaptive"
    threshold: float | None = None  # detector threshold; None = PySceneDetect's default
    min_scene_len: float = 0.6  # seconds; PySceneDetect's default of 15 frames at 25 fps
    max_scene_seconds: float = 0.0  # 0 = off; else a scene this long is closed even without a cut. A detector
    #   only reports a cut once it sees the next scene's frames, so without this a live source's long shot (a
    #   fixed camera) would give no record until the shot ends; live sources set it (streams/core/live.py)
    detect_width: int = 256  # frames are downscaled to about this width for detection, as PySceneDetect does
    keyframes: int = 2  # per scene, at 0, 1/n, 2/n ... of its duration (2 = start and middle, as the seed)
    keyframe_short_side: int = 336
    keyframe_candidates_per_second: float = 8.0  # candidate rate before thinning; bounds middle-frame error
    keyframe_candidate_limit: int = 32  # candidates kept per open scene (thinned 2:1 when exceeded)
    jpeg_quality: int = 85
    audio_chunk_seconds: float = 10.0  # 10 s of 16 kHz s16 mono = 320 kB (427 kB as base64): well under 1 MB
    sample_rate: int = 16000
    frame_rate: float = 2.0  # frames per second sampled for the detector
    frame_long_side: int = 640
    frames_per_batch: int = 8
    progress_every: float = 10.0  # seconds of video between progress events
    open_timeout: float = 15.0  # seconds, for network sources
    max_decode_errors: int = 100  # corrupt packets tolerated before giving up
    truncation_tolerance: float = 0.9  # decoding less than this share of the declared duration = truncated

    def with_options(self, options: dict) -> "IngestSettings":
        """These settings with a request's options on top. A bad option is an InputError (the request fails with
        `bad_option`, the worker goes on)."""
        from scenestream.agents.errors import ConfigError, InputError
        from scenestream.agents.options import convert

        base = {f.name: getattr(self, f.name) for f in fields(self)}
        try:
            out = convert(IngestSettings, {**base, **(options or {})}, "ingest")
        except ConfigError as exc:
            raise InputError("bad_option", str(exc)) from None
        if out.detector not in ("content", "adaptive"):
            raise InputError("bad_option", f"detector must be 'content' or 'adaptive', not {out.detector!r}")
        for key in ("keyframes", "frames_per_batch", "keyframe_candidate_limit"):
            if getattr(out, key) < 1:
                raise InputError("bad_option", f"{key} must be at least 1")
        if out.max_scene_seconds < 0:
            raise InputError("bad_option", "max_scene_seconds must be 0 (off) or positive")
        for key in ("audio_chunk_seconds", "frame_rate", "keyframe_candidates_per_second"):
            if getattr(out, key) <= 0:
                raise InputError("bad_option", f"{key} must be positive")
        return out
