"""The audio tagger on real sounds with the real YAMNet weights from the offline pack, the window merging on
hand-made scores, and the AST code path on a tiny randomly initialised AST saved and loaded like a hub model."""
import av
import numpy as np
import pytest

from scenestream.agents.errors import ConfigError
from scenestream.agents.tagger import TaggerAgent, TaggerSettings
from scenestream.agents.tagger.spans import merge_windows, window_starts
from scenestream.schemas import AudioChunk, AudioTags, Scene, SceneCaption, VideoEvent
from scenestream.streams.core.joiner import Joiner
from tests import media

SR = 16000
# AST's own extractor settings (128 bins from a 400-sample window) leave one mel filter empty; transformers says so.
pytestmark = pytest.mark.filterwarnings("ignore:At least one mel filter has all zero values")

# AudioSet classes of each sound's family (the file name says what it is). AudioSet files "Alarm clock", "Buzzer",
# "Smoke detector, smoke alarm" under "Alarm", and has the onomatopoeia "Beep, bleep"; "Ding" is a bell's ring.
EXPECTED = {
    "bell": {"Bell", "Church bell", "Jingle bell", "Bicycle bell", "Tuning fork", "Chime", "Wind chime",
             "Change ringing (campanology)", "Ding", "Ding-dong", "Doorbell"},
    "phone-incoming-call": {"Telephone", "Telephone bell ringing", "Ringtone"},
    "alarm-clock-elapsed": {"Alarm clock", "Alarm", "Buzzer", "Smoke detector, smoke alarm", "Beep, bleep"},
}


def pcm(path) -> bytes:
    """Any audio file as 16 kHz mono s16le, decoded with PyAV (as ingest does)."""
    out = []
    with av.open(str(path)) as c:
        r = av.AudioResampler(format="s16", layout="mono", rate=SR)
        for frame in c.decode(audio=0):
            out += [f.to_ndarray().tobytes() for f in r.resample(frame)]
        out += [f.to_ndarray().tobytes() for f in r.resample(None)]
    return b"".join(out)


def chunks(data: bytes, start: float = 0.0, seconds: float = 10.0, video="v") -> list[AudioChunk]:
    """10 s chunks tiling `data`, as ingest cuts them."""
    step = int(seconds * SR) * 2
    parts = [data[i:i + step] for i in range(0, len(data), step)]
    out, t = [], start
    for i, p in enumerate(parts):
        end = t + len(p) / 2 / SR
        out.append(AudioChunk(video, i, t, end, p, last=(i == len(parts) - 1)))
        t = end
    return out


def silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(seconds * SR)


@pytest.fixture(scope="module")
def yamnet():
    agent = TaggerAgent.from_options({})  # offline (tests/conftest.py): the pack's YAMNet
    agent.setup()
    yield agent
    agent.close()


def test_offline_default_is_yamnet(yamnet):
    s = yamnet.settings
    assert (s.backend, s.model, s.window, s.hop, s.threshold) == ("yamnet", "yamnet", 0.96, 0.48, 0.3)
    assert yamnet.model_id == "yamnet-int8" and len(yamnet.backend.labels) == 521


@pytest.mark.parametrize("sound", sorted(EXPECTED))
def test_desktop_sound_class_is_in_the_top_five(yamnet, sound):
    wave = np.frombuffer(pcm(media.desktop_sound(sound)), "<i2").astype(np.float32) / 32768
    scores, _ = yamnet.scores(wave)
    best = scores.max(axis=0)  # each class's best window
    top5 = [yamnet.backend.labels[i] for i in np.argsort(-best)[:5]]
    assert EXPECTED[sound] & set(top5), top5


def test_speech_gives_speech(yamnet):
    [tags] = yamnet.process(chunks(pcm(media.speech_wav()))[0])
    assert tags.error is None
    [speech] = [e for e in tags.events if e.label == "Speech"]  # one span: the windows merged
    assert speech.score > 0.9 and speech.start == 0.0 and speech.end == tags.end


def test_read_speech_gives_speech(yamnet):
    wav, _ = media.librivox()[0]
    [tags] = yamnet.process(chunks(pcm(wav))[0])
    assert "Speech" in {e.label for e in tags.events}


def test_silence_gives_nothing_above_the_threshold(yamnet):
    data = pcm(media.silence_wav())
    scores, _ = yamnet.scores(np.frombuffer(data, "<i2").astype(np.float32) / 32768)
    assert scores[:, yamnet.backend.labels.index("Silence")].min() > 0.9  # the model did hear silence
    [tags] = yamnet.process(chunks(data)[0])
    assert tags.error is None and tags.events == []  # and "Silence" is not an event


