"""The ingest agent on Kafka: a VideoRequest from `videos` in; scenes, scene bounds, audio, frames and video events
out, each sent as soon as ingest yields it.

Decoding runs in its own thread (the IngestAgent generator is synchronous and holds the CPU for the whole video);
every record it yields is handed to the event loop and the thread waits until the broker has it, so a slow broker
slows decoding instead of filling memory, and the worker's event loop stays free to heart-beat and commit.
A request that cannot be served becomes a `failed` event with a one-line reason (plus a dead letter when the
message itself is unreadable), and the agent goes on to the next request.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from typing import Any

import orjson

from scenestream.schemas.topics import VIDEOS, VIDEO_EVENTS
from scenestream.agents.errors import InputError
from scenestream.agents.ingest import IngestAgent, resolve
from scenestream.schemas import Scene, VideoEvent, VideoRequest, from_dict
from scenestream.streams.core import table
from scenestream.streams.core.batch import internal_error, strip_jpegs
from scenestream.streams.runtimes.kafka.settings import SCENE_BOUNDS
from scenestream.streams.runtimes.kafka.wiring import Wiring
from scenestream.streams.core.threads import run_from_thread

log = logging.getLogger(__name__)


class Stopped(Exception):
    """The worker is stopping or lost the request's partition: leave the video for whoever owns it next."""


def parse_request(raw: bytes | None, key: bytes | None) -> tuple[VideoRequest | None, str, str, bool]:
    """(request, video id, reason, unreadable). A request is None when it cannot be served; `unreadable` says
    whether the message itself was bad (a dead letter) rather than what it asks for."""
    fallback = (key or b"").decode("utf-8", "replace").strip() or "unknown"
    if not raw:
        return None, fallback, "bad_request: empty message", True
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, fallback, f"bad_request: not valid JSON ({exc})", True
    if not isinstance(data, dict):
        return None, fallback, f"bad_request: expected a JSON object, got {type(data).__name__}", True
    vid = data.get("video_id")
    video_id = vid.strip() if isinstance(vid, str) and vid.strip() else fallback
    missing = [f for f in ("video_id", "uri") if not isinstance(data.get(f), str) or not data.get(f).strip()]
    if missing:
        return None, video_id, f"bad_request: missing or empty field(s): {', '.join(missing)}", True
    if not isinstance(data.get("options", {}), dict):
        return None, video_id, "bad_request: options must be a JSON object", True
    try:
        request = from_dict(VideoRequest, data)
    except ValueError as exc:
        return None, video_id, f"bad_request: {exc}", True
    try:
        resolve(request.uri)  # scheme, path, file type: cheap checks before we say `accepted`
    except InputError as exc:
        return None, video_id, f"{exc.code}: {exc.message}", False
    return request, video_id, "", False


_TOPIC_OF = {cls: topic for topic, cls in table.INGEST_TOPICS.items()}  # as the embedded runtime derives it


def routes(record: Any) -> list[tuple[str, str, Any]]:
    """(topic, key, record) for each place an ingest output goes: the media topics of the agent table (scenes keyed
    by scene, so several captioners share a video; the rest by video), plus the joiner's JPEG-free scene bounds and
    the video events."""
    vid = record.video_id
    if isinstance(record, VideoEvent):
        return [(VIDEO_EVENTS, vid, record)]
    topic = _TOPIC_OF.get(type(record))
    if topic is None:
        raise TypeError(f"ingest yielded an unexpected {type(record).__name__}")
    if isinstance(record, Scene):
        return [(topic, record.key, record), (SCENE_BOUNDS, vid, strip_jpegs(record))]
    return [(topic, vid, record)]


class IngestRunner:
    def __init__(self, wiring: Wiring, agent: IngestAgent):
        self.wiring = wiring
        self.agent = agent
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ingest")
        self.running: dict[Any, threading.Event] = {}  # source partition -> stop flag of the video in work

    def on_revoked(self, revoked) -> None:
        for tp, stop in list(self.running.items()):
            if tp in revoked:
                stop.set()

    def stop_all(self) -> None:
        for stop in self.running.values():
            stop.set()

    def _ingest(self, request: VideoRequest, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
        def put(topic: str, key: str, record: Any) -> None:
            run_from_thread(self.wiring.send(topic, key, record, wait=True), loop, stop, Stopped)

        gen = iter(self.agent.process(request))
        try:
            for record in gen:
                if stop.is_set():
                    raise Stopped()
                for topic, key, rec in routes(record):
                    put(topic, key, rec)
        except Stopped:
            raise
        except Exception as exc:  # a bug, not bad input (ingest turns that into events): fail the video cleanly
            log.exception("ingest failed on %s", request.uri)
            put(VIDEO_EVENTS, request.video_id, internal_error(request.video_id, request.uri, exc))
        finally:
            gen.close()

    async def handle(self, event) -> bool:
        """Serve one request. False when the work was abandoned (the event must not be acknowledged)."""
        w = self.wiring
        request, video_id, reason, unreadable = parse_request(event.value, event.key)
        if request is None:
            code, _, message = reason.partition(": ")
            if unreadable:
                await w.dead_letter(VIDEOS, event.key, event.value, reason)
            await w.send(VIDEO_EVENTS, video_id, VideoEvent(video_id, "failed", time=time.time(),
                                                              code=code, message=message), wait=True)
            return True
        await w.send(VIDEO_EVENTS, request.video_id,
                     VideoEvent(request.video_id, "accepted", time=time.time(), uri=request.uri), wait=True)
        stop = threading.Event()
        tp = event.message.tp
        self.running[tp] = stop
        try:
            await asyncio.get_running_loop().run_in_executor(self.executor, self._ingest, request,
                                                             asyncio.get_running_loop(), stop)
        except Stopped:
            log.info("ingest of %s left to the partition's next owner", request.video_id)
            return False
        finally:
            self.running.pop(tp, None)
        return True


def register_ingest(wiring: Wiring, agent: IngestAgent) -> IngestRunner:
    runner = IngestRunner(wiring, agent)
    wiring.app.revoke_hooks.append(runner.on_revoked)
    wiring.app.on_before_shutdown.connect(lambda sender, **kw: runner.stop_all())

    async def ingest(stream):
        # Manual acks: a request is acknowledged (its offset committed) only once its video is fully sent.
        async for event in stream.noack().events():
            if await runner.handle(event):
                event.ack()

    wiring.app.agent(wiring.topic(VIDEOS), name="scenestream.ingest")(ingest)
    return runner
