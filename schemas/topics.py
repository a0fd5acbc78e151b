"""Which record type travels on which topic (names without the configurable prefix)."""
from __future__ import annotations

from scenestream.schemas.records import (
    AudioChunk,
    AudioTags,
    Chapter,
    DeadLetter,
    Detections,
    FrameBatch,
    Scene,
    SceneCaption,
    SceneText,
    SpeakerTurns,
    Transcript,
    VideoEvent,
    VideoRequest,
    VideoSummary,
    VlmCaption,
)

# The topics around the agents' own (whose names the agent table gives): what users publish, what they read, the
# lifecycle and the dead letters. Code names them by these constants, so a typo is an ImportError, not a topic.
VIDEOS, CAPTIONS, VIDEO_EVENTS, ERRORS = "videos", "captions", "video-events", "errors"
CHAPTERS, SUMMARIES = "chapters", "summaries"  # the video as a whole (streams/video), from the captions
SCENES = "scenes"  # ingest's scenes, which the captioners share (Kafka mode may give it its own partition count)

RECORDS_BY_TOPIC: dict[str, type] = {
    VIDEOS: VideoRequest,
    SCENES: Scene,
    "audio": AudioChunk,
    "frames": FrameBatch,
    "transcripts": Transcript,
    "audio-tags": AudioTags,
    "detections": Detections,
    "vlm-captions": VlmCaption,
    "scene-text": SceneText,
    "speaker-turns": SpeakerTurns,
    CAPTIONS: SceneCaption,
    VIDEO_EVENTS: VideoEvent,
    ERRORS: DeadLetter,
    CHAPTERS: Chapter,
    SUMMARIES: VideoSummary,
}
