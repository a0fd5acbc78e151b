"""`scenestream serve`: a live page and an HTTP API over the pipeline (FastAPI + uvicorn).

- `POST /api/videos {"source": PATH_OR_URI}` runs a video: in this process (the embedded runtime, one video at a
  time in a background thread, models loaded once) or, when a broker is configured, by publishing a VideoRequest to
  Kafka as `scenestream submit` does and following the captions and video-events topics.
- `GET /api/events[?video=ID][&until=done]`: server-sent events, `scene` (the SceneCaption record and a picture)
  as each scene is final and `video` (accepted, progress, done, failed, ...). A client that connects late first gets
  what the server holds of each video (`"replay": true`), then the live events, so the page never misses a scene.
- `GET /api/search?q=...`: the scene index (streams/outputs/index.py); every completed scene goes into it.
- `/runs/ID/report.html`: each embedded run writes a `scenestream run`-style folder under `--out` (captions.jsonl,
  summary.json, subtitles, report.html), marked as this server's (`.scenestream-serve`); only marked folders are
  served, file by file, with symlinks that leave the folder refused.
- `/healthz`, and `/metrics` for Prometheus (streams/core/metrics.py; this app's own registry).
- `/`: the live page (one HTML file with inline JS, no build step).

Pictures on the live page: in embedded mode they come from the run itself (the ingest's keyframe JPEGs of each
Scene, shrunk to 160 px, held until that scene's record is out); in Kafka mode the server decodes the video at the
scene's first keyframe (it must be able to read the URI), as the report does.

Trust (streams/server/policy.py, streams/server/guard.py): a token on every route but /healthz when one is set
(serve refuses a non-loopback bind without one); sources checked before anything is opened: local paths only under
`allow_dirs`, URIs of `schemes` only, network hosts that resolve only to public addresses unless
`allow_private_sources`; request bodies, ids, sources and queries bounded; no CORS; a Content-Security-Policy on
every answer (the live page's inline script runs by its nonce); every refusal a 4xx with one line `{"detail": ...}`.

Bounded memory: the server keeps the events of the last `keep_videos` videos (a scene's event is its record and a
~3 KB picture); a subscriber that falls more than `SUBSCRIBER_QUEUE` events behind is disconnected (its browser
reconnects and replays)."""
from __future__ import annotations

import asyncio
import collections
import os
import queue
import secrets
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from scenestream.schemas.topics import CAPTIONS, CHAPTERS, SUMMARIES, VIDEO_EVENTS
from scenestream.agents.base import SourceAgent
from scenestream.streams.outputs.sinks import Sink
from scenestream.agents.errors import ConfigError, InputError
from scenestream.streams.core.metrics import CONTENT_TYPE_LATEST, Metrics
from scenestream.streams.outputs.thumbnails import WIDTH, VideoFrames, data_uri, scene_time, shrink
from scenestream.streams.core.video_ids import video_id as make_video_id
from scenestream.streams.server.ask import router as ask_router
from scenestream.streams.server.guard import MAX_BODY, Guard
from scenestream.streams.server.pages import MARKER, REPORT_CSP, VIDEO_ID, own_run, page_csp
from scenestream.streams.server.policy import (DEFAULT_SCHEMES, MAX_SOURCE, Refused, SourcePolicy, bind_refusal,
                                               under_root)

SUBSCRIBER_QUEUE = 2000
KEEPALIVE_SECONDS = 15.0
FINAL = ("done", "failed")
MAX_QUERY = 1000  # characters of a search query


@dataclass
class ServeSettings:
    db: Path
    out: Path = Path("out")
    agents: str | None = None  # embedded: comma-separated agents (default: as `scenestream run`)
    options: list[str] = field(default_factory=list)  # embedded: -o KEY=VALUE / AGENT.KEY=VALUE
    queue_size: int = 8
    broker: str | None = None  # Kafka mode when set (or SCENESTREAM_BROKER)
    prefix: str | None = None
    keep_videos: int = 20
    thumb_width: int = WIDTH
    token: str | None = None  # the bearer token every route but /healthz needs (None: none, loopback only)
    allow_dirs: list[Path] = field(default_factory=list)  # local sources only under these (none: no local files)
    allow_private_sources: bool = False  # network sources on loopback, private, link-local, metadata addresses
    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    max_body: int = MAX_BODY

    def policy(self) -> SourcePolicy:
        for d in self.allow_dirs:
            if not Path(d).expanduser().is_dir():
                raise ConfigError(f"--allow-dir {d}: not a folder")
        return SourcePolicy([Path(d).expanduser() for d in self.allow_dirs], tuple(self.schemes),
                            self.allow_private_sources)

    @property
    def kafka(self) -> bool:
        return bool(self.broker)


