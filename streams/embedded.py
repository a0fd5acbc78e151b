"""The embedded runtime: every agent in one process, wired by bounded asyncio queues.

Ingest decodes in its own thread and blocks when a downstream queue is full, so a slow stage slows decoding instead
of letting records pile up: memory is bounded by the queue sizes. Each model agent runs in its own single-thread
executor (its model is never called concurrently, and stages overlap), and the joiner runs on the event loop.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from agents.base import Processor
from schemas import AudioChunk, FrameBatch, Scene, SceneCaption, VideoEvent, VideoRequest, VlmCaption
from streams.failures import error_record
from streams.joiner import Joiner
from streams.threads import run_from_thread

# Which agents consume which ingest output.
CONSUMERS = {Scene: ("captioner",), AudioChunk: ("asr", "tagger"), FrameBatch: ("detector",)}
_END = object()


@dataclass
class RunResult:
    video_id: str
    uri: str
    scenes: int = 0
    duration: float = 0.0
    wall_seconds: float = 0.0
    busy_seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    failed: VideoEvent | None = None
    ingested: VideoEvent | None = None
    agents: list[str] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    caption_seconds: float = 0.0  # sum of the captioner's generation latencies (model loading excluded)

    @property
    def real_time_factor(self) -> float | None:
        return round(self.wall_seconds / self.duration, 4) if self.duration else None

    def summary(self) -> dict:
        return {
            "video_id": self.video_id, "uri": self.uri, "status": "failed" if self.failed else "done",
            "error": {"code": self.failed.code, "message": self.failed.message} if self.failed else None,
            "duration": round(self.duration, 3), "scenes": self.scenes, "agents": self.agents,
            "models": self.models,
            "busy_seconds": {k: round(v, 3) for k, v in self.busy_seconds.items()},
            "calls": self.calls, "wall_seconds": round(self.wall_seconds, 3),
            "real_time_factor": self.real_time_factor,
            "counts": self.ingested.counts if self.ingested else {},
            # As the seed measures it: caption time excludes model loading; RTF = caption seconds / video seconds.
            "captioner": {"seconds": round(self.caption_seconds, 3),
                          "real_time_factor": round(self.caption_seconds / self.duration, 4) if self.duration else None},
        }


class EmbeddedPipeline:
    """Runs one video at a time through `ingest` and the model agents in `processors` (name -> Processor)."""

    def __init__(self, ingest: Processor, processors: dict[str, Processor], queue_size: int = 8):
        self.ingest = ingest
        self.processors = processors
        self.queue_size = queue_size
        self._executors = {name: concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name) for name in processors}

    def setup(self) -> None:
        for p in (self.ingest, *self.processors.values()):
            p.setup()

    def close(self) -> None:
        for p in (self.ingest, *self.processors.values()):
            p.close()
        for ex in self._executors.values():
            ex.shutdown(wait=False, cancel_futures=True)

    def run(self, request: VideoRequest, on_caption: Callable[[SceneCaption], None],
            on_event: Callable[[VideoEvent], None] | None = None) -> RunResult:
        return asyncio.run(self.run_async(request, on_caption, on_event))

    async def run_async(self, request: VideoRequest, on_caption: Callable[[SceneCaption], None],
                        on_event: Callable[[VideoEvent], None] | None = None) -> RunResult:
        loop = asyncio.get_running_loop()
        result = RunResult(request.video_id, request.uri, agents=["ingest", *self.processors])
        result.models = {n: getattr(p, "model_id", "") for n, p in self.processors.items()}
        joiner = Joiner(list(self.processors))
        inbox: dict[str, asyncio.Queue] = {n: asyncio.Queue(self.queue_size) for n in self.processors}
        to_joiner: asyncio.Queue = asyncio.Queue(self.queue_size * 4)
        stop = threading.Event()
        started = time.perf_counter()

        def put(queue: asyncio.Queue, item: Any) -> None:
            # Blocking put from the ingest thread: this is the back-pressure that bounds memory.
            run_from_thread(queue.put(item), loop, stop)

        def ingest_thread() -> None:
            busy = 0.0
            gen = iter(self.ingest.process(request))
            try:
                while True:
                    t0 = time.perf_counter()
                    try:
                        record = next(gen)
                    except StopIteration:
                        break
                    finally:
                        busy += time.perf_counter() - t0
                    for name in CONSUMERS.get(type(record), ()):
                        if name in inbox:
                            put(inbox[name], record)
                    if isinstance(record, Scene):
                        # The joiner needs bounds and keyframe times only, not the JPEGs.
                        record = Scene(record.video_id, record.index, record.start, record.end,
                                       [type(k)(k.time, b"") for k in record.keyframes], record.last)
                    put(to_joiner, record)
            except Exception as exc:  # a bug, not bad input (ingest turns that into events): still fail cleanly
                put(to_joiner, VideoEvent(request.video_id, "failed", time=time.time(), uri=request.uri,
                                          code="internal_error", message=f"{type(exc).__name__}: {exc}"))
            finally:
                result.busy_seconds["ingest"] = busy
                for q in inbox.values():
                    put(q, _END)
                put(to_joiner, _END)

        async def agent_worker(name: str) -> None:
            proc, q = self.processors[name], inbox[name]
            busy, calls = 0.0, 0
            # Agents that gain from batching (the captioner) expose process_batch and say how much to gather:
            # up to `max_batch` records, waiting at most `batch_wait` seconds after the first.
            batched = hasattr(proc, "process_batch") and getattr(proc, "max_batch", 1) > 1

            def call(records: list) -> list:
                if batched:
                    return list(proc.process_batch(records))
                return list(proc.process(records[0]))

            finished = False
            while not finished:
                record = await q.get()
                if record is _END:
                    break
                records = [record]
                if batched:
                    deadline = loop.time() + getattr(proc, "batch_wait", 0.05)
                    while len(records) < proc.max_batch:
                        try:
                            nxt = await asyncio.wait_for(q.get(), max(0.0, deadline - loop.time()))
                        except asyncio.TimeoutError:
                            break
                        if nxt is _END:
                            finished = True
                            break
                        records.append(nxt)
                t0 = time.perf_counter()
                try:
                    outputs = await loop.run_in_executor(self._executors[name], call, records)
                except Exception as exc:  # one bad window must not stop the video: report it on the record
                    outputs = [error_record(name, r, exc, getattr(proc, "model_id", "")) for r in records]
                busy += time.perf_counter() - t0
                calls += len(records)
                for out in outputs:
                    await to_joiner.put(out)
            result.busy_seconds[name] = busy
            result.calls[name] = calls
            await to_joiner.put(_END)

        async def joiner_worker() -> None:
            ends, busy = 0, 0.0
            while ends < len(self.processors) + 1:
                record = await to_joiner.get()
                if record is _END:
                    ends += 1
                    continue
                if isinstance(record, VideoEvent):
                    if record.kind == "ingested":
                        result.ingested = record
                        result.duration = record.duration or 0.0
                    elif record.kind == "failed" and result.failed is None:
                        result.failed = record
                    if on_event:
                        on_event(record)
                if isinstance(record, VlmCaption) and not record.error:
                    result.caption_seconds += record.latency
                t0 = time.perf_counter()
                released = joiner.add(record)
                busy += time.perf_counter() - t0
                for out in released:
                    if isinstance(out, SceneCaption):
                        result.scenes += 1
                        on_caption(out)
                    elif on_event:
                        on_event(out)
            result.busy_seconds["joiner"] = busy

        thread = threading.Thread(target=ingest_thread, name="ingest", daemon=True)
        thread.start()
        try:
            await asyncio.gather(joiner_worker(), *(agent_worker(n) for n in self.processors))
        finally:
            stop.set()
            await loop.run_in_executor(None, thread.join)
            result.wall_seconds = time.perf_counter() - started
        return result