def test_windows_reach_the_end_of_every_chunk(yamnet):
    _, starts = yamnet.scores(np.zeros(10 * SR, np.float32))
    # YAMNet's own padding: 20 patches, the last one 9.12-10.08 s (zero-padded), so the chunk's tail is heard.
    assert len(starts) == 20 and starts[-1] == pytest.approx(9.12)


def test_one_record_per_chunk_with_absolute_times_and_spans_joined_across_the_edge(yamnet):
    """Read speech from 6 s to 13.1 s of a 20 s stream: it crosses the chunk edge at 10 s."""
    wav, _ = media.librivox()[0]
    speech = pcm(wav)
    data = silence(6) + speech + silence(20 - 6 - len(speech) / 2 / SR)
    recs = [t for c in chunks(data, start=100.0) for t in yamnet.process(c)]
    assert [(t.index, t.start, t.end, t.last, t.error) for t in recs] == [(0, 100.0, 110.0, False, None),
                                                                        (1, 110.0, 120.0, True, None)]
    for t in recs:
        assert all(t.start <= e.start < e.end <= t.end for e in t.events)
    [before] = [e for e in recs[0].events if e.label == "Speech"]
    [after] = [e for e in recs[1].events if e.label == "Speech"]
    assert 105.0 <= before.start <= 106.5 and before.end == 110.0  # the span runs to the chunk's edge...
    assert after.start == 110.0 and 112.5 <= after.end <= 114.5  # ...and the next one starts there
    # The joiner joins the two halves into one span of the scene.
    j = Joiner(["tagger"])
    j.add(VideoEvent("v", "accepted", has_video=True, has_audio=True))
    j.add(Scene("v", 0, 100.0, 120.0, last=True))
    out = [r for t in recs for r in j.add(t) if isinstance(r, SceneCaption)]
    [joined] = [e for e in out[0].audio_events if e.label == "Speech"]
    assert (joined.start, joined.end) == (before.start, after.end)


def test_bad_input_is_an_error_record(yamnet):
    [tags] = yamnet.process(AudioChunk("v", 4, 40.0, 41.0, b"\x00" * 3, last=True))
    assert tags.error and "odd number" in tags.error and "\n" not in tags.error
    assert (tags.index, tags.start, tags.end, tags.last, tags.events) == (4, 40.0, 41.0, True, [])
    [tags] = yamnet.process(AudioChunk("v", 0, 0.0, 1.0, b"\x00" * 100, sample_rate=44100))
    assert tags.error and "16 kHz" in tags.error
    [tags] = yamnet.process(AudioChunk("v", 1, 1.0, 1.0, b""))
    assert tags.error is None and tags.events == []


# ------------------------------------------------------------------------------------------ windows and merging

def test_window_starts_cover_the_whole_input():
    assert window_starts(100, 40, 20) == [0, 20, 40, 60]  # 60 + 40 reaches 100
    assert window_starts(90, 40, 20) == [0, 20, 40, 60]  # the last one runs past the end (padded)
    assert window_starts(10, 40, 20) == [0]


def test_merge_consecutive_windows_into_spans():
    labels = ["Speech", "Music", "Silence", "Dog"]
    scores = np.array([  # four windows of 1 s every 0.5 s
        [0.9, 0.1, 0.0, 0.4],
        [0.8, 0.5, 0.0, 0.1],
        [0.7, 0.6, 0.9, 0.1],
        [0.2, 0.1, 0.9, 0.5],
    ])
    events = merge_windows(scores, [0.0, 0.5, 1.0, 1.5], 1.0, labels, threshold=0.3, top_k=2, offset=10.0,
                           end=12.2)
    got = [(e.label, e.score, e.start, e.end) for e in events]
    # Speech: windows 0-2 merge, best score kept; Dog: window 0 and window 3 are 0.5 s apart: two spans; Music is
    # above the threshold in window 1 but not in the top 2 of window 2; Silence is never an event; the last
    # window is clipped to the chunk's end.
    assert got == [("Speech", 0.9, 10.0, 12.0), ("Dog", 0.4, 10.0, 11.0), ("Music", 0.5, 10.5, 11.5),
                   ("Dog", 0.5, 11.5, 12.2)]