def _video_id(source: str) -> str:
    return make_video_id(source, fresh=True)  # a fresh id per submission (a finished id is not run again)


# ------------------------------------------------------------------ the events the server has seen


@dataclass
class _Video:
    video_id: str
    uri: str
    status: str = "queued"
    submitted_at: float = field(default_factory=time.time)
    duration: float | None = None
    position: float = 0.0
    message: str = ""
    report: str | None = None
    scenes: dict[int, dict] = field(default_factory=dict)  # index -> the scene event
    events: list[dict] = field(default_factory=list)  # lifecycle events, in order
    wholes: dict[str, dict] = field(default_factory=dict)  # chapter and summary events by record key

    def view(self) -> dict:
        return {"video_id": self.video_id, "uri": self.uri, "status": self.status, "duration": self.duration,
                "position": self.position, "scenes": len(self.scenes), "message": self.message,
                "report": self.report, "submitted_at": self.submitted_at}


class Hub:
    """What the server knows of each video, and the live subscribers. `publish` may be called from any thread; the
    subscribers' queues live on the server's event loop."""

    def __init__(self, keep_videos: int = 20, metrics: Metrics | None = None):
        self.keep = keep_videos
        self.metrics = metrics
        self.lock = threading.Lock()
        self.videos: collections.OrderedDict[str, _Video] = collections.OrderedDict()
        self.subscribers: dict[asyncio.Queue, str | None] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.seq = 0
        self.changed = threading.Condition(self.lock)

    def video(self, video_id: str) -> _Video | None:
        with self.lock:
            return self.videos.get(video_id)

    def views(self) -> list[dict]:
        with self.lock:
            return [v.view() for v in reversed(self.videos.values())]

    def _new(self, video_id: str, uri: str) -> _Video:
        """Under the lock: a new video, the oldest forgotten beyond `keep`."""
        self.videos.pop(video_id, None)
        video = self.videos[video_id] = _Video(video_id, uri)
        while len(self.videos) > self.keep:
            self.videos.popitem(last=False)
        return video

    def add_video(self, video_id: str, uri: str) -> None:
        with self.lock:
            self._new(video_id, uri)
        self.publish_video(video_id, "queued", uri=uri)

    def _publish(self, event: dict) -> None:
        """Under the lock: number the event and hand it to every subscriber of its video."""
        self.seq += 1
        event["seq"] = self.seq
        for q, only in list(self.subscribers.items()):
            if only is None or only == event["video_id"]:
                self.loop.call_soon_threadsafe(self._deliver, q, event)
        self.changed.notify_all()

    def _deliver(self, q: asyncio.Queue, event: dict) -> None:
        if q not in self.subscribers:
            return
        if q.qsize() >= SUBSCRIBER_QUEUE:  # a client this far behind is dropped; it reconnects and replays
            self.subscribers.pop(q, None)
            q.put_nowait(None)
            return
        q.put_nowait(event)

    def publish_scene(self, record: dict, thumb: bytes | None) -> bool:
        """A final scene record; False if the server already had this exact record (a replay)."""
        vid = str(record["video_id"])
        event = {"type": "scene", "video_id": vid, "record": record, "thumb": data_uri(thumb)}
        with self.lock:
            video = self.videos.get(vid)
            if video is None:  # Kafka mode: a video submitted elsewhere
                video = self._new(vid, "")
            old = video.scenes.get(int(record["index"]))
            if old is not None and old["record"] == record:
                return False
            video.scenes[int(record["index"])] = event
            if video.status == "queued":
                video.status = "running"
            self._publish(event)
        return True

    def publish_whole(self, topic: str, record: dict) -> None:
        """A chapter or the video's summary (streams/video/stage.py): a `chapter` / `summary` event."""
        vid, chapter = str(record["video_id"]), topic == CHAPTERS
        event = {"type": "chapter" if chapter else "summary", "video_id": vid, "record": record}
        with self.lock:
            video = self.videos.get(vid) or self._new(vid, "")
            video.wholes[f"c{int(record['index']):06d}" if chapter else "s"] = event
            self._publish(event)

    def publish_video(self, video_id: str, kind: str, **fields: Any) -> None:
        event = {"type": "video", "video_id": video_id, "kind": kind, "time": time.time(),
                 **{k: v for k, v in fields.items() if v is not None}}
        with self.lock:
            video = self.videos.get(video_id)
            if video is None:
                video = self._new(video_id, fields.get("uri") or "")
            if video.status in FINAL and kind not in FINAL:
                return  # a late `ingested` after the joiner's `done` (Kafka) says nothing new
            if kind in FINAL or kind in ("queued", "running", "accepted"):
                video.status = "running" if kind == "accepted" else kind
            if fields.get("uri"):
                video.uri = fields["uri"]
            if fields.get("duration") is not None:
                video.duration = fields["duration"]
            if fields.get("position") is not None:
                video.position = fields["position"]
            video.message = fields.get("message") or video.message
            video.report = fields.get("report") or video.report
            if kind != "progress" or not video.events or video.events[-1]["kind"] != "progress":
                video.events.append(event)
            else:
                video.events[-1] = event  # only the latest progress is worth a replay
            self._publish(event)

    def subscribe(self, video_id: str | None) -> tuple[asyncio.Queue, list[dict]]:
        """A live queue and, taken under the same lock (no gap, no duplicate), the replay of what is held."""
        q: asyncio.Queue = asyncio.Queue()
        with self.lock:
            replay = []
            for v in self.videos.values():
                if video_id is None or v.video_id == video_id:
                    final = [e for e in v.events if e["kind"] in FINAL]
                    replay += [e for e in v.events if e["kind"] not in FINAL]
                    replay += [v.scenes[i] for i in sorted(v.scenes)]
                    replay += [v.wholes[k] for k in sorted(v.wholes)]
                    replay += final  # a page replaying a finished video sees its scenes, then `done`
            self.subscribers[q] = video_id
        return q, replay

    def unsubscribe(self, q: asyncio.Queue) -> None:
        with self.lock:
            self.subscribers.pop(q, None)

    def wait_final(self, video_id: str, timeout: float) -> str | None:
        """Block (a worker thread) until the video is done or failed; its status, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                video = self.videos.get(video_id)
                if video is not None and video.status in FINAL:
                    return video.status
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)


# ------------------------------------------------------------------ the index, fed in its own thread


class Indexer(Sink):
    """Completed scenes into the SceneIndex, off the pipeline's threads (embedding takes tens of ms a scene). A sink
    of every video the server runs: closed with the server."""

    def __init__(self, db: Path):
        from scenestream.streams.outputs.index import SceneIndex

        self.index = SceneIndex(db)
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="indexer", daemon=True)
        self.thread.start()

    def take(self, record: dict) -> None:
        self.queue.put(record)

    def _loop(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < 64:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            if None in batch:
                batch = [r for r in batch if r is not None]
                self._add(batch)
                return
            self._add(batch)

    def _add(self, batch: list[dict]) -> None:
        if not batch:
            return
        try:
            self.index.add_many(batch)
        except Exception as exc:  # noqa: BLE001 - an index failure must not stop the live page
            print(f"scenestream: index: {len(batch)} scenes not indexed ({type(exc).__name__}: {exc})",
                  file=sys.stderr)
        finally:
            for _ in batch:
                self.queue.task_done()

    def join(self) -> None:
        """Wait until every scene handed over so far is indexed."""
        self.queue.join()

    def close(self, summary: dict | None = None) -> list[Path]:
        self.queue.put(None)
        self.thread.join(timeout=30)
        self.index.close()
        return []


# ------------------------------------------------------------------ embedded runner


class _TapIngest(SourceAgent):
    """The ingest agent, with each Scene's first keyframe kept as a small picture until its record is out."""

    def __init__(self, ingest: SourceAgent, width: int):
        self.ingest = ingest
        self.width = width
        self.pictures: dict[tuple[str, int], bytes] = {}

    @property
    def pixel_frames(self) -> bool:  # type: ignore[override]  (the runtime's choice goes to the real ingest)
        return self.ingest.pixel_frames

    @pixel_frames.setter
    def pixel_frames(self, value: bool) -> None:
        self.ingest.pixel_frames = value

    def setup(self) -> None:
        self.ingest.setup()

    def close(self) -> None:
        self.ingest.close()

    def process(self, request):
        from scenestream.schemas import Scene

        for record in self.ingest.process(request):
            if isinstance(record, Scene) and record.keyframes:
                try:
                    self.pictures[(record.video_id, int(record.index))] = shrink(record.keyframes[0].jpeg, self.width)
                except OSError as exc:
                    print(f"scenestream: no picture for {record.key}: {exc}", file=sys.stderr)
            yield record


