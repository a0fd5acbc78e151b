"""Which record type travels on which topic (names without the configurable prefix)."""
from __future__ import annotations

from scenestream.schemas.records import (
    AudioChunk,
    AudioTags,
    DeadLetter,
    Detections,
    FrameBatch,
    Scene,
    SceneCaption,
    SceneText,
    Transcript,
    VideoEvent,
    VideoRequest,
    VlmCaption,
)

RECORDS_BY_TOPIC: dict[str, type] = {
    "videos": VideoRequest,
    "scenes": Scene,
    "audio": AudioChunk,
    "frames": FrameBatch,
    "transcripts": Transcript,
    "audio-tags": AudioTags,
    "detections": Detections,
    "vlm-captions": VlmCaption,
    "scene-text": SceneText,
    "captions": SceneCaption,
    "video-events": VideoEvent,
    "errors": DeadLetter,
}
