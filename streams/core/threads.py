"""Handing work from a blocking thread (ingest's decoder) to the event loop, with back-pressure and a way out."""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Coroutine


def run_from_thread(coro: Coroutine, loop: asyncio.AbstractEventLoop, stop: threading.Event,
                    stopped: type[BaseException] = RuntimeError) -> Any:
    """Run `coro` on `loop` and wait for it; the waiting thread blocks (that is the back-pressure), but checks
    `stop` twice a second and raises `stopped` once it is set, so a shut-down never leaves the thread hanging."""
    fut = asyncio.run_coroutine_threadsafe(coro, loop)
    while True:
        try:
            return fut.result(timeout=0.5)
        except concurrent.futures.TimeoutError:
            if stop.is_set():
                fut.cancel()
                raise stopped("stopped")
