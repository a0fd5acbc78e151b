"""The Audio Spectrogram Transformer through transformers (AudioSet, 527 classes). Same code path for the hub model
and for a local directory (the tests build a tiny random one and save it).

AST's position embeddings are laid out for its training length (`max_length` frames, 10.24 s for the AudioSet
checkpoints), so the feature extractor pads every window to that length and each window costs a whole pass,
whatever its length: fewer, longer windows are cheaper; shorter hops give finer times."""
from __future__ import annotations

import numpy as np

from scenestream.agents.tagger.spans import window_starts

SR = 16000


class AstBackend:
    def __init__(self, location: str, device: str, threads: int, batch_size: int):
        import torch
        from transformers import ASTFeatureExtractor, ASTForAudioClassification

        if device == "cpu":
            torch.set_num_threads(threads)
        self.torch = torch
        self.device = device
        self.extractor = ASTFeatureExtractor.from_pretrained(location)
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.model = ASTForAudioClassification.from_pretrained(location, dtype=dtype).to(device).eval()
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.batch_size = batch_size

    def scores(self, wave: np.ndarray, window: float, hop: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-window class scores in [0, 1] ([N, classes]) and window start offsets in seconds. Windows go to the
        model `batch_size` at a time; the last one may be shorter than `window` (the extractor pads it)."""
        win, step = int(round(window * SR)), max(1, int(round(hop * SR)))
        starts = window_starts(len(wave), win, step)
        out = []
        for i in range(0, len(starts), self.batch_size):
            pieces = [wave[s:s + win] for s in starts[i:i + self.batch_size]]
            feats = self.extractor(pieces, sampling_rate=SR, return_tensors="pt")
            with self.torch.inference_mode():
                logits = self.model(feats["input_values"].to(self.device, self.model.dtype)).logits
            out.append(self.torch.sigmoid(logits.float()).cpu().numpy())  # multi-label: sigmoid, not softmax
        return np.concatenate(out), np.asarray(starts, dtype=np.float64) / SR
