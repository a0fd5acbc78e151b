"""`scenestream serve`: the live page in headless Chromium (records arrive while the video is still being decoded;
bikes.mp4's six scenes with pictures of the right frames), and the HTTP API through FastAPI's TestClient (health,
one-line errors, server-sent events in order, /metrics counting a finished run, search, reports)."""
from __future__ import annotations

import asyncio
import subprocess
import tempfile
import threading
import time

import httpx
import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from scenestream.streams.core.metrics import Metrics
from scenestream.streams.server.app import Hub, ServeSettings, create_app
from tests.media import bikes, synth_clip
from tests.outputs.browser import chromium, parse, screenshot
from tests.outputs.pictures import check_picture, frames_160

BUDGET_MS = 20_000  # virtual time: it stands still while the page's event stream is open, so this is after `done`
TOKEN = "serve-test-token-0123456789"  # the live server's: the page gets its cookie from `?token=` (guard.py)
BEARER = {"Authorization": f"Bearer {TOKEN}"}


class LiveServer:
    """The app on a real port (uvicorn in a thread), as a browser needs it."""

    def __init__(self, app):
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(60)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    chromium()  # skips the module's browser tests where there is none
    d = tmp_path_factory.mktemp("serve")
    app = create_app(ServeSettings(db=d / "index.db", out=d / "runs", agents="captioner,detector", token=TOKEN,
                                   allow_dirs=[bikes().parent, synth_clip().parent]), Metrics())
    with LiveServer(app) as server:
        yield server


def watch_then_run(live: LiveServer, video_id: str, source) -> str:
    """Open the live page of `video_id` in headless Chromium, submit the video once the page is subscribed, and
    return the page's DOM after the video's `done` (the page closes its event stream then)."""
    with tempfile.TemporaryDirectory(prefix="scenestream-chromium-") as profile:
        page = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             f"--user-data-dir={profile}", f"--virtual-time-budget={BUDGET_MS}", "--dump-dom",
             f"{live.base}/?video={video_id}&until=done&token={TOKEN}"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            while httpx.get(f"{live.base}/healthz").json()["subscribers"] < 1:
                assert page.poll() is None, f"chromium exited before subscribing: {page.stderr.read()[-2000:]}"
                time.sleep(0.1)
            r = httpx.post(f"{live.base}/api/videos", json={"source": str(source), "video_id": video_id},
                           headers=BEARER)
            assert r.status_code == 202, r.text
            dom, err = page.communicate(timeout=600)
        finally:
            if page.poll() is None:
                page.kill()
    assert page.returncode == 0 and dom.strip(), err[-2000:]
    return dom


def _section(dom: str, video_id: str):
    [section] = [s for s in parse(dom).find_all("section", "video") if s.attrs.get("data-video-id") == video_id]
    return section


def _records(live: LiveServer, video_id: str) -> list[dict]:
    run = live.app.state.settings.out / video_id / "captions.jsonl"
    return [orjson.loads(line) for line in run.read_bytes().splitlines() if line.strip()]


@pytest.mark.slow
def test_live_page_shows_scenes_before_the_video_is_done(live):
    # The synthetic clip: 60 s with cuts at 15, 30, 45 s. Scene 0 is final after the cut at 15 s; ingest then has
    # 45 s of video left to decode, so its `ingested` event comes long after.
    section = _section(watch_then_run(live, "synth", synth_clip()), "synth")
    assert section.attrs["data-status"] == "done"
    cards = section.find_all("li", "scene")
    assert [int(c.attrs["data-index"]) for c in cards] == [0, 1, 2, 3]
    assert [round(float(c.attrs["data-start"])) for c in cards] == [0, 15, 30, 45]
    assert all(c.attrs["data-live"] == "1" for c in cards)  # seen live, not replayed after the end
    ingested, done = int(section.attrs["data-ingested-order"]), int(section.attrs["data-done-order"])
    first = int(cards[0].attrs["data-order"])
    assert first < ingested < done, "scene 0 reached the page before ingest had decoded the whole video"
    assert all(int(c.attrs["data-order"]) < done for c in cards)


@pytest.mark.slow
def test_live_page_of_bikes_has_every_scene_with_its_picture(live, tmp_path):
    section = _section(watch_then_run(live, "bikes", bikes()), "bikes")
    records = _records(live, "bikes")
    assert len(records) == 6
    cards = section.find_all("li", "scene")
    assert [int(c.attrs["data-index"]) for c in cards] == list(range(6))
    frames = frames_160(bikes())
    for card, rec in zip(cards, records):
        assert card.attrs["data-live"] == "1"
        assert rec["caption"] in card.all_text()
        for label, n in rec["objects"].items():
            assert f"{label} ×{n}" in card.all_text()
        [img] = card.find_all("img", "thumb")
        check_picture(img.attrs["src"], rec, frames)  # from the run's own keyframe JPEG, shrunk
    assert len(section.find_all("a", "seg")) == 6  # the timeline

    # The report link works; a page opened after the end replays the video in full.
    [report] = section.find_all("a", "report")
    r = httpx.get(live.base + report.attrs["href"], headers=BEARER)
    assert r.status_code == 200 and len(parse(r.text).find_all("li", "scene")) == 6
    shot = screenshot(f"{live.base}/?video=bikes&until=done&token={TOKEN}", tmp_path / "live-bikes.png", budget_ms=BUDGET_MS)
    with Image.open(shot) as png:
        assert png.size == (1200, 1600) and len(set(png.convert("L").getdata())) > 50


