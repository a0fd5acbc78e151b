"""What the agent asks of a speech backend: transcribe one packed region, as a Future, so a remote backend can keep
several regions in flight while a local one simply answers at once."""
from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Protocol

from scenestream.agents.asr.speech import Packed


@dataclass
class RegionText:
    """Words of one region in the packed audio's seconds: (word, start, end, probability). A word keeps Whisper's
    leading space, so joining words gives the text."""

    words: list[tuple[str, float, float, float]] = field(default_factory=list)
    language: str = ""
    translation: list[tuple[str, float, float]] | None = None  # (text, start, end) segments, when asked for


class Backend(Protocol):
    model_id: str

    def setup(self) -> None: ...

    def submit(self, packed: Packed, language: str | None) -> "Future[RegionText]": ...

    def close(self) -> None: ...


def run_now(fn: Callable[[], RegionText]) -> "Future[RegionText]":
    """A Future already resolved with fn()'s result or exception (for synchronous backends)."""
    fut: Future = Future()
    try:
        fut.set_result(fn())
    except Exception as exc:  # noqa: BLE001 - delivered to the caller through the Future
        fut.set_exception(exc)
    return fut
