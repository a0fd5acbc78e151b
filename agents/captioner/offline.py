"""The offline captioner, for machines with no vision-language weights: ImageNet labels of the keyframes from the
offline pack's EfficientNet-Lite0, and a plain factual sentence that the joiner completes with what the other
agents found (objects, sounds, speech). It says what it is (model id `offline:efficientnet-lite0`), never more."""
from __future__ import annotations

import time

import numpy as np
from PIL import Image

from scenestream.agents.captioner.engine import Generated
from scenestream.schemas import SceneCaption, VlmCaption

MODEL_ID = "offline:efficientnet-lite0"


class OfflineLabeler:
    """EfficientNet-Lite0 ImageNet labels for each scene's keyframes; the engine of `backend=offline`."""

    def __init__(self, weights: str, per_frame: int, threshold: float):
        import contextlib
        import os

        import torch
        import torchvision
        from efficientnet_lite_pytorch import EfficientNet

        self.torch = torch
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # it prints while loading
            self.model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval()
        # ImageNet-1k class names in index order, from torchvision's code (no download).
        self.names = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
        self.per_frame, self.threshold = per_frame, threshold
        self.max_batch = None

    def caption(self, scenes: list[list]) -> list:
        """Labels for each scene (a list of PIL frames): one forward pass over all frames of all scenes."""
        t0 = time.perf_counter()
        frames = [im for scene in scenes for im in scene]
        if not frames:
            return [Generated() for _ in scenes]
        # 224x224, values in [-1, 1]: the Lite models' TF-style input (gave the surest labels on test images).
        x = np.stack([np.asarray(im.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.float32)
                      for im in frames]) / 127.5 - 1.0
        with self.torch.inference_mode():
            probs = self.model(self.torch.from_numpy(x).permute(0, 3, 1, 2)).softmax(-1)
        out, row = [], 0
        seconds = (time.perf_counter() - t0) / len(scenes)
        for scene in scenes:
            scored: dict[str, float] = {}
            for p in probs[row:row + len(scene)]:
                values, idx = p.topk(self.per_frame)
                for v, i in zip(values.tolist(), idx.tolist()):
                    if v >= self.threshold:
                        scored[self.names[i]] = max(scored.get(self.names[i], 0.0), v)
            row += len(scene)
            out.append(Generated(labels=sorted(scored, key=scored.get, reverse=True), seconds=seconds))
        return out


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def compose_offline_caption(labels: list[str], objects: dict[str, int], audio_events: list[str], transcript: str,
                            duration: float, text: list[str] | tuple = ()) -> str:
    """A plain factual sentence from what the agents found; nothing is invented. `text`: lines read on screen
    (OCR), quoted as read, the first four distinct ones."""
    parts = [f"A {duration:.1f}-second scene"]
    if labels:
        parts[0] += f" whose frames look like {_join(labels[:3])}"
    parts[0] += "."
    if objects:
        parts.append("Tracked: " + _join([f"{n} {label}{'s' if n > 1 else ''}" for label, n in sorted(objects.items())]) + ".")
    sounds = list(dict.fromkeys(audio_events))
    if sounds:
        parts.append("Sounds: " + _join([s.lower() for s in sounds[:4]]) + ".")
    lines = list(dict.fromkeys(" ".join(t.split()) for t in text if t.strip()))
    if lines:
        parts.append("Text on screen: " + _join([f'"{_clip(t, 60)}"' for t in lines[:4]]) + ".")
    spoken = " ".join(transcript.split())
    if spoken:
        parts.append(f'Speech: "{_clip(spoken, 160)}"')
    return " ".join(parts)


def finish_caption(rec: SceneCaption, outputs: list[VlmCaption]) -> None:
    """The table's `finish` for the captioner: the offline captioner only knows image labels, so its sentence is
    written once the scene's objects, sounds, speech and on-screen text are in the record, after every fill."""
    cap = outputs[0] if outputs else None
    if cap is None or cap.error or not rec.captioner.startswith("offline:"):
        return
    kwargs = {"text": [line.text for line in rec.text]} if rec.text else {}
    rec.caption = compose_offline_caption(cap.labels, rec.objects, [e.label for e in rec.audio_events],
                                          rec.transcript.text, rec.end - rec.start, **kwargs)
