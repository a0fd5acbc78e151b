"""The audio tagger on real sounds with the real YAMNet weights from the offline pack, and the AST code path on a
tiny randomly initialised AST saved and loaded like a hub model."""
import numpy as np
import av
import pytest

from agents.tagger import TaggerAgent
from schemas import AudioChunk
from tests import media

# AudioSet classes of each sound's family (the file name is its label).
EXPECTED = {
    "bell": {"Bell", "Church bell", "Jingle bell", "Bicycle bell", "Chime", "Wind chime", "Tuning fork", "Ding",
             "Ding-dong", "Doorbell", "Jingle, tinkle"},
    "phone-incoming-call": {"Telephone", "Telephone bell ringing", "Ringtone", "Telephone dialing, DTMF"},
    "alarm-clock-elapsed": {"Alarm clock", "Alarm", "Beep, bleep", "Buzzer", "Smoke detector, smoke alarm"},
}


def pcm(path) -> bytes:
    c = av.open(str(path))
    r = av.AudioResampler(format="s16", layout="mono", rate=16000)
    out = b""
    for f in c.decode(audio=0):
        out += b"".join(o.to_ndarray().tobytes() for o in r.resample(f))
    out += b"".join(o.to_ndarray().tobytes() for o in r.resample(None))
    return out


def chunk(data: bytes, index=0, start=0.0, last=True) -> AudioChunk:
    return AudioChunk("v", index, start, start + len(data) / 32000, data, last=last)


@pytest.fixture(scope="module")
def yamnet():
    agent = TaggerAgent.from_options({"backend": "yamnet"})
    agent.setup()
    return agent


def top5(agent, path):
    wave = np.frombuffer(pcm(path), "<i2").astype(np.float32) / 32768
    scores, _ = agent.backend.scores(wave, 0.96, 0.48)
    best = scores.max(axis=0)
    return [agent.backend.labels[i] for i in np.argsort(-best)[:5]]


@pytest.mark.parametrize("sound", sorted(EXPECTED))
def test_desktop_sound_expected_class_in_top_five(yamnet, sound):
    labels = top5(yamnet, media.desktop_sound(sound))
    assert EXPECTED[sound] & set(labels), labels


def test_speech_gives_speech(yamnet):
    [tags] = yamnet.process(chunk(pcm(media.speech_wav())))
    assert tags.error is None and "Speech" in {e.label for e in tags.events}
    speech = [e for e in tags.events if e.label == "Speech"]
    assert all(0 <= e.start < e.end <= tags.end for e in speech)


def test_silence_gives_nothing(yamnet):
    [tags] = yamnet.process(chunk(pcm(media.silence_wav())))
    assert tags.error is None and tags.events == []


def test_times_are_absolute_and_spans_merge(yamnet):
    data = pcm(media.speech_wav())
    [tags] = yamnet.process(chunk(data, index=3, start=30.0, last=False))
    assert (tags.index, tags.start, tags.last) == (3, 30.0, False)
    speech = [e for e in tags.events if e.label == "Speech"]
    assert speech and all(30.0 <= e.start and e.end <= tags.end for e in speech)
    assert max(e.end - e.start for e in speech) > 1.5  # consecutive windows merged into one span


def test_bad_pcm_is_an_error_record(yamnet):
    [tags] = yamnet.process(AudioChunk("v", 0, 0.0, 1.0, b"\x00" * 3))
    assert tags.error and "odd number" in tags.error
    [tags] = yamnet.process(AudioChunk("v", 1, 1.0, 1.0, b""))
    assert tags.error is None and tags.events == []


@pytest.fixture(scope="module")
def tiny_ast(tmp_path_factory):
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    labels = {i: f"class {i}" for i in range(527)}
    cfg = ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                    max_length=128, num_mel_bins=128, id2label=labels, label2id={v: k for k, v in labels.items()})
    d = tmp_path_factory.mktemp("tiny-ast")
    ASTForAudioClassification(cfg).save_pretrained(d)
    ASTFeatureExtractor(max_length=128).save_pretrained(d)
    return d


def test_ast_backend_loads_through_from_pretrained_and_tags_windows(tiny_ast):
    agent = TaggerAgent.from_options({"backend": "ast", "model": str(tiny_ast), "threshold": 0.0, "top_k": 2})
    agent.setup()
    assert agent.model_id == str(tiny_ast)
    data = pcm(media.speech_wav())
    [tags] = agent.process(chunk(data, start=10.0))
    assert tags.error is None and tags.events
    assert {e.label for e in tags.events} <= {f"class {i}" for i in range(527)}
    assert all(10.0 <= e.start < e.end <= tags.end for e in tags.events)
    assert agent.settings.window == 4.0  # AST default window
