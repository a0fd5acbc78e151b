"""Per-frame video work in a thread of its own, beside the decode loop.

Decoding (FFmpeg's threads, fed by the loop) and what ingest does with each picture (a downscale and PySceneDetect's
HSV comparison for cuts, keyframe candidates, the detector's samples) took turns in one thread, and ingest, which
every agent waits on, kept 1.4 of 2 cores busy. Handed over through a short queue, the two overlap: the heavy
parts (FFmpeg's decoding, swscale, OpenCV) run without the GIL. Every use of a frame's pictures is in this one
thread: PyAV's VideoFrame is not safe to reformat from two threads at once (that deadlocked in swscale)."""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable

_STOP = object()


class Offload:
    """Run `work(item) -> list` on each `put` item, in order, in one thread. `put` returns the outputs ready so far
    (of earlier items, not necessarily this one); `finish()` waits for all and returns the rest. An error in the
    thread is raised by the next call. `close()` stops the thread (the decode loop ended early)."""

    def __init__(self, work: Callable[[Any], list], depth: int = 8, name: str = "ingest-video"):
        self._work = work
        # depth: items waiting at most. A decoded frame is width x height x 1.5 bytes (1.4 MB at 720p, 12 MB at 4K).
        self._in: queue.Queue = queue.Queue(depth)
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._released: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._in.get()) is not _STOP:
            if self._error is not None:
                continue  # drain, so the producer never blocks on a dead consumer
            try:
                for out in self._work(item):
                    self._out.put(out)
            except BaseException as exc:  # raised again in the decode loop, where it belongs
                self._error = exc

    def _ready(self) -> list:
        if self._error is not None:
            raise self._error
        out = []
        while not self._out.empty():
            out.append(self._out.get())
        return out

    def put(self, item: Any) -> list:
        self._in.put(item)
        self.drop_released()
        return self._ready()

    def release(self, thing: Any) -> None:
        """From the thread: hand back something to be freed by the caller's thread (a decoded frame: see
        SceneCutter.release)."""
        self._released.put(thing)

    def drop_released(self) -> None:
        while not self._released.empty():
            self._released.get()

    def finish(self) -> list:
        self.close()
        self.drop_released()
        return self._ready()

    def close(self) -> None:
        if self._thread.is_alive():
            self._in.put(_STOP)
            self._thread.join()
