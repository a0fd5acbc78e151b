"""The joiner alone, on hand-made records: ordering, coverage watermarks, missing fields, bounded state."""
import random

from scenestream.schemas import (
    AudioEvent, AudioTags, Detections, Scene, SceneCaption, TrackObservation, Transcript, VideoEvent, VlmCaption, Word,
)
from scenestream.streams.core.joiner import Joiner, VideoJoin

V = "vid"


def scenes(bounds):
    return [Scene(V, i, a, b, last=(i == len(bounds) - 1)) for i, (a, b) in enumerate(bounds)]


def captions(out):
    return [r for r in out if isinstance(r, SceneCaption)]


def test_without_agents_every_scene_is_emitted_in_order_with_missing_marked():
    j = Joiner([])
    out = []
    for s in scenes([(0, 1.2), (1.2, 3.0), (3.0, 4.0)]):
        out += j.add(s)
    caps = captions(out)
    assert [c.index for c in caps] == [0, 1, 2]
    assert caps[0].missing == {s: "not enabled" for s in ("captioner", "asr", "tagger", "detector", "ocr", "speakers")}
    assert isinstance(out[-1], VideoEvent) and out[-1].kind == "done"
    assert j.videos == {}  # state released when the video is done


def test_scene_waits_for_caption_and_audio_coverage():
    j = Joiner(["captioner", "asr"])
    s = scenes([(0, 5), (5, 12)])
    assert j.add(VideoEvent(V, "accepted", has_video=True, has_audio=True)) == []
    assert j.add(s[0]) == []
    assert j.add(VlmCaption(V, 0, 0, 5, "m", "a cat", 0.3)) == []  # audio not yet covering 5 s
    out = j.add(Transcript(V, 0, 0, 10, "w", "en", " hi", [Word(" hi", 1.0, 1.5), Word(" there", 6.0, 6.4)]))
    [c0] = captions(out)
    assert c0.caption == "a cat" and c0.transcript.text == "hi" and c0.transcript.language == "en"
    assert [w.word for w in c0.transcript.words] == [" hi"]
    assert c0.timings["caption"] == 0.3
    assert j.add(s[1]) == []  # needs its caption
    assert j.add(VlmCaption(V, 1, 5, 12, "m", "a dog", 0.2)) == []  # audio covers only to 10 s
    out = j.add(Transcript(V, 1, 10, 12, "w", "en", "", [], last=True))
    [c1] = captions(out)
    assert [w.word for w in c1.transcript.words] == [" there"]
    assert out[-1].kind == "done"


def test_out_of_order_windows_use_a_contiguous_prefix():
    j = Joiner(["tagger"])
    j.add(VideoEvent(V, "accepted", has_video=True, has_audio=True))
    j.add(Scene(V, 0, 0, 15, last=True))
    assert captions(j.add(AudioTags(V, 1, 10, 20, "y", [AudioEvent("Bell", 0.9, 12, 14)], last=True))) == []
    out = j.add(AudioTags(V, 0, 0, 10, "y", [AudioEvent("Speech", 0.8, 2, 4)]))
    [c] = captions(out)
    assert [(e.label, e.start, e.end) for e in c.audio_events] == [("Speech", 2, 4), ("Bell", 12, 14)]


def test_sound_spans_split_at_chunk_edges_are_joined():
    j = Joiner(["tagger"])
    j.add(VideoEvent(V, "accepted", has_video=True, has_audio=True))
    j.add(Scene(V, 0, 0, 20, last=True))
    j.add(AudioTags(V, 0, 0, 10, "y", [AudioEvent("Speech", 0.6, 8, 10)]))
    [c] = captions(j.add(AudioTags(V, 1, 10, 20, "y", [AudioEvent("Speech", 0.9, 10, 12)], last=True)))
    assert [(e.label, e.score, e.start, e.end) for e in c.audio_events] == [("Speech", 0.9, 8, 12)]


def test_no_audio_track_marks_audio_fields_missing_without_waiting():
    j = Joiner(["asr", "tagger", "detector"])
    j.add(VideoEvent(V, "accepted", has_video=True, has_audio=False))
    j.add(Scene(V, 0, 0, 4, last=True))
    out = j.add(Detections(V, 0, 0, 4, "yolo", [TrackObservation(1, "person", 0.9, [0, 0, 1, 1], 1.0),
                                                TrackObservation(1, "person", 0.8, [0, 0, 1, 1], 1.5),
                                                TrackObservation(2, "person", 0.7, [0, 0, 1, 1], 2.0),
                                                TrackObservation(5, "car", 0.6, [0, 0, 1, 1], 2.0)], last=True))
    [c] = captions(out)
    assert c.missing == {"captioner": "not enabled", "asr": "no audio track", "tagger": "no audio track",
                         "ocr": "not enabled", "speakers": "not enabled"}
    assert c.objects == {"person": 2, "car": 1}
    assert [(t.track_id, t.observations) for t in c.tracks] == [(1, 2), (2, 1), (5, 1)]


