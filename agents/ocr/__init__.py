"""The OCR agent: on-screen text (titles, slides, burnt-in captions, signs) read in each scene's keyframes.

One SceneText record per Scene, keyed by the scene's index, with the lines read in its keyframes; a line shown in
several of them is one TextLine with the times of the first and last frame that showed it. More frames per scene
come from ingest (`-o ingest.keyframes=N`): the agent reads every keyframe a Scene carries. A scene without text
gives an empty list; a keyframe that is not a readable image costs its scene's lines (the record's `error` says
which frame), never the worker or other scenes. Per-video state: none."""
from __future__ import annotations

import io

import numpy as np

from scenestream.agents.base import Agent
from scenestream.agents.ocr.engine import ModelFiles, OcrEngine, model_files
from scenestream.agents.ocr.merge import merge_readings
from scenestream.agents.ocr.settings import OcrSettings
from scenestream.schemas import Keyframe, Scene, SceneText

__all__ = ["OcrAgent", "OcrSettings"]


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


class OcrAgent(Agent):
    name = "ocr"

    def __init__(self, settings: OcrSettings | None = None):
        self.settings = settings or OcrSettings.from_options({})
        self.files: ModelFiles | None = None
        self.model_id = ""
        self.engine: OcrEngine | None = None

    @classmethod
    def from_options(cls, options: dict) -> "OcrAgent":
        return cls(OcrSettings.from_options(options))

    def setup(self) -> None:
        self.files = model_files(self.settings.model, self.settings.language)
        self.engine = OcrEngine(self.files, self.settings)
        self.model_id = self.files.model_id

    def close(self) -> None:
        self.engine = None

    def process(self, scene: Scene) -> list[SceneText]:
        out = SceneText(scene.video_id, scene.index, scene.start, scene.end, self.model_id, last=scene.last)
        try:
            frames = sorted(scene.keyframes, key=lambda k: k.time)
            images = [decode(k) for k in frames]  # all of them first: a bad one fails the scene before any work
            readings = self.engine.read_frames([(im, k.time) for k, im in zip(frames, images)])
            out.lines = merge_readings(readings, self.settings.merge_similarity)
        except Exception as exc:  # a corrupt keyframe (or a model failure) costs this scene's text only
            out.error = one_line(exc)
        return [out]


def decode(frame: Keyframe) -> np.ndarray:
    """A keyframe's JPEG as the BGR array RapidOCR takes; a bad one raises naming the frame's time."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(frame.jpeg)) as im:
            return np.ascontiguousarray(np.asarray(im.convert("RGB"))[:, :, ::-1])
    except Exception as exc:
        raise ValueError(f"keyframe at {frame.time:.2f} s is not a readable image ({one_line(exc)})") from None