class Runner:
    """What serve does with a submitted video, whichever runtime runs it: `start` once, `submit` each video (an
    InputError or ConfigError is the client's 400), `stop` once. Both runners feed the hub and the index."""

    async def start(self) -> None:
        pass

    async def submit(self, source: str, video_id: str) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        pass


class EmbeddedRunner(Runner):
    """Runs submitted videos one at a time in a background thread, through one EmbeddedPipeline whose models are
    loaded on the first video and kept."""

    def __init__(self, settings: ServeSettings, hub: Hub, indexer: Indexer, metrics: Metrics):
        from scenestream.streams.core import table
        from scenestream.streams.core.plan import RunPlan

        self.s, self.hub, self.indexer, self.metrics = settings, hub, indexer, metrics
        # Options checked now, before the server starts: a typo is one line at start-up, not a failed video later.
        self.plan = RunPlan.resolve(table.parse_agents(settings.agents), settings.options)
        self.queue: queue.Queue = queue.Queue()
        self.pipeline = None
        self.tap: _TapIngest | None = None
        self.thread = threading.Thread(target=self._loop, name="embedded-runner", daemon=True)

    async def start(self) -> None:
        self.thread.start()

    async def submit(self, source: str, video_id: str) -> None:
        from scenestream.agents.ingest import resolve

        resolve(source)  # a missing path or a bad URI: 400 now, one line
        folder = self.s.out / video_id
        if folder.exists() and own_run(self.s.out, video_id) is None:
            raise Refused(409, f"video_id {video_id}: {folder.name} exists under --out and is not a run of this server")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).write_text("a run folder of scenestream serve: served under /runs\n")
        self.hub.add_video(video_id, source)
        self.queue.put((source, video_id))

    def _build(self):
        from scenestream.streams.runtimes.embedded import EmbeddedPipeline

        self.tap = _TapIngest(self.plan.ingest(), self.s.thumb_width)
        pipeline = EmbeddedPipeline(self.tap, self.plan.build(), queue_size=self.s.queue_size, metrics=self.metrics,
                                    chapters=self.plan.chapters())
        pipeline.setup()
        return pipeline

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            source, video_id = item
            try:
                if self.pipeline is None:
                    self.pipeline = self._build()
                self._run(source, video_id)
            except Exception as exc:  # noqa: BLE001 - one video's failure never stops the server
                traceback.print_exc()
                self.hub.publish_video(video_id, "failed", code="internal",
                                       message=f"{type(exc).__name__}: {exc}".splitlines()[0])

    def _run(self, source: str, video_id: str) -> None:
        from scenestream.streams.core import live
        from scenestream.streams.outputs.sinks import Each, RunFolder

        out = self.s.out / video_id
        # The models stay loaded between videos; a live source gets the latency profile (the speech agent is
        # rebuilt when its options change), a file after it gets the file profile back.
        self.plan = live.decide(source).settle(self.plan, self.pipeline)
        request = self.plan.request(source, video_id)
        self.hub.publish_video(video_id, "running")

        def on_event(ev) -> None:
            if ev.kind in FINAL:
                return  # published below, once the run's files are written
            self.hub.publish_video(video_id, ev.kind, duration=ev.duration, position=ev.position,
                                   message=ev.message or None)

        def to_page(record: dict) -> None:
            self.hub.publish_scene(record, self.tap.pictures.pop((record["video_id"], int(record["index"])), None))

        folder = RunFolder(out)
        result = None
        try:
            result = self.pipeline.run(request, [folder, Each(to_page, whole=self.hub.publish_whole), self.indexer],
                                       on_event)
        finally:
            folder.close({**result.summary(), "live": self.plan.live} if result else None)
        for key in [k for k in self.tap.pictures if k[0] == video_id]:
            self.tap.pictures.pop(key)  # scenes that never became records
        report = f"/runs/{video_id}/report.html" if (out / "report.html").is_file() else None
        if result.failed:
            self.hub.publish_video(video_id, "failed", code=result.failed.code, message=result.failed.message,
                                   report=report)
        else:
            self.hub.publish_video(video_id, "done", scenes=result.scenes, duration=result.duration, report=report)

    async def stop(self) -> None:
        self.queue.put(None)
        await asyncio.to_thread(self.thread.join, 5)
        if self.pipeline is not None and not self.thread.is_alive():
            self.pipeline.close()


