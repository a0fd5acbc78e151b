"""The embedded runtime: every agent in one process, wired by bounded asyncio queues.

Ingest decodes in its own thread and blocks when a downstream queue is full, so a slow stage slows decoding instead
of letting records pile up: memory is bounded by the queue sizes. Each model agent runs in its own single-thread
executor (its model is never called concurrently, and stages overlap), and the joiner runs on the event loop.
The chapters-and-summary stage (streams/video/stage.py, unless `chapters` is None) reads the joiner's records in
its own single-thread executor and hands chapters and summaries to the sinks' `take_whole`.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import orjson

from scenestream.agents.base import Agent, SourceAgent
from scenestream.schemas import Scene, SceneCaption, VideoEvent, VideoRequest, VlmCaption, dumps
from scenestream.streams.core import table
from scenestream.streams.core.batch import batches, internal_error, run_batch, strip_jpegs
from scenestream.streams.core.joiner import Joiner
from scenestream.streams.core.threads import run_from_thread
from scenestream.streams.outputs.sinks import Sink

_END = object()
_TOPIC_OF = {cls: topic for topic, cls in table.INGEST_TOPICS.items()}


class _NoMetrics:
    """Stands in when no metrics are wanted (streams/core/metrics.py has the real ones)."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


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
    """Runs one video at a time through `ingest` and the model agents in `processors` (name -> Agent, names
    from the agent table)."""

    def __init__(self, ingest: SourceAgent, processors: dict[str, Agent], queue_size: int = 8, metrics: Any = None,
                 chapters: Any = None):
        self.ingest = ingest
        self.chapters = chapters  # ChapterSettings (streams/video/settings.py), or None: no chapters, no summary
        self._wholes = None  # the stage, made on the first run (its model loads on the first scene)
        self.processors = processors
        self.specs = {name: table.spec(name) for name in processors}
        self.queue_size = queue_size
        self.metrics = metrics or _NoMetrics()
        self._executors = {name: concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name) for name in processors}
        self._executors["chapters"] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="chapters")
        # Frames need no JPEG when every agent reading them is here and takes decoded pictures.
        readers = [p for n, p in processors.items() if self.specs[n].input_topic == "frames"]
        if readers and all(p.accepts_pixels for p in readers):
            ingest.pixel_frames = True

    def setup(self) -> None:
        for p in (self.ingest, *self.processors.values()):
            p.setup()

    def close(self) -> None:
        for p in (self.ingest, *self.processors.values()):
            p.close()
        for ex in self._executors.values():
            ex.shutdown(wait=False, cancel_futures=True)

    def run(self, request: VideoRequest, sinks: Sequence[Sink],
            on_event: Callable[[VideoEvent], None] | None = None) -> RunResult:
        """Each final SceneCaption goes to every sink (as the JSON object the captions topic carries); the caller
        closes the sinks."""
        return asyncio.run(self.run_async(request, sinks, on_event))

    def wholes(self):
        if self._wholes is None and self.chapters is not None:
            from scenestream.streams.video.stage import VideoWholes

            self._wholes = VideoWholes(self.chapters)
        return self._wholes

    async def run_async(self, request: VideoRequest, sinks: Sequence[Sink],
                        on_event: Callable[[VideoEvent], None] | None = None) -> RunResult:
        run = _Run(self, request, list(sinks), on_event or (lambda event: None))
        return await run.execute()


