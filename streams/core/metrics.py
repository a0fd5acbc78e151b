"""Prometheus metrics of a scenestream process, all named `scenestream_*`.

- `scenestream_videos_total{status}`: videos by status as the runtime reports them (`running` when one starts,
  then `done` or `failed`); running now = running - done - failed.
- `scenestream_scenes_total`: scene records emitted (SceneCaption).
- `scenestream_agent_busy_seconds_total{agent}`: seconds each agent spent working (model calls; ingest decoding).
  Its rate is the agent's utilisation: 1.0 = busy all the time, the bottleneck.
- `scenestream_queue_depth{agent}`: records waiting for an agent (the last size seen).
- `scenestream_unknown_video_records_total{topic}`: records of a video nobody asked for (no `accepted` event),
  dead-lettered instead of processed (Kafka mode: streams/runtimes/kafka/known_videos.py).

The runtimes call one small function per fact: `video_status(status)`, `scene_emitted(n)`, `agent_busy(agent, s)`,
`queue_depth(agent, n)`. A `Metrics` holds its own `CollectorRegistry`, so two apps in one process (two servers in a
test, a worker beside a server) count separately; the module-level functions use one default instance on
prometheus_client's global registry, which is what `prometheus_client.start_http_server(port)` serves (the Kafka
worker's `--metrics-port`)."""
from __future__ import annotations

import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

PREFIX = "scenestream"

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "agent_busy", "default", "queue_depth", "scene_emitted",
           "start_http_server", "unknown_video", "video_status"]


class Metrics:
    """One set of scenestream metrics on one registry (a new private one unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        self.videos = Counter(f"{PREFIX}_videos", "Videos by status (running when started, then done or failed)",
                              ["status"], registry=self.registry)
        self.scenes = Counter(f"{PREFIX}_scenes", "Scene records (SceneCaption) emitted", registry=self.registry)
        self.busy = Counter(f"{PREFIX}_agent_busy_seconds", "Seconds each agent spent working", ["agent"],
                            registry=self.registry)
        self.queue = Gauge(f"{PREFIX}_queue_depth", "Records waiting for an agent", ["agent"], registry=self.registry)
        self.unknown = Counter(f"{PREFIX}_unknown_video_records", "Records of a video nobody asked for, dead-lettered",
                               ["topic"], registry=self.registry)

    # The runtime's API: cheap, thread-safe (prometheus_client locks each value), never raising on odd input.

    def video_status(self, status: str) -> None:
        self.videos.labels(status=str(status)).inc()

    def scene_emitted(self, n: int = 1) -> None:
        if n > 0:
            self.scenes.inc(n)

    def agent_busy(self, agent: str, seconds: float) -> None:
        if seconds > 0:
            self.busy.labels(agent=str(agent)).inc(seconds)

    def queue_depth(self, agent: str, n: int) -> None:
        self.queue.labels(agent=str(agent)).set(n)

    def unknown_video(self, topic: str) -> None:
        self.unknown.labels(topic=str(topic)).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (serve it with CONTENT_TYPE_LATEST)."""
        return generate_latest(self.registry)


_default: Metrics | None = None
_lock = threading.Lock()


def default() -> Metrics:
    """The process-wide Metrics on prometheus_client's global registry (made on first use: importing this module
    registers nothing)."""
    global _default
    with _lock:
        if _default is None:
            _default = Metrics(REGISTRY)
        return _default


def video_status(status: str) -> None:
    default().video_status(status)


def scene_emitted(n: int = 1) -> None:
    default().scene_emitted(n)


def agent_busy(agent: str, seconds: float) -> None:
    default().agent_busy(agent, seconds)


def queue_depth(agent: str, n: int) -> None:
    default().queue_depth(agent, n)


def unknown_video(topic: str) -> None:
    default().unknown_video(topic)


def start_http_server(port: int, addr: str = "0.0.0.0", metrics: Metrics | None = None):
    """Serve `metrics` (the default one) on http://ADDR:PORT/metrics in a daemon thread; returns (server, thread).
    Port 0 picks a free port: `server.server_port`."""
    import prometheus_client

    return prometheus_client.start_http_server(port, addr=addr, registry=(metrics or default()).registry)
