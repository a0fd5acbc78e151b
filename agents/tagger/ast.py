"""The Audio Spectrogram Transformer through transformers (AudioSet, 527 classes). Same code path for the hub
model and for a local directory (the tests build a tiny random one and save it)."""
from __future__ import annotations

import numpy as np

SR = 16000


class AstBackend:
    def __init__(self, location: str, device: str, threads: int, batch_size: int):
        import torch
        from transformers import ASTFeatureExtractor, ASTForAudioClassification

        torch.set_num_threads(threads)
        self.torch = torch
        self.device = device
        self.extractor = ASTFeatureExtractor.from_pretrained(location)
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.model = ASTForAudioClassification.from_pretrained(location, dtype=dtype).to(device).eval()
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.batch_size = batch_size

    def scores(self, wave: np.ndarray, window: float, hop: float) -> tuple[np.ndarray, np.ndarray]:
        win, step = int(window * SR), max(1, int(hop * SR))
        starts = list(range(0, max(1, len(wave) - win + 1), step)) if len(wave) >= win else [0]
        pieces = [wave[s:s + win] for s in starts]
        out = []
        for i in range(0, len(pieces), self.batch_size):
            feats = self.extractor(pieces[i:i + self.batch_size], sampling_rate=SR, return_tensors="pt")
            with self.torch.inference_mode():
                logits = self.model(feats["input_values"].to(self.device, self.model.dtype)).logits
            out.append(self.torch.sigmoid(logits.float()).cpu().numpy())
        return np.concatenate(out), np.array(starts) / SR
