"""One record type per topic (README.md, "Kafka mode", Topics). Times are seconds from the start of the video, on one time base:
pts x time_base minus the stream's start time. Every window is half-open, [start, end).

Windows carry `index` (their position in their own sequence, from 0) and `last` (true on the final one), so a
consumer can tell when a source has covered a video completely without waiting on anything else.
"""
from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Annotated, Any

from msgspec import Meta

SCHEMA_VERSION = 1
CAPTION_SCHEMA_VERSION = 3  # SceneCaption: 2 added text, extra and emitted_at; 3 caption_usage and speakers

# Shapes checked when a record is read (schemas/codec.py) and stated in the JSON Schema files.
Index = Annotated[int, Meta(ge=0)]
Box = Annotated[list[float], Meta(min_length=4, max_length=4)]  # normalised x1, y1, x2, y2


# ---------------------------------------------------------------- input


@dataclass
class VideoRequest:
    """Topic `videos`: what a user publishes."""

    video_id: str
    uri: str
    options: dict = field(default_factory=dict)
    submitted_at: float = 0.0
    schema_version: int = SCHEMA_VERSION


# ---------------------------------------------------------------- the window envelope


@dataclass
class Window:
    """What every window record carries: which video, its place in its own sequence, the half-open span [start, end)
    it covers, and whether it is the last. The four leading fields are positional (every record reads
    `Kind(video_id, index, start, end, payload...)`); the rest are keyword-only, so each kind adds its payload
    after the envelope's positional fields."""

    video_id: str
    index: Index
    start: float
    end: float
    _: KW_ONLY
    last: bool = False
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return f"{self.video_id}:{self.index}"


@dataclass
class AgentWindow(Window):
    """A window an agent made from one input window: the model that made it (positional, after the bounds), and
    `error` (a one-line reason) when the agent could not, so a downstream joiner still sees the window and marks it
    missing."""

    model: str = ""
    _: KW_ONLY
    error: str | None = None


# ---------------------------------------------------------------- ingest output


@dataclass
class Keyframe:
    time: float
    jpeg: bytes
    width: int = 0
    height: int = 0


@dataclass
class Scene(Window):
    """Topic `scenes`: one detected scene with its keyframes (JPEG, short side 336 px by default)."""

    keyframes: list[Keyframe] = field(default_factory=list)


@dataclass
class AudioChunk(Window):
    """Topic `audio`: 16 kHz mono signed 16-bit little-endian PCM covering [start, end)."""

    pcm: bytes
    sample_rate: int = 16000


@dataclass
class Frame:
    time: float
    jpeg: bytes
    width: int = 0
    height: int = 0


class PixelFrame(Frame):
    """A Frame that stays in one process (the embedded runtime): the decoded picture as a height x width x 3 BGR
    uint8 array in `pixels`, and no JPEG. Encoding 2 frames a second as JPEG only for the detector to decode them
    again cost ingest more CPU than scene detection. It cannot leak onto a topic: the codec refuses to serialise it
    (to orjson a subclass of a dataclass is not one), and no reader ever builds one."""

    def __init__(self, time: float, pixels: Any):
        super().__init__(time, b"", int(pixels.shape[1]), int(pixels.shape[0]))
        self.pixels = pixels


@dataclass
class FrameBatch(Window):
    """Topic `frames`: frames sampled at a set rate over [start, end), in order."""

    frames: list[Frame] = field(default_factory=list)


# ---------------------------------------------------------------- agent outputs


@dataclass
class Word:
    word: str
    start: float
    end: float
    probability: float = 0.0
    speaker: str = ""  # in a SceneCaption's transcript, with the speakers agent on: who said it (S1, S2, ...)


@dataclass
class Segment:
    """A stretch of translated speech: Whisper translates whole segments, without word times."""

    text: str
    start: float
    end: float


@dataclass
class Translation:
    language: str = "en"  # the language translated into (Whisper translates into English)
    text: str = ""
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Transcript(AgentWindow):
    """Topic `transcripts`: what was said in one audio window (with `asr.translate=en`, also in English)."""

    language: str = ""
    text: str = ""
    words: list[Word] = field(default_factory=list)
    translation: Translation | None = None


@dataclass
class AudioEvent:
    label: str
    score: float
    start: float
    end: float


@dataclass
class AudioTags(AgentWindow):
    """Topic `audio-tags`: sound events heard in one audio window."""

    events: list[AudioEvent] = field(default_factory=list)


@dataclass
class TrackObservation:
    track_id: int
    label: str
    confidence: float
    box: Box  # normalised x1, y1, x2, y2 in [0, 1]
    time: float


@dataclass
class Detections(AgentWindow):
    """Topic `detections`: tracked objects in one frame batch."""

    tracks: list[TrackObservation] = field(default_factory=list)