def test_a_single_missing_window_does_not_split_a_span():
    scores = np.array([[0.9], [0.1], [0.9]])  # hop = window / 2: windows 0 and 2 touch
    [e] = merge_windows(scores, [0.0, 0.5, 1.0], 1.0, ["Speech"], 0.3, 5, 0.0, 10.0)
    assert (e.start, e.end) == (0.0, 2.0)


def test_settings_from_strings_and_bad_values():
    s = TaggerSettings.from_options({"backend": "yamnet", "threshold": "0.5", "top_k": "3", "hop": "0.24"})
    assert (s.threshold, s.top_k, s.hop, s.window) == (0.5, 3, 0.24, 0.96)
    s = TaggerSettings.from_options({"backend": "ast"})
    assert (s.model, s.window, s.hop) == ("MIT/ast-finetuned-audioset-10-10-0.4593", 4.0, 2.0)
    for bad in ({"backend": "panns"}, {"backend": "yamnet", "window": "2"}, {"threshold": "1.5"},
                {"backend": "ast", "window": 2, "hop": 3}, {"top_k": "many"}, {"x": 1}):
        with pytest.raises(ConfigError):
            TaggerSettings.from_options(bad)


# ------------------------------------------------------------------------------------------ AST, tiny and random

@pytest.fixture(scope="module")
def tiny_ast(tmp_path_factory):
    """A randomly initialised AST with AudioSet's 527 outputs, saved like a hub checkpoint (model + extractor)."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    labels = {i: f"class {i}" for i in range(527)}
    cfg = ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                    max_length=400, num_mel_bins=128, id2label=labels, label2id={v: k for k, v in labels.items()})
    d = tmp_path_factory.mktemp("tiny-ast")
    ASTForAudioClassification(cfg).save_pretrained(d)
    ASTFeatureExtractor(max_length=400, num_mel_bins=128).save_pretrained(d)
    return d


def ast_agent(path, **options):
    agent = TaggerAgent.from_options({"backend": "ast", "model": str(path), "device": "cpu", **options})
    agent.setup()
    return agent


def test_ast_loads_through_from_pretrained_and_scores_windows(tiny_ast):
    agent = ast_agent(tiny_ast)
    assert agent.model_id == str(tiny_ast) and agent.backend.labels[5] == "class 5"
    wave = np.frombuffer(pcm(media.librivox()[0][0]), "<i2").astype(np.float32) / 32768  # 7.1 s
    wave = np.tile(wave, 2)
    scores, starts = agent.scores(wave[: 10 * SR])
    assert scores.shape == (4, 527) and list(starts) == [0.0, 2.0, 4.0, 6.0]  # 4 s windows every 2 s
    assert np.all((scores > 0) & (scores < 1))
    scores9, starts9 = agent.scores(wave[: 9 * SR])
    assert scores9.shape == (4, 527) and list(starts9) == [0.0, 2.0, 4.0, 6.0]  # the last (6-9 s) is padded


def test_ast_batching_does_not_change_scores(tiny_ast):
    wave = np.frombuffer(pcm(media.librivox()[0][0]), "<i2").astype(np.float32) / 32768
    one = ast_agent(tiny_ast, batch_size=1).scores(wave)[0]
    many = ast_agent(tiny_ast, batch_size=3).scores(wave)[0]
    assert one.shape == many.shape == (3, 527)
    np.testing.assert_allclose(one, many, rtol=1e-4, atol=1e-5)


def test_ast_events_lie_on_the_window_grid_and_cover_the_chunk(tiny_ast):
    agent = ast_agent(tiny_ast, threshold=0.0, top_k=1)  # every window contributes its best label
    [tags] = agent.process(chunks(pcm(media.librivox()[0][0]), start=30.0)[0])  # 7.1 s at 30 s
    assert isinstance(tags, AudioTags) and tags.error is None and tags.model == str(tiny_ast)
    assert tags.events and all(e.label.startswith("class ") for e in tags.events)
    for e in tags.events:
        assert (e.start - 30.0) % 2.0 == pytest.approx(0.0) and 30.0 <= e.start < e.end <= tags.end
        assert e.end == tags.end or (e.end - 30.0) % 2.0 == pytest.approx(0.0)
    covered = sorted((e.start, e.end) for e in tags.events)
    assert covered[0][0] == 30.0 and max(e for _, e in covered) == tags.end
    reach = covered[0][1]
    for s, e in covered[1:]:  # no hole between the spans: every window had a label
        assert s <= reach
        reach = max(reach, e)
