"""YAMNet (521 AudioSet classes) as an int8 ONNX model from the offline pack.

The front end is written here with numpy because the model ships without one: YAMNet's own log-mel patches
(16 kHz, 25 ms Hann window / 10 ms hop, 512-point FFT, 64 HTK mel bands 125-7500 Hz, log(mel + 1e-6), 96-frame
patches). Pulling in torchaudio or librosa for one filterbank would add a heavy dependency for 30 lines."""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np

SR = 16000
WIN, HOP, NFFT, MELS, PATCH = 400, 160, 512, 64, 96


@lru_cache(maxsize=1)
def _mel_matrix() -> np.ndarray:
    hz_to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731 (HTK)
    mel_to_hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    freqs = np.linspace(0, SR / 2, NFFT // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), MELS + 2))
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lower) / (center - lower)
    down = (upper - freqs[None, :]) / (upper - center)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)  # [64, 257]


def log_mel(wave: np.ndarray) -> np.ndarray:
    """[frames, 64] log-mel magnitudes of a float waveform in [-1, 1]."""
    if len(wave) < WIN:
        wave = np.pad(wave, (0, WIN - len(wave)))
    n = 1 + (len(wave) - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    frames = wave[idx] * np.hanning(WIN + 1)[:-1].astype(np.float32)  # periodic Hann
    spec = np.abs(np.fft.rfft(frames, NFFT))
    return np.log(spec @ _mel_matrix().T + 1e-6).astype(np.float32)


def patches(wave: np.ndarray, window: float, hop: float) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel patches [N, 1, 96, 64] and each patch's start offset in seconds."""
    # As YAMNet does: a clip shorter than one patch is zero-padded to a whole patch, so a short sound's tail
    # still lands in full analysis frames instead of being dropped.
    need = (PATCH - 1) * HOP + WIN
    if len(wave) < need:
        wave = np.pad(wave, (0, need - len(wave)))
    mel = log_mel(wave)
    step = max(1, int(round(hop * 100)))
    if mel.shape[0] < PATCH:
        mel = np.pad(mel, ((0, PATCH - mel.shape[0]), (0, 0)), constant_values=np.log(1e-6))
    starts = np.arange(0, mel.shape[0] - PATCH + 1, step)
    out = np.stack([mel[s:s + PATCH] for s in starts])[:, None]
    return out, starts / 100.0


def _quantisation(onnx_path: Path) -> dict[str, float]:
    """Input/output scale and zero point, stored as initializers by the quantiser (read with the onnx package)."""
    import onnx
    from onnx import numpy_helper

    names = {"audio_scale": "in_scale", "audio_zero_point": "in_zp",
             "class_scores_scale": "out_scale", "class_scores_zero_point": "out_zp"}
    model = onnx.load(str(onnx_path), load_external_data=False)
    return {names[i.name]: float(numpy_helper.to_array(i)) for i in model.graph.initializer if i.name in names}


class YamnetBackend:
    def __init__(self, model_dir: str, threads: int):
        import onnxruntime as ort

        d = Path(model_dir)
        onnx_path = d if d.suffix == ".onnx" else next(d.rglob("*.onnx"))
        base = onnx_path.parent if d.suffix == ".onnx" else d
        csv_path = next(base.rglob("yamnet_class_map.csv"), None) or next(onnx_path.parent.parent.rglob("*.csv"))
        with open(csv_path) as f:
            self.labels = [row["display_name"] for row in csv.DictReader(f)]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.q = _quantisation(onnx_path)
        self.input = self.session.get_inputs()[0]
        self.fixed_batch = self.input.shape[0] == 1

    def scores(self, wave: np.ndarray, window: float, hop: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-window class scores in [0, 1] ([N, 521]) and window start offsets."""
        x, starts = patches(wave, window, hop)
        if "in_scale" in self.q:
            x = np.clip(np.round(x / self.q["in_scale"] + self.q["in_zp"]), 0, 255).astype(np.uint8)
        # This export has a fixed batch of 1, so patches go one call each (about 1 ms apiece).
        rows = [self.session.run(None, {self.input.name: x[i:i + 1]})[0].reshape(-1) for i in range(len(x))]
        out = np.stack(rows).astype(np.float32) if rows else np.zeros((0, len(self.labels)), np.float32)
        if "out_scale" in self.q:
            out = self.q["out_scale"] * (out - self.q["out_zp"])
        return 1.0 / (1.0 + np.exp(-out)), starts  # the model gives logits; AudioSet labels are independent
