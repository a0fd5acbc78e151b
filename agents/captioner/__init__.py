"""The captioner: one caption per scene from its keyframes, by a vision-language model (batched) or, with no VLM
weights, by the offline captioner. Latency is generation time only (model loading excluded), as the seed measured."""
from __future__ import annotations

import time

from agents.captioner.offline import MODEL_ID as OFFLINE_ID
from agents.captioner.settings import CaptionerSettings
from agents.models import pick_device, resolve_model
from schemas import Scene, VlmCaption
from streams.failures import one_line

__all__ = ["CaptionerAgent", "CaptionerSettings"]


class CaptionerAgent:
    name = "captioner"

    def __init__(self, settings: CaptionerSettings | None = None):
        self.settings = settings or CaptionerSettings.from_options({})
        self.max_batch = self.settings.max_batch
        self.batch_wait = self.settings.batch_wait
        self.model_id = OFFLINE_ID if self.settings.backend == "offline" else self.settings.model
        self.engine = None
        self.last_guards: dict = {}

    @classmethod
    def from_options(cls, options: dict) -> "CaptionerAgent":
        return cls(CaptionerSettings.from_options(options))

    def setup(self) -> None:
        s = self.settings
        device = pick_device(s.device)
        if s.backend == "offline":
            from agents.captioner.offline import OfflineLabeler

            self.engine = OfflineLabeler(resolve_model(s.model).location, s.threads, s.labels_per_frame,
                                         s.label_threshold)
            return
        import torch

        torch.set_num_threads(s.threads)
        from agents.captioner.hf import HfCaptioner

        self.engine = HfCaptioner(s, resolve_model(s.model).location, device)

    def close(self) -> None:
        self.engine = None

    def process(self, scene: Scene) -> list[VlmCaption]:
        return self.process_batch([scene])

    def process_batch(self, scenes: list[Scene]) -> list[VlmCaption]:
        out = [VlmCaption(s.video_id, s.index, s.start, s.end, model=self.model_id,
                          keyframe_times=[k.time for k in s.keyframes], last=s.last) for s in scenes]
        todo = [i for i, s in enumerate(scenes) if s.keyframes]
        for i, s in enumerate(scenes):
            if not s.keyframes:
                out[i].error = "no keyframes"
        if not todo:
            return out
        t0 = time.perf_counter()
        try:
            if self.settings.backend == "offline":
                for i in todo:
                    labels = self.engine.labels([k.jpeg for k in scenes[i].keyframes])
                    out[i].labels = labels
                    out[i].caption = _offline_sentence(labels)
            else:
                from agents.captioner.hf import decode_images

                texts, _, self.last_guards = self.engine.generate(
                    [decode_images([k.jpeg for k in scenes[i].keyframes]) for i in todo])
                for i, text in zip(todo, texts):
                    out[i].caption = text
        except Exception as exc:  # a bad frame or a model error costs these captions, not the worker
            for i in todo:
                out[i].error = one_line(exc)
        per_scene = (time.perf_counter() - t0) / len(todo)
        for i in todo:
            out[i].latency = round(per_scene, 4)
        return out


def _offline_sentence(labels: list[str]) -> str:
    return f"The frames look like {', '.join(labels[:3])}." if labels else "No recognisable image content."
