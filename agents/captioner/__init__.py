"""The captioner: one caption per scene from its keyframes, by a vision-language model (batched), by a model server
(OpenAI-compatible chat completions, `endpoint=URL`) or, with no VLM weights, by the offline captioner (ImageNet
labels; the joiner completes its sentence).

    agent = CaptionerAgent.from_options({"model": "llava-hf/llava-v1.6-mistral-7b-hf", "quantization": "4bit"})
    agent.setup()                         # loads once; impossible options raise ConfigError here
    agent.process_batch([scene, ...])     # -> one VlmCaption per scene, same order (what the runtimes call)
    agent.process(scene)                  # -> [VlmCaption]

A caption's `latency` is its share of the generation time of the call that made it (keyframe decoding, input
preparation and generate, divided by the scenes in the batch; model loading excluded, as the seed measured), so
the latencies of a video add up to the captioner's busy time."""
from __future__ import annotations

import time

from scenestream.agents.base import Agent
from scenestream.agents.captioner.engine import Engine, Generated, one_line
from scenestream.agents.captioner.offline import MODEL_ID as OFFLINE_ID
from scenestream.agents.captioner.offline import compose_offline_caption
from scenestream.agents.captioner.settings import CaptionerSettings
from scenestream.agents.images import open_image
from scenestream.agents.models import pick_device, resolve_model
from scenestream.schemas import Scene, VlmCaption

__all__ = ["CaptionerAgent", "CaptionerSettings"]


class CaptionerAgent(Agent):
    name = "captioner"

    def __init__(self, settings: CaptionerSettings | None = None):
        self.settings = settings or CaptionerSettings.from_options({})
        self.model_id = OFFLINE_ID if self.settings.backend == "offline" else self.settings.model
        self.max_batch = self.settings.max_batch  # the runtimes gather up to this many scenes ...
        self.batch_wait = self.settings.batch_wait  # ... waiting at most this long (seconds) after the first
        self.engine: Engine | None = None

    @classmethod
    def from_options(cls, options: dict) -> "CaptionerAgent":
        return cls(CaptionerSettings.from_options(options))

    def setup(self) -> None:
        s = self.settings
        if s.backend == "endpoint":
            from scenestream.agents.captioner.remote import EndpointCaptioner

            self.engine = EndpointCaptioner(s)
            self.model_id = self.engine.model
            return
        device = pick_device(s.device)
        import torch

        torch.set_num_threads(s.threads)
        if s.backend == "offline":
            from scenestream.agents.captioner.offline import OfflineLabeler

            self.engine = OfflineLabeler(resolve_model(s.model).location, s.labels_per_frame, s.label_threshold)
            return
        from scenestream.agents.captioner.hf import VlmCaptioner, check_machine

        check_machine(s, device)
        self.engine = VlmCaptioner(s, resolve_model(s.model).location, device)

    def close(self) -> None:
        if self.settings.backend == "endpoint" and self.engine is not None:
            self.engine.close()
        self.engine = None

    def process(self, scene: Scene) -> list[VlmCaption]:
        return self.process_batch([scene])

    def process_batch(self, scenes: list[Scene]) -> list[VlmCaption]:
        """One VlmCaption per scene, in order. A scene that cannot be captioned (no keyframes, a broken JPEG, a
        model error) gets `error` set; the others in its batch are captioned all the same."""
        out = [VlmCaption(s.video_id, s.index, s.start, s.end, model=self.model_id,
                          keyframe_times=[k.time for k in s.keyframes], last=s.last) for s in scenes]
        t0 = time.perf_counter()
        frames: dict[int, list] = {}
        for i, s in enumerate(scenes):
            try:
                frames[i] = _decode(s)
            except Exception as exc:  # noqa: BLE001  (bad input becomes this scene's error)
                out[i].error = one_line(exc)
        if not frames:
            return out
        decoding = (time.perf_counter() - t0) / len(frames)
        todo = list(frames)
        if self.settings.backend == "endpoint":  # the server gets ingest's JPEGs as they are, once found readable
            frames = {i: [k.jpeg for k in scenes[i].keyframes] for i in todo}
        try:
            results = self.engine.caption([frames[i] for i in todo])
        except Exception as exc:  # noqa: BLE001  (engines report per scene; this is the last line of defence)
            results = [Generated(error=one_line(exc)) for _ in todo]
        for i, r in zip(todo, results):
            c = out[i]
            c.latency = round(decoding + r.seconds, 4)
            c.usage = r.usage
            if r.error:
                c.error = r.error
            elif self.settings.backend == "offline":
                c.labels = r.labels
                c.caption = compose_offline_caption(r.labels, {}, [], "", scenes[i].end - scenes[i].start)
            else:
                c.caption = r.text
        return out


def _decode(scene: Scene) -> list:
    if not scene.keyframes:
        raise ValueError("scene has no keyframes")
    images = []
    for k in scene.keyframes:
        with open_image(k.jpeg) as im:
            images.append(im.convert("RGB"))
    return images
