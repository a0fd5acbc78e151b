"""Opening the JPEGs in records (keyframes, frames) with Pillow's own `Image.open`.

Importing ultralytics (the detector does; in the embedded runtime every agent shares one process) replaces
`PIL.Image.open` with a wrapper that, on the first image Pillow cannot identify, runs its requirement check for
pi-heif and re-raises as `ModuleNotFoundError: No module named 'pi_heif'`. A corrupt keyframe must end as the same
one-line `UnidentifiedImageError` in every agent, whichever other agents happen to be loaded.
"""
from __future__ import annotations

import io
import sys

from PIL import Image


def _pillow_open():
    patches = sys.modules.get("ultralytics.utils.patches")
    # ultralytics keeps Pillow's function as `_image_open` before patching; anything else is Pillow's own.
    return getattr(patches, "_image_open", None) or Image.open


def open_image(data: bytes) -> Image.Image:
    """An image from encoded bytes, lazily decoded like `Image.open` (use it in a `with`)."""
    return _pillow_open()(io.BytesIO(data))