# ------------------------------------------------------------------ Kafka runner


class KafkaRunner(Runner):
    """Submits to Kafka and follows the captions, video-events, chapters and summaries topics (from their ends when
    the server starts, without a consumer group: any number of servers can watch)."""

    def __init__(self, settings: ServeSettings, hub: Hub, indexer: Indexer, metrics: Metrics):
        from scenestream.streams.runtimes.kafka.settings import KafkaSettings

        self.s, self.hub, self.indexer, self.metrics = settings, hub, indexer, metrics
        self.kafka = KafkaSettings.from_env(broker=settings.broker, prefix=settings.prefix)
        self.frames: dict[str, VideoFrames] = {}
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self.task = asyncio.create_task(self._follow())
        self.task.add_done_callback(self._ended)

    @staticmethod
    def _ended(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:  # e.g. the broker unreachable: say so, once
            exc = task.exception()
            print(f"scenestream: serve: stopped following Kafka ({type(exc).__name__}: {exc})", file=sys.stderr)

    async def submit(self, source: str, video_id: str) -> None:
        from scenestream.streams.runtimes.kafka.client import make_request, submit

        self.hub.add_video(video_id, source)
        await submit(self.kafka, make_request(source, video_id, {}))

    async def _follow(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from scenestream.schemas import VideoEvent, loads
        from scenestream.streams.runtimes.kafka.admin import ensure_topics

        await ensure_topics(self.kafka)
        consumer = AIOKafkaConsumer(
            *(self.kafka.topic(t) for t in (CAPTIONS, VIDEO_EVENTS, CHAPTERS, SUMMARIES)),
            bootstrap_servers=self.kafka.broker,
            group_id=None, enable_auto_commit=False, auto_offset_reset="latest", isolation_level="read_committed",
            client_id="scenestream-serve", max_partition_fetch_bytes=self.kafka.max_message_bytes,
            **self.kafka.aiokafka_auth())
        await consumer.start()
        try:
            while not consumer.assignment():
                await asyncio.sleep(0.05)
            for tp in consumer.assignment():
                await consumer.position(tp)  # pin the start offsets before anything is submitted
            self.ready.set()
            captions = self.kafka.topic(CAPTIONS)
            wholes = {self.kafka.topic(t): t for t in (CHAPTERS, SUMMARIES)}
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=200)
                for tp, messages in batches.items():
                    for m in messages:
                        if m.value is None:
                            continue
                        try:
                            if tp.topic == captions:
                                await self._scene(orjson.loads(m.value))
                            elif tp.topic in wholes:
                                self.hub.publish_whole(wholes[tp.topic], orjson.loads(m.value))
                            else:
                                self._event(loads(VideoEvent, m.value))
                        except (ValueError, KeyError, TypeError) as exc:
                            print(f"scenestream: serve: skipped a record of {tp.topic} ({exc})", file=sys.stderr)
        finally:
            await consumer.stop()

    async def _scene(self, record: dict) -> None:
        vid = str(record["video_id"])
        video = self.hub.video(vid)
        uri = video.uri if video else ""
        frames = self.frames.get(vid)
        if frames is None and uri:
            frames = self.frames[vid] = VideoFrames(uri, self.s.thumb_width)
        thumb = await asyncio.to_thread(frames.at, scene_time(record)) if frames else None
        if self.hub.publish_scene(record, thumb):
            self.metrics.scene_emitted()
            self.indexer.take(record)

    def _event(self, ev) -> None:
        if ev.kind in FINAL:
            self.metrics.video_status(ev.kind)
            frames = self.frames.pop(ev.video_id, None)
            if frames:
                frames.close()
        elif ev.kind == "accepted":
            self.metrics.video_status("running")
        self.hub.publish_video(ev.video_id, ev.kind, uri=ev.uri or None, duration=ev.duration,
                               position=ev.position, message=ev.message or None)

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        for frames in self.frames.values():
            frames.close()


# ------------------------------------------------------------------ the app


class Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(max_length=MAX_SOURCE)  # a path or URI
    video_id: str | None = Field(None, max_length=100)  # default: the file name, a hash of the source and a random part


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())[:500]


