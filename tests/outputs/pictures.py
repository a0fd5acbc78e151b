"""Checks that a page's picture of a scene is the right frame of bikes.mp4 (640x272, 25 fps: 160x68 pictures)."""
from __future__ import annotations

import base64
import io

import av
import numpy as np
from PIL import Image

FPS = 25


def frames_160(path) -> list[np.ndarray]:
    """Every frame of the video, decoded in order and scaled as the pictures are scaled."""
    with av.open(str(path)) as c:
        return [np.asarray(f.to_image().resize((160, 68), Image.Resampling.BILINEAR), dtype=float)
                for f in c.decode(video=0)]


def jpeg_of(src: str) -> Image.Image:
    assert src.startswith("data:image/jpeg;base64,"), src[:40]
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))


def check_picture(src: str, rec: dict, frames: list[np.ndarray]) -> None:
    """The picture is the scene's first keyframe: close to the frame at that time, far from the previous shot's last
    frame (every bikes.mp4 scene starts at a hard cut)."""
    pic = np.asarray(jpeg_of(src).convert("RGB"), dtype=float)
    assert pic.shape == (68, 160, 3)
    i = round(rec["keyframe_times"][0] * FPS)
    assert np.abs(pic - frames[i]).mean() < 8, f"scene {rec['index']}: not the frame at {rec['keyframe_times'][0]} s"
    if i > 0:
        assert np.abs(pic - frames[i - 1]).mean() > 25, f"scene {rec['index']}: looks like the previous shot"
