"""The parts of Kafka mode that need no broker: request checks, routing, settings, acknowledgement bookkeeping and
the joiner's stored state."""
import ssl
from types import SimpleNamespace

import faust
import orjson
import pytest

from scenestream.agents.errors import ConfigError
from scenestream.schemas import AudioChunk, FrameBatch, Keyframe, Scene, VideoEvent, VideoRequest, dumps
from scenestream.streams.core import table
from scenestream.streams.core.joiner import Joiner, VideoJoin
from scenestream.streams.runtimes.kafka.ingest import parse_request, routes
from scenestream.streams.runtimes.kafka.join import decode_state, encode_state
from scenestream.streams.runtimes.kafka.models import PendingAcks
from scenestream.streams.runtimes.kafka.settings import KafkaSettings, joiner_inputs
from scenestream.streams.runtimes.kafka.worker import joiner_sources, parse_agents, worker_plan
from tests import media


# ------------------------------------------------------------------ requests


@pytest.mark.parametrize("raw, key, video_id, reason", [
    (b"", b"k1", "k1", "bad_request: empty message"),
    (b"{nope", b"k2", "k2", "bad_request: not valid JSON"),
    (b"[1, 2]", None, "unknown", "bad_request: expected a JSON object, got list"),
    (b'{"video_id": "v3"}', b"k3", "v3", "bad_request: missing or empty field(s): uri"),
    (b'{"uri": "/x.mp4"}', b"k4", "k4", "bad_request: missing or empty field(s): video_id"),
    (b'{"video_id": "v5", "uri": 7}', None, "v5", "bad_request: missing or empty field(s): uri"),
    (b'{"video_id": "v6", "uri": "/x.mp4", "options": [1]}', None, "v6", "bad_request: options must be"),
])
def test_unreadable_requests_are_dead_letters_with_one_line(raw, key, video_id, reason):
    request, vid, why, unreadable = parse_request(raw, key)
    assert request is None and unreadable
    assert vid == video_id and why.startswith(reason) and "\n" not in why


def test_requests_for_what_cannot_be_served_fail_without_a_dead_letter(tmp_path):
    cases = {"gopher://example.invalid/x": "unsupported_scheme: ", str(tmp_path / "missing.mp4"): "not_found: ",
             str(tmp_path): "not_a_file: "}
    for uri, code in cases.items():
        request, vid, why, unreadable = parse_request(orjson.dumps({"video_id": "v", "uri": uri}), None)
        assert request is None and not unreadable and vid == "v" and why.startswith(code), why


def test_a_good_request_parses_with_its_options():
    raw = orjson.dumps({"video_id": "b", "uri": str(media.bikes()), "options": {"keyframes": 3}, "extra": 1})
    request, vid, why, unreadable = parse_request(raw, b"b")
    assert request is not None and vid == "b" and why == "" and not unreadable
    assert request.options == {"keyframes": 3}


def test_a_scene_goes_to_scenes_whole_and_to_scene_bounds_without_its_jpegs():
    scene = Scene("v", 2, 1.0, 2.5, [Keyframe(1.0, b"\xff\xd8jpeg", 336, 200), Keyframe(1.7, b"\xff\xd8x")])
    (t1, k1, r1), (t2, k2, r2) = routes(scene)
    assert (t1, k1, r1) == ("scenes", "v:2", scene)
    assert (t2, k2) == ("scene-bounds", "v")
    assert [k.time for k in r2.keyframes] == [1.0, 1.7] and all(k.jpeg == b"" for k in r2.keyframes)
    assert len(dumps(r2)) < 300
    assert routes(VideoEvent("v", "progress")) == [("video-events", "v", VideoEvent("v", "progress"))]


def test_audio_and_frames_go_to_their_topics_keyed_by_video():
    audio = AudioChunk("v", 0, 0.0, 1.0, b"\0\0" * 16000)
    frames = FrameBatch("v", 0, 0.0, 0.5, [])
    assert routes(audio) == [("audio", "v", audio)] and routes(frames) == [("frames", "v", frames)]
    with pytest.raises(TypeError):
        routes(VideoRequest("v", "x.mp4"))


# ------------------------------------------------------------------ acknowledgements