def create_app(settings: ServeSettings, metrics: Metrics | None = None):
    from contextlib import asynccontextmanager

    import jinja2

    metrics = metrics or Metrics()
    policy = settings.policy()
    settings.out = Path(settings.out).expanduser()
    settings.out.mkdir(parents=True, exist_ok=True)
    hub = Hub(settings.keep_videos, metrics)
    state: dict[str, Any] = {}
    env = jinja2.Environment(loader=jinja2.PackageLoader("scenestream.streams.outputs", "templates"), autoescape=True)

    @asynccontextmanager
    async def lifespan(app):
        hub.loop = asyncio.get_running_loop()
        indexer = state["indexer"] = Indexer(settings.db)
        runner: Runner = (KafkaRunner if settings.kafka else EmbeddedRunner)(settings, hub, indexer, metrics)
        state["runner"] = runner
        await runner.start()
        try:
            yield
        finally:
            await runner.stop()
            indexer.close()

    # No /docs or /redoc: those pages load their scripts from a CDN, which the Content-Security-Policy forbids.
    app = FastAPI(title="scenestream", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.hub = hub
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.parts = state
    app.state.policy = policy
    # The guard wraps every route, routers included later too: the token, the Host check, bounded JSON bodies, the
    # security headers (streams/server/guard.py).
    app.add_middleware(Guard, token=settings.token, max_body=settings.max_body)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"detail": _one_line(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse({"detail": _one_line(f"{where}: {first.get('msg')}" if where else first.get("msg"))},
                            422)

    def check_id(video_id: str | None, what: str = "video_id") -> None:
        if video_id is not None and not VIDEO_ID.match(video_id):
            raise HTTPException(400, f"{what}: letters, digits, '.', '_' and '-' only, at most 100")

    @app.get("/", response_class=HTMLResponse)
    def page(video: str | None = None, until: str | None = None):
        check_id(video or None, "video")
        nonce = secrets.token_urlsafe(18)
        html = env.get_template("live.html.j2").render(video=video or "", until=until or "", nonce=nonce,
                                                        mode="kafka" if settings.kafka else "embedded")
        return HTMLResponse(html, headers={"Content-Security-Policy": page_csp(nonce), "Cache-Control": "no-store"})

    @app.get("/healthz")
    def healthz():
        with hub.lock:
            n, subs = len(hub.videos), len(hub.subscribers)
        return {"status": "ok", "mode": "kafka" if settings.kafka else "embedded", "videos": n, "subscribers": subs}

    @app.get("/metrics")
    def prometheus():
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/api/videos", status_code=202)
    async def submit(body: Submission):
        check_id(body.video_id)
        try:
            # Host names are resolved here (getaddrinfo blocks): off the event loop.
            source = await asyncio.to_thread(policy.check, body.source)
            video_id = body.video_id or _video_id(source)
            check_id(video_id)
            await state["runner"].submit(source, video_id)
        except Refused as exc:
            raise HTTPException(exc.status, exc.message) from None
        except (InputError, ConfigError) as exc:
            raise HTTPException(400, str(exc)) from None
        return {"video_id": video_id, "status": "queued", "events": f"/api/events?video={video_id}"}

    @app.get("/api/videos")
    def videos():
        return hub.views()

    @app.get("/api/videos/{video_id}")
    def video(video_id: str):
        check_id(video_id)
        v = hub.video(video_id)
        if v is None:
            raise HTTPException(404, f"no video {video_id} on this server")
        return v.view()

    @app.get("/api/videos/{video_id}/wait")
    async def wait(video_id: str, timeout: float = 600.0):
        """Answers once the video is done or failed (or after `timeout` s): `{"status": ...}`."""
        check_id(video_id)
        status = await asyncio.to_thread(hub.wait_final, video_id, min(timeout, 3600.0))
        return JSONResponse({"video_id": video_id, "status": status or "timeout"})

    @app.get("/api/events")
    async def events(request: Request, video: str | None = None, until: str | None = None):
        check_id(video, "video")
        if until not in (None, "done"):
            raise HTTPException(400, "until: only 'done'")
        q, replay = hub.subscribe(video)

        async def stream():
            try:
                yield "retry: 2000\n\n"
                pending = [{**e, "replay": True} for e in replay]
                while True:
                    for event in pending:
                        yield f"id: {event['seq']}\nevent: {event['type']}\ndata: {orjson.dumps(event).decode()}\n\n"
                        if until == "done" and video and event["type"] == "video" and event["kind"] in FINAL:
                            return
                    try:
                        event = await asyncio.wait_for(q.get(), KEEPALIVE_SECONDS)
                    except asyncio.TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield ": keep-alive\n\n"
                        pending = []
                        continue
                    if event is None:  # dropped for falling behind
                        return
                    pending = [event]
            finally:
                hub.unsubscribe(q)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/search")
    async def search(q: str, k: int = 10):
        if not q.strip():
            raise HTTPException(400, "empty query")
        if len(q) > MAX_QUERY:
            raise HTTPException(413, f"the query is longer than {MAX_QUERY} characters")
        hits = await asyncio.to_thread(state["indexer"].index.search, q, max(1, min(k, 100)))
        for h in hits:
            folder = own_run(settings.out, h["video_id"])
            if folder is not None and (folder / "report.html").is_file():
                h["report"] = f"/runs/{h['video_id']}/report.html#v0-s{h['index']}"
        return hits

    @app.get("/api/runs")
    def runs():
        found = sorted((p for p in settings.out.glob("*/report.html") if own_run(settings.out, p.parent.name)),
                       key=lambda p: -p.stat().st_mtime)
        return [{"video_id": p.parent.name, "report": f"/runs/{p.parent.name}/report.html"} for p in found[:200]]

    @app.get("/runs/{video_id}/{path:path}")
    def run_file(video_id: str, path: str):
        """A file of one of this server's run folders; nothing else under --out, no dot files, no symlink out."""
        folder = own_run(settings.out, video_id)
        parts = Path(path).parts
        if folder is None or not parts or len(path) > 300 or any(p.startswith(".") for p in parts):
            raise HTTPException(404, f"no such file in this server's runs: {video_id}/{path}"[:200])
        real = under_root(folder / path, [folder])
        if real is None or not real.is_file():
            raise HTTPException(404, f"no such file in this server's runs: {video_id}/{path}"[:200])
        return FileResponse(real, headers={"Content-Security-Policy": REPORT_CSP})

    app.state.asker = None  # made at the first question (streams/server/ask.py)
    app.include_router(ask_router)  # /api/ask, /ask
    return app


def serve(settings: ServeSettings, host: str = "127.0.0.1", port: int = 8000) -> int:
    import uvicorn

    if not settings.broker and os.environ.get("SCENESTREAM_BROKER"):
        settings.broker = os.environ["SCENESTREAM_BROKER"]
    if settings.token is None and os.environ.get("SCENESTREAM_TOKEN"):
        settings.token = os.environ["SCENESTREAM_TOKEN"]
    why = bind_refusal(host, settings.token)  # before anything is loaded or bound
    if why:
        print(f"scenestream: serve: {why}", file=sys.stderr)
        return 2
    app = create_app(settings)
    files = ", ".join(map(str, settings.allow_dirs)) or "none"
    print(f"scenestream: serving on http://{host}:{port}/ ({'kafka ' + settings.broker if settings.kafka else 'embedded'};"
          f" index {settings.db}; runs in {settings.out}; token {'required' if settings.token else 'none'};"
          f" local files under: {files}; private sources {'allowed' if settings.allow_private_sources else 'refused'})",
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


__all__ = ["EmbeddedRunner", "Hub", "KafkaRunner", "ServeSettings", "create_app", "serve"]
