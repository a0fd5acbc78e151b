"""Dynamic batching for an agent whose runtime hands it one record at a time: gather up to `max_size` records,
waiting at most `max_wait` seconds after the first, then call `process_batch` once.

The core is push-style and free of threads and clocks you cannot control (so it is testable and fits any loop):

    b = Batcher(max_size=8, max_wait=0.05)
    batch = b.add(record)           # a full batch (list) when the 8th record arrives, else None
    b.remaining()                   # seconds until the open batch is due (None: nothing open)
    batch = b.flush()               # take whatever is open (on timeout or at the end of the stream)

Two helpers wrap it for a queue: `collect(q, end)` (a blocking queue.Queue) and `acollect(q, end)` (asyncio.Queue);
both return (batch, ended), where `ended` says the `end` sentinel was read (the batch before it is still returned).
"""
from __future__ import annotations

import asyncio
import queue
import time
from typing import Any, Callable


class Batcher:
    def __init__(self, max_size: int = 8, max_wait: float = 0.05, clock: Callable[[], float] = time.monotonic):
        if max_size < 1 or max_wait < 0:
            raise ValueError("max_size must be >= 1 and max_wait >= 0")
        self.max_size, self.max_wait, self.clock = max_size, max_wait, clock
        self._open: list = []
        self._due: float | None = None

    @classmethod
    def for_agent(cls, agent: Any) -> "Batcher":
        """Sized by the agent's own `max_batch` and `batch_wait` (seconds)."""
        return cls(getattr(agent, "max_batch", 1), getattr(agent, "batch_wait", 0.0))

    def __len__(self) -> int:
        return len(self._open)

    def add(self, record: Any) -> list | None:
        if not self._open:
            self._due = self.clock() + self.max_wait
        self._open.append(record)
        return self.flush() if len(self._open) >= self.max_size else None

    def remaining(self) -> float | None:
        return None if not self._open else max(0.0, self._due - self.clock())

    def due(self) -> bool:
        return bool(self._open) and self.clock() >= self._due

    def flush(self) -> list:
        batch, self._open, self._due = self._open, [], None
        return batch

    # ------------------------------------------------------------------ queue helpers
    def collect(self, q: "queue.Queue", end: Any = None) -> tuple[list, bool]:
        """Block for the first record, then gather until the batch is full or due."""
        while True:
            try:
                record = q.get(timeout=self.remaining())  # None: wait for the first record as long as it takes
            except queue.Empty:
                return self.flush(), False
            if record is end:
                return self.flush(), True
            batch = self.add(record)
            if batch is not None:
                return batch, False

    async def acollect(self, q: "asyncio.Queue", end: Any = None) -> tuple[list, bool]:
        """`collect` for an asyncio.Queue."""
        while True:
            left = self.remaining()
            try:
                if left is None:
                    record = await q.get()
                elif left <= 0:  # due: take only what is already there
                    record = q.get_nowait()
                else:
                    record = await asyncio.wait_for(q.get(), left)
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                return self.flush(), False
            if record is end:
                return self.flush(), True
            batch = self.add(record)
            if batch is not None:
                return batch, False