def _samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _events(client: TestClient, video_id: str) -> list[tuple[str, dict]]:
    out, kind = [], None
    with client.stream("GET", f"/api/events?video={video_id}&until=done") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.append((kind, orjson.loads(line[6:])))
    return out


@pytest.mark.slow
def test_api_run_events_metrics_search_report(tmp_path):
    app = create_app(ServeSettings(db=tmp_path / "index.db", out=tmp_path / "runs", agents="captioner",
                                   allow_dirs=[bikes().parent, tmp_path]), Metrics())
    with TestClient(app, base_url="http://127.0.0.1") as client:  # no token: loopback names only
        assert client.get("/healthz").json()["status"] == "ok"
        before = _samples(client.get("/metrics").text)
        assert before[("scenestream_scenes_total", ())] == 0

        # Bad input: one line, and the server goes on.
        r = client.post("/api/videos", json={"source": str(tmp_path / "missing.mp4")})
        assert r.status_code == 400 and "no such file" in r.json()["detail"] and "\n" not in r.json()["detail"]
        assert client.post("/api/videos", json={"source": str(bikes()), "video_id": "../x"}).status_code == 400
        assert client.get("/api/videos/nope").status_code == 404

        r = client.post("/api/videos", json={"source": str(bikes()), "video_id": "b1"})
        assert r.status_code == 202 and r.json()["video_id"] == "b1"
        events = _events(client, "b1")
        kinds = [e.get("kind", "scene") if k == "video" else k for k, e in events]
        assert kinds.count("scene") == 6 and kinds[-1] == "done"
        assert kinds.count("summary") == 1 and kinds.count("chapter") >= 1  # the video as a whole, before `done`
        assert kinds.index("running") < kinds.index("scene")
        scenes = [e for k, e in events if k == "scene"]
        assert [e["record"]["index"] for e in scenes] == list(range(6))
        assert all(e["thumb"].startswith("data:image/jpeg;base64,") for e in scenes)
        assert [e["seq"] for _, e in events] == sorted(e["seq"] for _, e in events)

        # A late subscriber gets the same scenes (replayed), then `done`.
        replay = _events(client, "b1")
        assert [e["record"] for k, e in replay if k == "scene"] == [e["record"] for e in scenes]
        assert all(e["replay"] for _, e in replay)

        assert client.get("/api/videos/b1").json()["status"] == "done"
        after = _samples(client.get("/metrics").text)
        assert after[("scenestream_scenes_total", ())] == 6
        assert after[("scenestream_videos_total", (("status", "done"),))] == 1
        assert after[("scenestream_agent_busy_seconds_total", (("agent", "captioner"),))] > 0
        assert all(name.startswith("scenestream_") for name, _ in after)

        report = client.get("/runs/b1/report.html")
        assert report.status_code == 200 and len(parse(report.text).find_all("li", "scene")) == 6
        assert client.get("/api/runs").json() == [{"video_id": "b1", "report": "/runs/b1/report.html"}]

        app.state.parts["indexer"].join()  # every completed scene is in the index
        last = scenes[-1]["record"]
        hits = client.get("/api/search", params={"q": last["caption"], "k": 3}).json()
        assert (hits[0]["video_id"], hits[0]["index"]) == ("b1", last["index"])
        assert hits[0]["report"] == f"/runs/b1/report.html#v0-s{last['index']}"
        assert client.get("/api/search", params={"q": " "}).status_code == 400

        page = client.get("/")
        assert page.status_code == 200 and "EventSource" in page.text
        assert '<a href="/ask">ask</a>' in page.text and client.get("/ask").status_code == 200  # the question page


def test_hub_replays_without_gaps_or_repeats():
    hub = Hub(keep_videos=2)
    hub.loop = asyncio.new_event_loop()
    try:
        hub.add_video("a", "a.mp4")
        rec = {"video_id": "a", "index": 1, "start": 1.0, "end": 2.0, "caption": "x"}
        assert hub.publish_scene(rec, None)
        assert not hub.publish_scene(dict(rec), None)  # the same record again (a replay): nothing new
        assert hub.publish_scene({"video_id": "a", "index": 0, "start": 0.0, "end": 1.0, "caption": "y"}, None)
        hub.publish_video("a", "done")
        hub.publish_video("a", "ingested", duration=2.0)  # late, after `done`: ignored
        q, replay = hub.subscribe("a")
        assert [(e["type"], e.get("kind"), e.get("record", {}).get("index")) for e in replay] == [
            ("video", "queued", None), ("scene", None, 0), ("scene", None, 1), ("video", "done", None)]
        assert hub.video("a").status == "done"
        hub.add_video("b", "b.mp4")
        hub.add_video("c", "c.mp4")  # keep_videos=2: the oldest is forgotten
        assert [v["video_id"] for v in hub.views()] == ["c", "b"]
        hub.unsubscribe(q)
    finally:
        hub.loop.close()


