"""Live sources: detection (scheme, HTTP probe, flag), the latency profile under the user's options, and a paced
stream served by ffmpeg (HTTP and RTMP, one client each) whose records must arrive while it is still running."""
import functools
import http.server
import subprocess
import threading

import orjson
import pytest

from scenestream.agents.ingest import IngestAgent
from scenestream.schemas import Scene, SceneCaption, VideoRequest
from scenestream.streams.core import live
from tests import media
from tests.streams.live_server import LiveServer, free_port
from tests.streams.test_cli_run import read_captions, scenestream


def test_scheme_decides_unless_http():
    assert live.scheme_says("rtsp://cam.local/stream") is True
    assert live.scheme_says("rtmp://127.0.0.1:1935/live") is True
    assert live.scheme_says("udp://0.0.0.0:1234") is True
    assert live.scheme_says("/videos/film.mp4") is False
    assert live.scheme_says("file:///videos/film.mp4") is False
    assert live.scheme_says("https://example.com/live.ts") is None  # only a probe can tell
    assert live.decide("http://127.0.0.1:9/x.ts", live=True).live is True  # the flag wins, no probe
    assert live.decide("rtsp://cam.local/stream", live=False).live is False
    assert live.decide("https://example.com/live.ts").live is None  # left to the probe


def test_latency_profile_goes_under_the_users_options():
    user = {"ingest": {"audio_chunk_seconds": "5"}, "asr": {"language": "de"}, "tagger": {"threshold": "0.2"}}
    out = live.with_latency_defaults(user, ["asr", "tagger"])
    assert out["ingest"]["audio_chunk_seconds"] == "5"  # the user's own value wins
    assert out["ingest"]["max_scene_seconds"] == live.LATENCY["ingest"]["max_scene_seconds"]
    assert out["asr"] == {**live.LATENCY["asr"], "language": "de"}
    assert out["tagger"] == {"threshold": "0.2"}
    assert user["asr"] == {"language": "de"}  # not modified in place
    assert "asr" not in live.with_latency_defaults({}, ["tagger"])  # only the agents that run get theirs


@pytest.fixture
def http_file_server(tmp_path):
    """A plain HTTP server (files with a length: not live) over bikes.mp4 remuxed with its index first (the
    stdlib server cannot answer the range requests a trailing index needs)."""
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(media.bikes()), "-c", "copy", "-movflags", "+faststart",
                    str(tmp_path / "bikes.mp4")], check=True)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_file_probe_says_not_live_and_ingest_reuses_the_probe(http_file_server):
    url = f"{http_file_server}/bikes.mp4"
    source = live.decide(url)
    source.probe()
    assert (source.live, source.reason) == (False, "a known duration") and source.container is not None
    ingest = IngestAgent()
    source.hand_to(ingest)
    assert source.container is None
    scenes = [r for r in ingest.process(VideoRequest("bikes", url)) if isinstance(r, Scene)]
    assert len(scenes) == 6 and scenes[-1].last  # MEDIA.md: 6 shots
    assert ingest._adopted == {}  # the probed container was used, not left open


def test_unreachable_http_probe_leaves_the_error_to_ingest(tmp_path):
    port = free_port()  # bound, then released: nothing listens there
    source = live.decide(f"http://127.0.0.1:{port}/live.ts")
    source.probe()
    assert source.live is False and source.container is None and source.reason.startswith("probe failed")
    proc = scenestream("run", f"http://127.0.0.1:{port}/live.ts", "--out", str(tmp_path), "-q", "--agents", "")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_live_flag_on_a_file_applies_the_profile(tmp_path):
    """`--live` on a file: scenes are closed every max_scene_seconds even without a cut (synth cuts: 15, 30, 45)."""
    proc = scenestream("run", str(media.synth_clip()), "--out", str(tmp_path), "-q", "--agents", "", "--live")
    assert proc.returncode == 0, proc.stderr
    ends = [round(c.end, 1) for c in read_captions(tmp_path)]
    assert ends == [10.0, 15.0, 25.0, 30.0, 40.0, 45.0, 55.0, 60.0]
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert summary["live"] is True and summary["counts"]["audio_chunks"] in (60, 61)  # 1 s chunks (AAC: 60.02 s)
    # The user's own option wins over the profile; a file without --live keeps the throughput defaults.
    proc = scenestream("run", str(media.synth_clip()), "--out", str(tmp_path / "b"), "-q", "--agents", "", "--live",
                       "-o", "max_scene_seconds=0", "-o", "audio_chunk_seconds=4")
    assert proc.returncode == 0, proc.stderr
    assert [round(c.end) for c in read_captions(tmp_path / "b")] == [15, 30, 45, 60]
    assert orjson.loads((tmp_path / "b" / "summary.json").read_bytes())["counts"]["audio_chunks"] in (15, 16)


def delays(server: LiveServer, captions: list[SceneCaption]) -> list[float]:
    """Per scene: its record's emission minus the moment the server had sent the scene's end."""
    out = []
    for c in captions:
        sent = server.sent_at(c.end)
        assert sent is not None, f"scene {c.index} ends at {c.end} s, past what the server sent"
        out.append(c.emitted_at - sent)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["http", "rtmp"])
def test_paced_live_stream_records_arrive_while_it_runs(tmp_path, protocol):
    """The 60 s synthetic clip served at its own pace (`ffmpeg -re ... -listen 1`); `scenestream run URL` with no
    flag: live is found by itself (HTTP: no duration; RTMP: the scheme), and each scene's record is written seconds
    after the scene's end went out, while the stream is still running; not after it has ended."""
    with LiveServer(media.synth_clip(), protocol) as server:
        proc = scenestream("run", server.url, "--out", str(tmp_path), "-q", "--agents", "asr,tagger", timeout=300)
        assert proc.returncode == 0, proc.stderr
        server.wait(30)
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert summary["live"] is True and summary["status"] == "done"
    caps = read_captions(tmp_path)
    # max_scene_seconds (10) closes long shots between the clip's cuts at 15, 30 and 45 s.
    assert [round(c.end) for c in caps] == [10, 15, 25, 30, 40, 45, 55, 60]
    assert "quick brown fox" in caps[2].transcript.text.lower()  # the sentence at 20 s, through 2 s ASR windows
    assert "Speech" in {e.label for e in caps[2].audio_events}
    waited = delays(server, caps)
    print(f"\n{protocol}: delay from a scene's end in the stream to its record (s): "
          + ", ".join(f"[{c.start:.0f}, {c.end:.0f}) {d:.2f}" for c, d in zip(caps, waited)))
    assert all(c.emitted_at > 0 for c in caps)
    assert [c.emitted_at for c in caps] == sorted(c.emitted_at for c in caps)
    # The property: records do not wait for the end of the stream. Every scene but the last is out before the
    # server has finished sending, and within a generous bound of its end (bench/bench_live.py records the figures).
    assert all(c.emitted_at < server.ended_at for c in caps[:-1])
    assert max(waited) < 15, waited
