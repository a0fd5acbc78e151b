"""The offline captioner, for machines with no vision-language weights: ImageNet labels of the keyframes from the
offline pack's EfficientNet-Lite0, and a plain factual sentence that the joiner completes with what the other
agents found (objects, sounds, speech). It says what it is (model id `offline:efficientnet-lite0`), never more."""
from __future__ import annotations

import io

import numpy as np

MODEL_ID = "offline:efficientnet-lite0"


class OfflineLabeler:
    def __init__(self, weights: str, threads: int, per_frame: int, threshold: float):
        import torch
        import torchvision
        from efficientnet_lite_pytorch import EfficientNet

        torch.set_num_threads(threads)
        self.torch = torch
        import contextlib
        import os

        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # it prints on load
            self.model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval()
        # ImageNet-1k class names as torchvision ships them (no download: they are in its code).
        self.names = torchvision.models.EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"]
        self.per_frame, self.threshold = per_frame, threshold

    def labels(self, jpegs: list[bytes]) -> list[str]:
        """Labels over all frames of one scene, most probable first, each once."""
        from PIL import Image

        if not jpegs:
            return []
        batch = []
        for data in jpegs:
            with Image.open(io.BytesIO(data)) as im:
                arr = np.asarray(im.convert("RGB").resize((224, 224)), dtype=np.float32)
            batch.append(arr / 127.5 - 1.0)  # the Lite models take inputs in [-1, 1]
        x = self.torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
        with self.torch.inference_mode():
            probs = self.model(x).softmax(-1)
        scored: dict[str, float] = {}
        for row in probs:
            values, idx = row.topk(self.per_frame)
            for p, i in zip(values.tolist(), idx.tolist()):
                if p >= self.threshold:
                    scored[self.names[i]] = max(scored.get(self.names[i], 0.0), p)
        return sorted(scored, key=scored.get, reverse=True)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def compose_offline_caption(labels: list[str], objects: dict[str, int], audio_events: list[str], transcript: str,
                            duration: float) -> str:
    """A plain factual sentence from what the agents found; nothing is invented."""
    parts = [f"A {duration:.1f}-second scene"]
    if labels:
        parts[0] += f" whose frames look like {_join(labels[:3])}"
    parts[0] += "."
    if objects:
        parts.append("Tracked: " + _join([f"{n} {label}{'s' if n > 1 else ''}" for label, n in sorted(objects.items())]) + ".")
    sounds = list(dict.fromkeys(audio_events))
    if sounds:
        parts.append("Sounds: " + _join([s.lower() for s in sounds[:4]]) + ".")
    text = " ".join(transcript.split())
    if text:
        parts.append(f'Speech: "{text if len(text) <= 160 else text[:157] + "..."}"')
    return " ".join(parts)
