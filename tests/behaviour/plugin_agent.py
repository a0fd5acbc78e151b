"""An agent that is not part of scenestream, added the way an outside user adds one: this module alone, loaded
with SCENESTREAM_PLUGINS=tests.behaviour.plugin_agent. It reads each scene's first keyframe and reports its mean
brightness; the joiner puts that under `extra["brightness"]` of the scene's record."""
from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from scenestream.agents.base import Agent
from scenestream.schemas import AgentWindow, Scene
from scenestream.streams.core import fill, table


@dataclass
class Brightness(AgentWindow):  # the envelope every agent output carries, then the payload
    mean: float = 0.0


class BrightnessAgent(Agent):
    name = "brightness"
    model_id = "mean-luma"

    def process(self, scene: Scene):
        mean = 0.0
        if scene.keyframes:
            img = Image.open(io.BytesIO(scene.keyframes[0].jpeg)).convert("L")
            mean = sum(i * n for i, n in enumerate(img.histogram())) / (img.width * img.height)
        yield Brightness(scene.video_id, scene.index, scene.start, scene.end, mean=round(mean, 3), model="mean-luma", last=scene.last)


table.register(table.AgentSpec(
    "brightness", lambda options: BrightnessAgent(), "scenes", "brightness", Brightness, "scene", ("extra",),
    fill.extra("brightness"), needs="video", help="mean brightness of a scene's first keyframe (test plugin)"))