def test_a_failed_window_marks_the_field_missing_with_its_reason():
    j = Joiner(["asr"])
    j.add(VideoEvent(V, "accepted", has_video=True, has_audio=True))
    j.add(Scene(V, 0, 0, 10, last=True))
    [c] = captions(j.add(Transcript(V, 0, 0, 10, "w", last=True, error="RuntimeError: boom")))
    assert c.missing["asr"] == "RuntimeError: boom"


def test_failed_video_releases_state_and_never_waits():
    j = Joiner(["captioner"])
    j.add(Scene(V, 0, 0, 1))
    out = j.add(VideoEvent(V, "failed", code="truncated", message="cut short"))
    [c] = captions(out)
    assert c.missing["captioner"].startswith("video failed")
    assert j.videos == {}


def test_duplicates_and_replays_do_not_emit_twice():
    j = Joiner(["captioner"])
    s = scenes([(0, 1), (1, 2)])
    out = []
    for rec in [s[0], VlmCaption(V, 0, 0, 1, "m", "x"), s[0], VlmCaption(V, 0, 0, 1, "m", "x"), s[1],
                VlmCaption(V, 1, 1, 2, "m", "y")]:
        out += j.add(rec)
    assert [c.index for c in captions(out)] == [0, 1]


def test_emission_is_deterministic_under_any_arrival_order():
    bounds = [(i * 2.0, i * 2.0 + 2.0) for i in range(12)]
    records = [VideoEvent(V, "accepted", has_video=True, has_audio=True)]
    records += scenes(bounds)
    records += [VlmCaption(V, i, a, b, "m", f"c{i}") for i, (a, b) in enumerate(bounds)]
    records += [Transcript(V, i, i * 5.0, i * 5.0 + 5.0, "w", "en", "", [Word(f" w{i}", i * 5.0 + 1, i * 5.0 + 2)],
                           last=(i == 4)) for i in range(5)]
    reference = None
    for seed in range(20):
        shuffled = records[:1] + random.Random(seed).sample(records[1:], len(records) - 1)
        j = Joiner(["captioner", "asr"])
        out = [r for rec in shuffled for r in captions(j.add(rec))]
        assert [c.index for c in out] == list(range(12))
        if reference is None:
            reference = out
        assert out == reference


def test_state_stays_bounded_on_a_long_stream():
    j = Joiner(["captioner", "asr"])
    j.add(VideoEvent(V, "accepted", has_video=True, has_audio=True))
    peak = 0
    n = 2000
    for i in range(n):
        j.add(Scene(V, i, i * 3.0, i * 3.0 + 3.0, last=(i == n - 1)))
        j.add(Transcript(V, i, i * 3.0, i * 3.0 + 3.0, "w", "en", "", [Word(" a", i * 3.0, i * 3.0 + 1)],
                         last=(i == n - 1)))
        j.add(VlmCaption(V, i, i * 3.0, i * 3.0 + 3.0, "m", "c"))
        v = j.videos.get(V)
        if v is not None:
            peak = max(peak, len(v.scenes) + sum(map(len, v.per_scene.values())) + sum(len(s.windows) for s in v.state.values()))
    assert peak <= 3
    assert j.videos == {}


def test_state_round_trips_through_its_encoding():
    j = Joiner(["captioner", "asr"])
    j.add(VideoEvent(V, "accepted", has_video=True, has_audio=False))
    j.add(Scene(V, 0, 0, 1))
    v = j.videos[V]
    j.add(VlmCaption(V, 0, 0, 1, "m", "c"))
    assert v.per_scene  # a caption waiting for the transcript
    assert VideoJoin.decode(v.encode()) == v


def test_offline_caption_is_completed_with_what_the_other_agents_found():
    j = Joiner(["captioner", "asr", "tagger", "detector"])
    j.add(VideoEvent(V, "accepted", has_video=True, has_audio=True))
    j.add(Scene(V, 0, 0, 4, last=True))
    j.add(VlmCaption(V, 0, 0, 4, "offline:efficientnet-lite0", "The frames look like minibus.", 0.1,
                     labels=["minibus", "streetcar"]))
    j.add(Transcript(V, 0, 0, 4, "w", "en", " hello", [Word(" hello", 1.0, 1.5)], last=True))
    j.add(AudioTags(V, 0, 0, 4, "y", [AudioEvent("Speech", 0.9, 1.0, 1.5)], last=True))
    [c] = captions(j.add(Detections(V, 0, 0, 4, "yolo", [TrackObservation(1, "person", 0.9, [0, 0, 1, 1], 1.0),
                                                        TrackObservation(2, "person", 0.9, [0, 0, 1, 1], 1.0)],
                                    last=True)))
    assert c.caption == ('A 4.0-second scene whose frames look like minibus and streetcar. Tracked: 2 persons. '
                         'Sounds: speech. Speech: "hello"')
    assert c.captioner == "offline:efficientnet-lite0" and c.missing == {"ocr": "not enabled", "speakers": "not enabled"}
