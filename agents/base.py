"""The one interface every agent implements, with every member a runtime may use and its default.

An agent loads its model once in `setup()` and turns input records into output records in `process()` (or, for an
agent that batches, `process_batch()`). No Kafka and no asyncio here: the runtimes in `streams/runtimes/` call these
from a worker thread, so an agent is testable with nothing but its constructor. The runtimes read only the members
declared below (tests/architecture checks they never probe an agent with getattr/hasattr), so an outside agent
that subclasses `Agent` and overrides `process` works everywhere a built-in one does.

`SourceAgent` is the same for ingest, the graph's source: a request in, scenes, audio and frames out.
"""
from __future__ import annotations

from typing import Any, ClassVar, Iterable


class Agent:
    name: ClassVar[str] = ""  # a name of the agent table (streams/core/table.py)
    model_id: str = ""  # what the records' `model` field says; may be set in setup() once the model is known
    max_batch: int = 1  # inputs one process_batch() call takes, when the agent's table entry says it batches
    batch_wait: float = 0.05  # seconds a runtime waits after a batch's first input for more to join it
    accepts_pixels: bool = False  # takes PixelFrames (decoded pictures) as well as JPEG frames, in one process
    # Keeps per-video state across records whose outputs carry it, so a worker taking a video over in the middle
    # (Kafka) can `resume` from the last output the previous owner stored. Stateless agents leave it False.
    resumable: ClassVar[bool] = False

    @classmethod
    def from_options(cls, options: dict) -> "Agent":
        """The agent from its `-o name.key=value` options (the table's builder calls this)."""
        return cls()

    def setup(self) -> None:
        """Load models; called once before the first `process`. Impossible options raise ConfigError here."""

    def process(self, record: Any) -> Iterable[Any]:
        """Turn one input record into output records."""
        raise NotImplementedError(f"{type(self).__name__}.process")

    def process_batch(self, records: list) -> list:
        """Outputs for several inputs at once. Agents whose model batches override this; by default, one by one."""
        return [out for record in records for out in self.process(record)]

    def resume(self, output: Any) -> None:
        """Take a video up from `output`, the last output of this agent for it that another worker stored (only
        called when `resumable`, before this worker's first record of that video)."""

    def close(self) -> None:
        """Release models and per-video state."""


class SourceAgent(Agent):
    """Ingest: one VideoRequest in, Scenes, AudioChunks, FrameBatches and VideoEvents out."""

    name: ClassVar[str] = "ingest"
    # Set by a runtime whose every reader of frame batches is in this process and `accepts_pixels`: frames are
    # then PixelFrames, never JPEG-encoded. A topic always gets JPEGs.
    pixel_frames: bool = False
