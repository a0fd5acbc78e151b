"""The interface both captioning engines implement (the transformers VLM engine in hf.py and the offline labeller in
offline.py): `caption(scenes) -> one Generated per scene`, each scene a list of PIL keyframes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Generated:
    """One scene's result from an engine."""

    text: str = ""
    labels: list[str] = field(default_factory=list)  # image labels (offline engine)
    token_ids: list[int] = field(default_factory=list)  # generated ids, end-of-sequence and padding removed
    stop: str = ""  # why generation ended: eos | max_new_tokens | repetition | time_limit
    seconds: float = 0.0  # this scene's share of the engine call that made it
    error: str | None = None  # one line, when this scene could not be captioned
    usage: dict[str, int] = field(default_factory=dict)  # token counts, when the engine knows them (endpoints)
    model: str = ""  # the model that answered, when the engine is told (endpoints)


class Engine(Protocol):
    max_batch: int | None  # scenes one call can take (None: any)

    def caption(self, scenes: list[list]) -> list[Generated]:
        """One result per scene, in order; a failure is a result with `error` set, not an exception."""


def one_line(exc: BaseException) -> str:
    """An exception as the one-line `error` of a record."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
