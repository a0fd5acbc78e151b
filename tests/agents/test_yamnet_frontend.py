"""YAMNet's log-mel front end, now built from transformers' `audio_utils`, against the hand-written numpy front end
it replaced (kept here only as the reference), on real desktop sounds and speech; and the model's scores on both."""
import numpy as np
import pytest

from scenestream.agents.tagger import TaggerAgent
from scenestream.agents.tagger import yamnet as y
from tests import media
from tests.agents.test_tagger import pcm

SOUNDS = ["bell", "phone-incoming-call", "alarm-clock-elapsed"]


def reference_log_mel(wave: np.ndarray) -> np.ndarray:
    """The replaced front end, verbatim: tf.signal-style periodic Hann, 512-point rfft magnitude, HTK mel triangles
    in mel space with no weight on the DC bin, log(mel + 0.001)."""
    sr, win, hop, nfft, mels = 16000, 400, 160, 512, 64
    hz_to_mel = lambda f: 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)  # noqa: E731 (HTK)
    bins = hz_to_mel(np.linspace(0.0, sr / 2, nfft // 2 + 1))[1:, None]
    edges = np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((bins - lower) / (center - lower), (upper - bins) / (upper - center)))
    matrix = np.vstack([np.zeros((1, mels)), weights]).T.astype(np.float32)
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)).astype(np.float32)
    n = 1 + (len(wave) - win) // hop
    frames = np.lib.stride_tricks.sliding_window_view(wave, win)[::hop][:n] * hann
    spec = np.abs(np.fft.rfft(frames, nfft)).astype(np.float32)
    return np.log(spec @ matrix.T + 0.001)


def wave_of(path) -> np.ndarray:
    return np.frombuffer(pcm(path), "<i2").astype(np.float32) / 32768


def real_waves() -> list[np.ndarray]:
    return [wave_of(media.desktop_sound(s)) for s in SOUNDS] + [wave_of(media.speech_wav())[:10 * 16000]]


def test_filter_bank_and_window_match_the_tensorflow_layout():
    w = y._mel_filters()
    assert w.shape == (257, 64) and not w[0].any()  # 257 rfft bins x 64 bands; the DC bin gets no weight
    assert np.allclose(y._hann(), 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400))  # periodic


@pytest.mark.parametrize("seconds", [0.025, 0.96, 3.3])
def test_log_mel_equals_the_replaced_front_end_on_noise(seconds):
    wave = np.random.default_rng(0).uniform(-1, 1, int(seconds * 16000)).astype(np.float32)
    new, old = y.log_mel(wave), reference_log_mel(wave)
    assert new.shape == old.shape == (1 + (len(wave) - 400) // 160, 64) and new.dtype == np.float32
    np.testing.assert_allclose(new, old, atol=1e-4, rtol=0)


def test_log_mel_equals_the_replaced_front_end_on_real_audio():
    for wave in real_waves():
        new, old = y.log_mel(wave), reference_log_mel(wave)
        assert new.shape == old.shape and new.min() >= np.log(0.001) - 1e-6
        # Compared as mel magnitudes: the reference windowed its frames in float32, which leaves a noise floor of
        # about 1e-6 (up to 8e-4 in log units in the quietest bands of the phone ring); transformers works in
        # float64. Both are far below the int8 model's input step (0.048 log units).
        np.testing.assert_allclose(np.exp(new), np.exp(old), rtol=1e-4, atol=1e-5)
        assert np.abs(new - old).max() < 0.002


def test_model_scores_are_the_same_from_either_front_end(monkeypatch):
    agent = TaggerAgent.from_options({})  # offline (tests/conftest.py): the pack's int8 YAMNet
    agent.setup()
    try:
        for wave in real_waves():
            new, _ = agent.backend.scores(wave, 0.48)
            with monkeypatch.context() as m:
                m.setattr(y, "log_mel", reference_log_mel)
                old, _ = agent.backend.scores(wave, 0.48)
            # int8 in and out: a log-mel value on a rounding edge lands one input step (0.048) away, which moves
            # logits by at most an output step or two (0.76 each; measured through the sigmoid, so not exactly whole).
            logit = lambda p: np.log(np.clip(p, 1e-7, 1 - 1e-7) / np.clip(1 - p, 1e-7, 1))  # noqa: E731
            assert (np.abs(logit(new) - logit(old)) / agent.backend.q["out_scale"]).max() < 2.5
            assert (np.argsort(-new.max(0))[:5] == np.argsort(-old.max(0))[:5]).all()  # the same top-5 classes
            assert ((new > 0.3) == (old > 0.3)).mean() > 0.999  # and (almost) the same tags at the threshold
    finally:
        agent.close()
