"""The small interface every agent implements. An agent loads its model once in `setup()` and turns one input
record into zero or more output records in `process()`. No Kafka and no asyncio here: the runtimes in `streams/runtimes/`
call `process` from a worker thread, so an agent is testable with nothing but its constructor."""
from __future__ import annotations

from typing import Any, Iterable, Protocol, runtime_checkable


@runtime_checkable
class Processor(Protocol):
    name: str  # the agent's name: ingest, or a name of the agent table (streams/core/table.py)

    def setup(self) -> None:
        """Load models; called once before the first `process`."""

    def process(self, record: Any) -> Iterable[Any]:
        """Turn one input record into output records."""

    def close(self) -> None:
        """Release models and per-video state."""