class Event:
    """Stands in for a faust event: records its acknowledgement."""

    def __init__(self, partition=0):
        self.acks = 0
        self.message = SimpleNamespace(tp=("audio", partition))

    def ack(self):
        self.acks += 1


def test_an_input_is_released_only_when_an_output_answers_it():
    pending = PendingAcks()
    events = [Event() for _ in range(4)]
    for i, e in enumerate(events):
        pending.hold("v", i, e)
    pending.answered("v", 1, last=False)  # e.g. ASR answered chunks 0 and 1
    assert [e.acks for e in events] == [1, 1, 0, 0]
    pending.answered("other", 9, last=True)
    assert [e.acks for e in events] == [1, 1, 0, 0]
    pending.answered("v", 2, last=True)  # the last answer releases everything of the video
    assert [e.acks for e in events] == [1, 1, 1, 1] and len(pending) == 0


def test_held_inputs_are_bounded_and_forgotten_with_their_partition():
    pending = PendingAcks(limit=3)
    events = [Event(partition=i % 2) for i in range(5)]
    for i, e in enumerate(events):
        pending.hold("v", i, e)
    assert [e.acks for e in events] == [1, 1, 0, 0, 0]  # the oldest beyond the limit are let go
    pending.forget({("audio", 0)})
    assert len(pending) == 1  # only partition 1's input is left
    pending.answered("v", 99, last=False)
    assert events[3].acks == 1 and events[2].acks == 0 and events[4].acks == 0


# ------------------------------------------------------------------ settings


def test_settings_come_from_the_environment_then_flags(monkeypatch):
    monkeypatch.setenv("SCENESTREAM_BROKER", "k1:9092,k2:9092")
    monkeypatch.setenv("SCENESTREAM_PARTITIONS", "8")
    monkeypatch.setenv("SCENESTREAM_PREFIX", "p.")
    s = KafkaSettings.from_env(partitions=None, guarantee="at_least_once")
    assert (s.broker, s.partitions, s.prefix, s.guarantee) == ("k1:9092,k2:9092", 8, "p.", "at_least_once")
    assert KafkaSettings.from_env(partitions=2).partitions == 2
    monkeypatch.setenv("SCENESTREAM_PARTITIONS", "eight")
    with pytest.raises(ConfigError, match="SCENESTREAM_PARTITIONS"):
        KafkaSettings.from_env()


def test_topics_are_laid_out_for_the_joiner_and_for_short_lived_media():
    s = KafkaSettings(prefix="x.", partitions=6, scene_partitions=12)
    assert s.topic("captions") == "x.captions"
    assert {s.partitions_of(n) for n in joiner_inputs()} == {6} and s.partitions_of("scenes") == 12
    assert s.topic_config("audio")["retention.ms"] == "3600000"
    assert "retention.ms" not in s.topic_config("transcripts")
    assert s.topic_config("captions")["cleanup.policy"] == "compact,delete"
    assert all(s.topic_config(n)["cleanup.policy"] == "compact,delete" for n in ("chapters", "summaries"))
    assert all(s.topic_config(n)["max.message.bytes"] == "1048576" for n in ("frames", "captions"))
    assert s.group_for(["joiner", "ingest"]) == s.group_for(["ingest", "joiner"]) == "x.worker-ingest-joiner"
    assert KafkaSettings(group="mine").group_for(["asr"]) == "mine"


@pytest.mark.parametrize("changes, message", [
    ({"guarantee": "maybe"}, "guarantee"), ({"store": "redis://"}, "store"), ({"partitions": 0}, "partitions"),
    ({"prefix": "a b"}, "prefix"), ({"sasl_username": "u"}, "PASSWORD"), ({"sasl_mechanism": "MD5"}, "SASL"),
    ({"heartbeat_interval": 20.0}, "heartbeat"), ({"shutdown_grace": 0}, "shutdown_grace"),
    ({"shutdown_grace": 26}, "shutdown_grace"),
])
def test_bad_settings_are_one_line_config_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        KafkaSettings(**changes).checked()