class _Run:
    """One video through the pipeline: an ingest thread, a task per model agent, the joiner task, joined by
    bounded queues."""

    def __init__(self, pipeline: EmbeddedPipeline, request: VideoRequest, sinks: list[Sink], on_event: Callable):
        self.p = pipeline
        self.request = request
        self.sinks = sinks
        self.on_event = on_event
        self.loop = asyncio.get_running_loop()
        self.result = RunResult(request.video_id, request.uri, agents=["ingest", *pipeline.processors])
        self.result.models = {n: p.model_id for n, p in pipeline.processors.items()}
        self.joiner = Joiner(list(pipeline.processors))
        self.inbox = {n: asyncio.Queue(pipeline.queue_size) for n in pipeline.processors}
        self.consumers = {topic: [n for n, s in pipeline.specs.items() if s.input_topic == topic]
                          for topic in table.INGEST_TOPICS}
        self.to_joiner: asyncio.Queue = asyncio.Queue(pipeline.queue_size * 4)
        self.stop = threading.Event()
        self.wholes = pipeline.wholes()
        self.chapter_busy = 0.0

    async def execute(self) -> RunResult:
        started = time.perf_counter()
        self.p.metrics.video_status("running")
        thread = threading.Thread(target=self._ingest, name="ingest", daemon=True)
        thread.start()
        try:
            await asyncio.gather(self._joiner(), *(self._agent(n) for n in self.p.processors))
        finally:
            self.stop.set()
            await self.loop.run_in_executor(None, thread.join)
            self.result.wall_seconds = time.perf_counter() - started
        self.p.metrics.video_status("failed" if self.result.failed else "done")
        return self.result

    def _put(self, queue: asyncio.Queue, item: Any) -> None:
        # Blocking put from the ingest thread: this is the back-pressure that bounds memory.
        run_from_thread(queue.put(item), self.loop, self.stop)

    def _route(self, record: Any) -> None:
        """An ingest output to the agents that read its topic, and (without JPEGs) to the joiner."""
        for name in self.consumers.get(_TOPIC_OF.get(type(record), ""), ()):
            self._put(self.inbox[name], record)
            self.p.metrics.queue_depth(name, self.inbox[name].qsize())
        if isinstance(record, (Scene, VideoEvent)):  # audio and frames are the agents' alone
            self._put(self.to_joiner, strip_jpegs(record))

    def _ingest(self) -> None:
        busy = 0.0
        gen = iter(self.p.ingest.process(self.request))
        try:
            while True:
                t0 = time.perf_counter()
                try:
                    record = next(gen)
                except StopIteration:
                    break
                finally:
                    busy += time.perf_counter() - t0
                self._route(record)
        except Exception as exc:  # a bug, not bad input (ingest turns that into events): still fail cleanly
            self._put(self.to_joiner, internal_error(self.request.video_id, self.request.uri, exc))
        finally:
            self.result.busy_seconds["ingest"] = busy
            self.p.metrics.agent_busy("ingest", busy)
            for q in self.inbox.values():
                self._put(q, _END)
            self._put(self.to_joiner, _END)

    async def _gather(self, name: str, first: Any, limit: int) -> tuple[list, bool]:
        """`first` and up to `limit` - 1 more inputs, waiting at most the processor's `batch_wait` for them;
        and whether the end of the stream was met."""
        records, q = [first], self.inbox[name]
        deadline = self.loop.time() + self.p.processors[name].batch_wait
        while len(records) < limit:
            try:
                nxt = await asyncio.wait_for(q.get(), max(0.0, deadline - self.loop.time()))
            except asyncio.TimeoutError:
                break
            if nxt is _END:
                return records, True
            records.append(nxt)
        return records, False

    async def _agent(self, name: str) -> None:
        spec, proc, q = self.p.specs[name], self.p.processors[name], self.inbox[name]
        limit = batches(spec, proc)
        busy, calls, finished = 0.0, 0, False
        while not finished:
            record = await q.get()
            if record is _END:
                break
            records, finished = await self._gather(name, record, limit) if limit > 1 else ([record], False)
            self.p.metrics.queue_depth(name, q.qsize())
            t0 = time.perf_counter()
            outputs = await self.loop.run_in_executor(self.p._executors[name], run_batch, spec, proc, records)
            spent = time.perf_counter() - t0
            busy += spent
            calls += len(records)
            self.p.metrics.agent_busy(name, spent)
            for out in outputs:
                await self.to_joiner.put(out)
        self.result.busy_seconds[name] = busy
        self.result.calls[name] = calls
        await self.to_joiner.put(_END)

    def _note(self, record: Any) -> None:
        """What the run's summary keeps of a record on its way to the joiner."""
        if isinstance(record, VideoEvent):
            if record.kind == "ingested":
                self.result.ingested = record
                self.result.duration = record.duration or 0.0
            elif record.kind == "failed" and self.result.failed is None:
                self.result.failed = record
            self.on_event(record)
        elif isinstance(record, VlmCaption) and not record.error:
            self.result.caption_seconds += record.latency

    async def _whole(self, fn: Callable, *args: Any) -> None:
        """Run the chapters stage on one input (embedding: in its thread) and hand what closed to the sinks."""
        from scenestream.streams.video.stage import topic_of

        t0 = time.perf_counter()
        try:
            made = await self.loop.run_in_executor(self.p._executors["chapters"], fn, *args)
        except Exception as exc:  # noqa: BLE001 - chapters are extra: the scenes stand, the video goes on
            print(f"scenestream: chapters of {self.request.video_id}: {type(exc).__name__}: {exc}; none made",
                  file=sys.stderr)
            self.wholes = None
            return
        finally:
            self.chapter_busy += time.perf_counter() - t0
        for whole in made:
            record = orjson.loads(dumps(whole))
            for sink in self.sinks:
                sink.take_whole(topic_of(whole), record)

    async def _joiner(self) -> None:
        ends, busy = 0, 0.0
        while ends < len(self.p.processors) + 1:
            record = await self.to_joiner.get()
            if record is _END:
                ends += 1
                continue
            self._note(record)
            t0 = time.perf_counter()
            released = self.joiner.add(record)
            busy += time.perf_counter() - t0
            for out in released:
                if isinstance(out, SceneCaption):
                    out.emitted_at = time.time()
                    self.result.scenes += 1
                    self.p.metrics.scene_emitted()
                    record = orjson.loads(dumps(out))  # the record as a file and the captions topic hold it
                    for sink in self.sinks:
                        sink.take(record)
                    if self.wholes is not None:
                        await self._whole(self.wholes.take, record)
                else:
                    self.on_event(out)
                    if self.wholes is not None and out.kind in ("done", "failed"):
                        await self._whole(self.wholes.end, out.video_id)
        if self.wholes is not None:
            await self._whole(self.wholes.end_all)
        self.result.busy_seconds["joiner"] = busy
        if self.p.chapters is not None:
            self.result.busy_seconds["chapters"] = self.chapter_busy
