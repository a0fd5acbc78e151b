"""Real test media, fetched from package registries into a cache outside git (see fetch.py)."""
from tests.media.fetch import *  # noqa: F401,F403
from tests.media.fetch import ALL, MediaUnavailable, bad_inputs, cache, desktop_sound, long_video  # noqa: F401
