"""Records of every scenestream topic, (de)serialised with orjson. The topics are in README.md, "Kafka mode"."""
from scenestream.schemas.codec import dumps, from_dict, loads, to_dict
from scenestream.schemas.records import (
    EVENT_KINDS,
    CAPTION_SCHEMA_VERSION,
    SCHEMA_VERSION,
    AgentWindow,
    AudioChunk,
    AudioEvent,
    AudioTags,
    Chapter,
    DeadLetter,
    Detections,
    Frame,
    FrameBatch,
    PixelFrame,
    Keyframe,
    Scene,
    SceneCaption,
    SceneText,
    Segment,
    SpeakerTurn,
    SpeakerTurns,
    TextLine,
    TrackObservation,
    TrackSummary,
    Transcript,
    TranscriptPart,
    Translation,
    VideoEvent,
    VideoRequest,
    VideoSummary,
    VlmCaption,
    Window,
    Word,
)
from scenestream.schemas.topics import RECORDS_BY_TOPIC

__all__ = [
    "EVENT_KINDS", "SCHEMA_VERSION", "CAPTION_SCHEMA_VERSION", "RECORDS_BY_TOPIC", "dumps", "loads", "to_dict", "from_dict",
    "AgentWindow", "AudioChunk", "AudioEvent", "AudioTags", "Chapter", "DeadLetter", "Detections", "Frame", "FrameBatch", "Keyframe", "PixelFrame",
    "Scene", "SceneCaption", "SceneText", "Segment", "SpeakerTurn", "SpeakerTurns", "TextLine", "TrackObservation", "TrackSummary", "Transcript", "TranscriptPart", "Translation", "VideoEvent",
    "VideoRequest", "VideoSummary", "VlmCaption", "Window", "Word",
]
