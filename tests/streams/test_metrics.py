"""streams/core/metrics.py: separate registries per Metrics, text that prometheus_client's own parser reads, and the
counts of a real embedded run of bikes.mp4 (6 scenes)."""
from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scenestream.agents.ingest import IngestAgent, IngestSettings
from scenestream.schemas import VideoRequest
from scenestream.streams.core import metrics, table
from scenestream.streams.runtimes.embedded import EmbeddedPipeline
from tests.media import bikes


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the exposition text, via prometheus_client's parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_two_metrics_count_apart_and_parse():
    a, b = metrics.Metrics(), metrics.Metrics()
    a.video_status("running")
    a.video_status("done")
    a.scene_emitted(3)
    a.agent_busy("asr", 1.25)
    a.agent_busy("asr", 0.0)  # nothing to add
    a.queue_depth("asr", 4)
    a.queue_depth("asr", 2)  # a gauge: the last value
    b.scene_emitted()
    sa, sb = samples(a.exposition().decode()), samples(b.exposition().decode())
    assert sa[("scenestream_videos_total", (("status", "done"),))] == 1
    assert sa[("scenestream_videos_total", (("status", "running"),))] == 1
    assert sa[("scenestream_scenes_total", ())] == 3 and sb[("scenestream_scenes_total", ())] == 1
    assert sa[("scenestream_agent_busy_seconds_total", (("agent", "asr"),))] == 1.25
    assert sa[("scenestream_queue_depth", (("agent", "asr"),))] == 2
    assert ("scenestream_queue_depth", (("agent", "asr"),)) not in sb
    assert all(name.startswith("scenestream_") for name, _ in sa)


def test_module_functions_and_http_server():
    server, thread = metrics.start_http_server(0, "127.0.0.1")
    try:
        before = samples(httpx.get(f"http://127.0.0.1:{server.server_port}/metrics").text)
        metrics.scene_emitted(2)
        metrics.video_status("failed")
        metrics.agent_busy("detector", 0.5)
        metrics.queue_depth("detector", 7)
        after = samples(httpx.get(f"http://127.0.0.1:{server.server_port}/metrics").text)
    finally:
        server.shutdown()
    key = ("scenestream_scenes_total", ())
    assert after[key] - before.get(key, 0.0) == 2
    assert after[("scenestream_queue_depth", (("agent", "detector"),))] == 7
    assert after[("scenestream_videos_total", (("status", "failed"),))] >= 1


@pytest.mark.slow
def test_embedded_run_counts_its_scenes():
    m = metrics.Metrics()
    pipeline = EmbeddedPipeline(IngestAgent(IngestSettings()), {"captioner": table.build("captioner", {})},
                                metrics=m)
    pipeline.setup()
    try:
        result = pipeline.run(VideoRequest("bikes", str(bikes()), {}, time.time()), [])
    finally:
        pipeline.close()
    s = samples(m.exposition().decode())
    assert result.scenes == 6
    assert s[("scenestream_scenes_total", ())] == 6
    assert s[("scenestream_videos_total", (("status", "running"),))] == 1
    assert s[("scenestream_videos_total", (("status", "done"),))] == 1
    for agent in ("ingest", "captioner"):
        busy = s[("scenestream_agent_busy_seconds_total", (("agent", agent),))]
        assert busy == pytest.approx(result.busy_seconds[agent], rel=1e-6, abs=1e-6)
    assert ("scenestream_queue_depth", (("agent", "captioner"),)) in s