@dataclass
class VlmCaption(AgentWindow):
    """Topic `vlm-captions`: the caption of one scene."""

    caption: str = ""
    latency: float = 0.0  # seconds of generation, model loading excluded
    labels: list[str] = field(default_factory=list)  # image labels, used by the offline captioner
    keyframe_times: list[float] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)  # tokens (prompt_tokens, completion_tokens) from a server


@dataclass
class TextLine:
    """One line of on-screen text, merged over the frames of a scene that show it."""

    text: str
    score: float
    box: Box  # in the first frame it was read in
    start: float  # time of the first frame it was read in
    end: float  # time of the last frame it was read in
    frames: int = 1  # how many of the frames read showed it


@dataclass
class SceneText(AgentWindow):
    """Topic `scene-text`: on-screen text (OCR) read in one scene's frames."""

    lines: list[TextLine] = field(default_factory=list)


@dataclass
class SpeakerTurn:
    speaker: str  # S1, S2, ... in order of first appearance; the same person keeps the label for the whole video
    start: float
    end: float


@dataclass
class SpeakerTurns(AgentWindow):
    """Topic `speaker-turns`: who spoke when in one audio window (no turns: nobody spoke)."""

    turns: list[SpeakerTurn] = field(default_factory=list)
    # The video's speakers after this window (label -> running sum of unit voice vectors, a few kB), from which a
    # worker that takes the video over carries on with the same labels.
    state: dict[str, list[float]] = field(default_factory=dict)


# ---------------------------------------------------------------- joiner output


@dataclass
class TranscriptPart:
    text: str = ""
    language: str = ""
    words: list[Word] = field(default_factory=list)
    translation: Translation | None = None  # schema 3: with `asr.translate=en`, the scene's speech in English


@dataclass
class TrackSummary:
    track_id: int
    label: str
    first: float
    last: float
    observations: int
    max_confidence: float


@dataclass
class SceneCaption(Window):
    """Topic `captions`: the final record of one scene, keyed `video_id:index`."""

    caption: str = ""
    captioner: str = ""
    transcript: TranscriptPart = field(default_factory=TranscriptPart)
    audio_events: list[AudioEvent] = field(default_factory=list)
    objects: dict[str, int] = field(default_factory=dict)
    tracks: list[TrackSummary] = field(default_factory=list)
    keyframe_times: list[float] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    # Added in schema version 2 (older readers ignore new fields): on-screen text, fields filled by agents added as
    # plugins (agent name -> its output), and the wall time (epoch seconds) at which the record was emitted.
    text: list[TextLine] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    emitted_at: float = 0.0
    # Added in schema version 3: the token usage of the caption's request to a model server (empty otherwise),
    # and who spoke when in the scene (with the speakers agent on; each transcript word then has its `speaker`).
    caption_usage: dict[str, int] = field(default_factory=dict)
    speakers: list[SpeakerTurn] = field(default_factory=list)
    _: KW_ONLY
    schema_version: int = CAPTION_SCHEMA_VERSION  # the envelope's field, with this record's own version


# ---------------------------------------------------------------- the video as a whole


@dataclass
class Chapter(Window):
    """Topic `chapters`: one chapter of a video, keyed `video_id:index`, sent once its end is confirmed (a few
    scenes after it). `scenes` is the first and the last scene index it holds (inclusive)."""

    title: str = ""
    scenes: list[int] = field(default_factory=list)
    titled_by: str = ""  # "keyphrases" offline, else the model that wrote the title


@dataclass
class VideoSummary:
    """Topic `summaries`: the summary of one video, keyed by video id, sent when its last chapter closes."""

    video_id: str
    summary: str = ""
    method: str = ""  # "extractive" offline, else the model that wrote it (map-reduce over the chapters)
    chapters: int = 0
    rounds: int = 0  # map-reduce: the reduce requests it took (0 offline)
    duration: float = 0.0
    schema_version: int = SCHEMA_VERSION


# ---------------------------------------------------------------- lifecycle


EVENT_KINDS = ("accepted", "ingested", "progress", "done", "failed")


@dataclass
class VideoEvent:
    """Topic `video-events`: lifecycle of one video. `ingested` carries duration and counts; `failed` a code and
    a one-line message."""

    video_id: str
    kind: str
    time: float = 0.0  # wall-clock epoch seconds
    uri: str = ""
    duration: float | None = None
    position: float | None = None  # for progress: seconds of video handled so far
    has_video: bool | None = None
    has_audio: bool | None = None
    counts: dict[str, int] = field(default_factory=dict)
    code: str = ""
    message: str = ""
    schema_version: int = SCHEMA_VERSION


@dataclass
class DeadLetter:
    """Topic `errors`: a message no agent could read, kept with the reason."""

    topic: str
    reason: str
    payload: str  # the raw message, decoded as UTF-8 with replacement, truncated
    time: float = 0.0
    schema_version: int = SCHEMA_VERSION