def test_credentials_reach_both_kinds_of_client(tmp_path):
    plain = KafkaSettings()
    assert plain.aiokafka_auth() == {"security_protocol": "PLAINTEXT"} and plain.faust_credentials() == (None, None)

    sasl = KafkaSettings(sasl_mechanism="scram-sha-512", sasl_username="u", sasl_password="s3cret")
    auth = sasl.aiokafka_auth()
    assert auth == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                    "sasl_plain_username": "u", "sasl_plain_password": "s3cret"}
    creds, _ = sasl.faust_credentials()
    assert isinstance(creds, faust.SASLCredentials) and creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.username == "u" and creds.protocol.value == "SASL_PLAINTEXT"
    assert "s3cret" not in repr(sasl)  # the password stays out of logs

    ca = ssl.get_default_verify_paths().cafile
    if ca:  # the system CA bundle stands in for a cluster's CA
        tls = KafkaSettings(sasl_username="u", sasl_password="p", ssl_cafile=ca)
        auth = tls.aiokafka_auth()
        assert auth["security_protocol"] == "SASL_SSL" and isinstance(auth["ssl_context"], ssl.SSLContext)
        creds, _ = tls.faust_credentials()
        assert creds.protocol.value == "SASL_SSL"
        assert KafkaSettings(ssl_cafile=ca).aiokafka_auth()["security_protocol"] == "SSL"


def test_worker_arguments():
    assert parse_agents("joiner, ingest,joiner") == ["joiner", "ingest"]
    with pytest.raises(ConfigError, match="unknown agent .telepathy."):
        parse_agents("ingest,telepathy")
    plan = worker_plan(["ingest", "asr", "joiner"], ["captioner.model=a=b", "asr.language=en", "joiner.sources=asr"])
    assert plan.agents == ["asr"]
    assert plan.options == {"captioner": {"model": "a=b"}, "asr": {"language": "en"}, "joiner": {"sources": "asr"}}
    for bad in ("model=x", "nobody.model=x", "asr.language", "asr.nothing=1", "joiner.when=now", "keyframes=x"):
        with pytest.raises(ConfigError):
            worker_plan(["ingest", "asr"], [bad])
    assert joiner_sources({"sources": "none"}) == []
    assert joiner_sources({"sources": "asr, captioner"}) == ["asr", "captioner"]
    # By default: the default agents, and an agent off by default that this same worker runs.
    assert joiner_sources({}) == table.defaults() and "speakers" not in table.defaults()
    assert joiner_sources({}, ["ingest", "asr", "speakers", "joiner"]) == [*table.defaults(), "speakers"]
    with pytest.raises(ConfigError, match="joiner.sources"):
        joiner_sources({"sources": "telepathy"})


# ------------------------------------------------------------------ joiner state


def test_a_finished_video_is_stored_as_a_tombstone_that_ignores_replays():
    joiner = Joiner([])
    v = VideoJoin("v", [])
    out = []
    for i, (a, b) in enumerate([(0.0, 1.0), (1.0, 2.0)]):
        out += joiner.apply(v, Scene("v", i, a, b, [Keyframe(a, b"")], last=i == 1))
    assert [type(o).__name__ for o in out] == ["SceneCaption", "SceneCaption", "VideoEvent"] and v.done
    stored = encode_state(v)
    back = decode_state(stored)
    assert back.done and back.next_index == 2 and back.scenes == {} and back.state == {}
    assert joiner.apply(back, Scene("v", 1, 1.0, 2.0, last=True)) == []  # a replay after a crash: nothing again

    open_video = VideoJoin("w", ["asr"])
    joiner.apply(open_video, Scene("w", 0, 0.0, 1.0, [Keyframe(0.0, b"")]))
    assert decode_state(encode_state(open_video)) == open_video  # open state round-trips exactly


def test_a_live_request_gets_the_latency_profile_under_the_users_options():
    from scenestream.streams.cli.kafka import request_options

    assert request_options("clip.mp4", ["keyframes=3"], None) == {"keyframes": "3"}
    live = request_options("rtsp://cam/1", ["audio_chunk_seconds=5"], None)
    assert live["audio_chunk_seconds"] == "5" and live["max_scene_seconds"] == 10.0  # the user's value wins
    assert "max_scene_seconds" in request_options("http://host/live.ts", [], True)
    assert request_options("rtsp://cam/1", [], False) == {}
    with pytest.raises(ConfigError, match="unknown agent 'asr'"):  # a request carries ingest's options only
        request_options("rtsp://cam/1", ["asr.window=2"], None)