@pytest.mark.kafka
def test_kafka_mode_submits_a_request_and_follows_the_captions_topic(broker, tmp_path):
    """With a broker, serve publishes the VideoRequest (as `scenestream submit`) and shows what the joiner writes to
    the captions and video-events topics; here those records are produced by the test in the joiner's place."""
    import uuid

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from scenestream.schemas import Chapter, SceneCaption, VideoEvent, VideoRequest, VideoSummary, dumps, loads
    from scenestream.streams.runtimes.kafka.settings import KafkaSettings

    prefix = f"serve-{uuid.uuid4().hex[:8]}."
    kafka = KafkaSettings.from_env(broker=broker, prefix=prefix)
    app = create_app(ServeSettings(db=tmp_path / "index.db", out=tmp_path / "runs", broker=broker, prefix=prefix,
                                   allow_dirs=[bikes().parent]), Metrics())
    summary_text = "A man walks past parked cars."
    records = [SceneCaption("k1", 0, 0.0, 1.2, caption="a white sign on a pole", keyframe_times=[0.0, 0.64]),
               SceneCaption("k1", 1, 1.2, 3.04, caption="a man walks past parked cars", keyframe_times=[1.2, 2.16])]

    async def joiner_output() -> VideoRequest:
        consumer = AIOKafkaConsumer(kafka.topic("videos"), bootstrap_servers=broker, auto_offset_reset="earliest")
        await consumer.start()
        try:
            request = loads(VideoRequest, (await asyncio.wait_for(consumer.getone(), 60)).value)
        finally:
            await consumer.stop()
        producer = AIOKafkaProducer(bootstrap_servers=broker)
        await producer.start()
        try:
            for rec in records:
                await producer.send_and_wait(kafka.topic("captions"), dumps(rec), key=rec.key.encode())
            chapter = Chapter("k1", 0, 0.0, 3.04, title="Parked cars", scenes=[0, 1], last=True)
            await producer.send_and_wait(kafka.topic("chapters"), dumps(chapter), key=chapter.key.encode())
            summary = VideoSummary("k1", summary_text, "extractive", chapters=1, duration=3.04)
            await producer.send_and_wait(kafka.topic("summaries"), dumps(summary), key=b"k1")
            done = VideoEvent("k1", "done", time=time.time(), counts={"scenes": 2})
            await producer.send_and_wait(kafka.topic("video-events"), dumps(done), key=b"k1")
        finally:
            await producer.stop()
        return request

    with TestClient(app, base_url="http://127.0.0.1") as client:
        runner = app.state.parts["runner"]
        deadline = time.monotonic() + 60
        # `ready` is an asyncio.Event of the server's loop, which this thread cannot await: poll it, with a deadline
        # that only bounds a hang (the follower's start is not timed).
        while not runner.ready.is_set():  # the follower holds its start offsets
            assert time.monotonic() < deadline, "the captions follower did not start"
            time.sleep(0.1)
        r = client.post("/api/videos", json={"source": str(bikes()), "video_id": "k1"})
        assert r.status_code == 202
        request = asyncio.run(joiner_output())
        assert (request.video_id, request.uri) == ("k1", str(bikes()))
        events = _events(client, "k1")
        scenes = [e for k, e in events if k == "scene"]
        assert [e["record"]["caption"] for e in scenes] == [r.caption for r in records]
        assert events[-1][1]["kind"] == "done"
        # The chapters and summaries topics are followed too. The topics may be read in any order, so wait on the
        # hub's condition for the summary (the timeout bounds only a hang), then take the replay, which holds the
        # chapter and the summary before `done`.
        hub = app.state.hub
        with hub.lock:
            assert hub.changed.wait_for(lambda: "s" in hub.videos["k1"].wholes, timeout=120), "no summary event"
        events = _events(client, "k1")
        assert [e["record"]["title"] for k, e in events if k == "chapter"] == ["Parked cars"]
        assert [e["record"]["summary"] for k, e in events if k == "summary"] == [summary_text]
        frames = frames_160(bikes())
        for e in scenes:  # decoded from the source by the server, at each scene's first keyframe
            check_picture(e["thumb"], e["record"], frames)
        s = _samples(client.get("/metrics").text)
        assert s[("scenestream_scenes_total", ())] == 2
        assert s[("scenestream_videos_total", (("status", "done"),))] == 1
        app.state.parts["indexer"].join()
        hits = client.get("/api/search", params={"q": "someone walking beside cars", "k": 1}).json()
        assert (hits[0]["video_id"], hits[0]["index"]) == ("k1", 1)
