"""Kafka mode end to end on the real broker: `scenestream worker` subprocesses, `submit`, `tail`, `status`."""
import dataclasses
import json
import threading
import time
from collections import Counter

import orjson
import psutil
import pytest

from scenestream.schemas import SceneCaption
from scenestream.streams.core import table
from tests import media
from tests.kafka.kafkatools import WorkerProcess, lags, produce, read_topic, scenestream

pytestmark = pytest.mark.kafka

BIKES_CUTS = [1.20, 3.04, 5.48, 7.48, 9.68]
CAPTION_FIELDS = {f.name for f in dataclasses.fields(SceneCaption)}


def all_agents() -> str:
    return ",".join(["ingest", *table.available(), "joiner"])


def tail_lines(broker, prefix, video_id, timeout=300):
    proc = scenestream(broker, prefix, "tail", "--video-id", video_id, "--until-done", "--timeout", str(timeout),
                       timeout=timeout + 60)
    return proc, [orjson.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def events_of(broker, prefix, video_id):
    return [orjson.loads(r.value) for r in read_topic(broker, prefix, "video-events") if r.key == video_id.encode()]


@pytest.mark.slow
def test_bikes_gives_its_six_scenes_in_order_with_every_field(broker, prefix, tmp_path):
    available = table.available()
    with WorkerProcess(broker, prefix, all_agents(), tmp_path, store="rocksdb://") as worker:
        sub = scenestream(broker, prefix, "submit", str(media.bikes()), "--video-id", "bikes-1")
        assert sub.returncode == 0, sub.stderr
        assert sub.stdout.strip() == "bikes-1"
        tail, caps = tail_lines(broker, prefix, "bikes-1")
        status = scenestream(broker, prefix, "status", "bikes-1")
    assert tail.returncode == 0, tail.stderr + worker.stderr_tail()
    assert [c["index"] for c in caps] == list(range(6))
    assert all(set(c) == CAPTION_FIELDS for c in caps)  # every field present, none extra
    assert [c["start"] for c in caps[1:]] == pytest.approx(BIKES_CUTS, abs=0.041)
    assert [c["end"] for c in caps[:-1]] == [c["start"] for c in caps[1:]]
    assert caps[-1]["last"] and not any(c["last"] for c in caps[:-1])
    assert caps[-1]["end"] == pytest.approx(10.0, abs=0.05)
    for c in caps:
        assert c["video_id"] == "bikes-1" and len(c["keyframe_times"]) == 2
        assert c["start"] <= c["keyframe_times"][0] < c["end"]
        for src in table.names():
            if src not in available:
                assert c["missing"][src] == "not enabled"
            elif table.spec(src).needs == "audio":
                assert c["missing"][src] == "no audio track"  # bikes.mp4 has none
            else:
                assert src not in c["missing"], c["missing"]
    assert status.returncode == 0, status.stderr
    last = json.loads(status.stdout)
    assert last["kind"] == "done" and last["counts"] == {"scenes": 6}

    # The video as a whole: its chapters (keyed video_id:index, numbered from 0, covering the video, scene ranges
    # end to end) and one summary keyed by the video id, committed in the joiner's transactions.
    chapters = [(r.key.decode(), orjson.loads(r.value)) for r in read_topic(broker, prefix, "chapters")]
    assert [k for k, _ in chapters] == [f"bikes-1:{i}" for i in range(len(chapters))] and chapters
    assert chapters[0][1]["start"] == 0.0 and chapters[-1][1]["end"] == pytest.approx(10.0, abs=0.05)
    assert chapters[0][1]["scenes"][0] == 0 and chapters[-1][1]["scenes"][-1] == 5 and chapters[-1][1]["last"]
    assert all(c["title"].strip() and c["video_id"] == "bikes-1" for _, c in chapters)
    summaries = [(r.key.decode(), orjson.loads(r.value)) for r in read_topic(broker, prefix, "summaries")]
    assert [k for k, _ in summaries] == ["bikes-1"]
    assert summaries[0][1]["chapters"] == len(chapters) and summaries[0][1]["method"] == "extractive"
    assert summaries[0][1]["summary"].strip()


@pytest.fixture
def gated(monkeypatch, tmp_path):
    """Workers load the gate agent (tests/kafka/gate_agent.py); `shut()` makes the next WorkerProcess hold every
    scene from index 2 on until `gate` (a file) exists, `unshut()` makes the next one hold nothing."""

    class Gate:
        path = tmp_path / "gate-open"
        log = tmp_path / "gate.log"

        def shut(self):
            monkeypatch.setenv("SCENESTREAM_TEST_GATE", str(self.path))

        def unshut(self):
            monkeypatch.delenv("SCENESTREAM_TEST_GATE", raising=False)

        def open(self):
            self.path.touch()

        def passes(self) -> dict[int, list[str]]:
            """Scene keys passed, by worker process id."""
            out: dict[int, list[str]] = {}
            for line in self.log.read_text().splitlines() if self.log.exists() else ():
                pid, key = line.split()
                out.setdefault(int(pid), []).append(key)
            return out

    monkeypatch.setenv("SCENESTREAM_PLUGINS", "tests.kafka.gate_agent")
    monkeypatch.setenv("SCENESTREAM_TEST_GATE_FROM", "2")
    monkeypatch.setenv("SCENESTREAM_TEST_GATE_LOG", str(Gate.log))
    return Gate()


def wait_for_a_caption(broker, prefix, worker, timeout=240) -> list:
    deadline = time.monotonic() + timeout
    while not (seen := read_topic(broker, prefix, "captions")):
        assert time.monotonic() < deadline, f"no caption within {timeout} s:\n" + worker.stderr_tail()
        time.sleep(0.5)
    return seen


@pytest.mark.slow
def test_a_worker_killed_mid_video_loses_no_scene_and_doubles_none(broker, prefix, tmp_path, gated):
    """SIGKILL in the middle of a 3-minute video, after the first captions are out; a new worker takes over.
    `captions` must then hold exactly one committed record per scene key, for every scene of the video. The first
    worker's gate holds scenes 2 and on, so it dies with scenes in work whatever this machine's speed."""
    video = media.long_video(3)
    asr = "asr" in table.available()
    agents = "ingest,asr,gate,joiner" if asr else "ingest,gate,joiner"
    # ASR answers every 20 s of audio instead of 120 s, so captions flow while ingest is still decoding.
    extra = ("-o", "asr.window=20", "-o", f"joiner.sources={'asr,gate' if asr else 'gate'}")
    gated.shut()
    first = WorkerProcess(broker, prefix, agents, tmp_path, *extra, store="rocksdb://").start()
    try:
        assert scenestream(broker, prefix, "submit", str(video), "--video-id", "crash-1").returncode == 0
        seen = wait_for_a_caption(broker, prefix, first)
        first.kill()
        assert first.proc.returncode == -9
    finally:
        first.kill()
        first.stop()
    before_kill = {r.key.decode() for r in seen}
    assert before_kill <= {"crash-1:0", "crash-1:1"}  # the gate held every later scene
    # The new worker has no local state (as on another machine): the joiner's table comes back from its changelog.
    gated.unshut()
    with WorkerProcess(broker, prefix, agents, tmp_path / "second", *extra, store="rocksdb://") as second:
        tail, caps = tail_lines(broker, prefix, "crash-1", timeout=400)
        # On a time-out: which scenes came, which inputs the groups stopped committing, the new worker's log.
        assert tail.returncode == 0, (f"{tail.stderr}scenes printed: {[c['index'] for c in caps]}\n"
                                      f"{lags(broker, prefix)}\n{second.stderr_tail()}")
    ingested = [e for e in events_of(broker, prefix, "crash-1") if e["kind"] == "ingested"]
    n = ingested[-1]["counts"]["scenes"]
    assert n >= 25  # 3 minutes of 4 synthetic shots + bikes' 6 per minute
    passes = gated.passes()
    assert set(passes.get(second.pid, [])) >= {f"crash-1:{i}" for i in range(2, n)}  # the rest was redone there
    keys = Counter(r.key.decode() for r in read_topic(broker, prefix, "captions"))
    assert set(keys) == {f"crash-1:{i}" for i in range(n)}  # none missing
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1]  # none twice
    assert [c["index"] for c in caps] == list(range(n))
    done = [e for e in events_of(broker, prefix, "crash-1") if e["kind"] == "done"]
    assert len(done) == 1 and done[0]["counts"] == {"scenes": n}
    # The chapters: the new owner went on from the progress in the joiner's table (the open chapter's start, the
    # numbers), so they cover the video from 0 end to end, each key once.
    chapters = sorted((orjson.loads(r.value) for r in read_topic(broker, prefix, "chapters")), key=lambda c: c["index"])
    assert [c["index"] for c in chapters] == list(range(len(chapters))) and chapters
    assert chapters[0]["start"] == 0.0 and chapters[0]["scenes"][0] == 0
    assert [c["end"] for c in chapters[:-1]] == [c["start"] for c in chapters[1:]]
    assert chapters[-1]["scenes"][-1] == n - 1 and chapters[-1]["end"] == pytest.approx(caps[-1]["end"])
    summaries = [orjson.loads(r.value) for r in read_topic(broker, prefix, "summaries")]
    assert len(summaries) == 1 and summaries[0]["chapters"] == len(chapters)


class PeakRss:
    """Samples a process's resident memory every 0.2 s."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.slow
def test_four_videos_together_all_finish_in_bounded_memory(broker, prefix, tmp_path, record_property):
    videos = {"synth": media.synth_clip(), "long1": media.long_video(1), "bikes": media.bikes(),
              "audio": media.audio_only()}
    with WorkerProcess(broker, prefix, all_agents(), tmp_path) as worker, PeakRss(worker.pid) as rss:
        for vid, path in videos.items():
            assert scenestream(broker, prefix, "submit", str(path), "--video-id", vid).returncode == 0
        results = {vid: tail_lines(broker, prefix, vid, timeout=600) for vid in videos}
    for vid, (tail, caps) in results.items():
        assert tail.returncode == 0, f"{vid}: {tail.stderr}"
        assert caps and [c["index"] for c in caps] == list(range(len(caps))) and caps[-1]["last"], vid
    assert len(results["bikes"][1]) == 6 and len(results["synth"][1]) == 4 and len(results["audio"][1]) == 1
    # Memory is a figure for the benchmarks (bench/), not a pass mark: it depends on the machine's libraries.
    peak_mb = rss.peak / 2**20
    record_property("worker_peak_rss_mb", round(peak_mb))
    print(f"\nworker peak RSS over four videos ({all_agents()}): {peak_mb:.0f} MB")


def test_bad_requests_fail_with_one_line_and_the_worker_serves_the_next(broker, prefix, tmp_path):
    with WorkerProcess(broker, prefix, "ingest,joiner", tmp_path, "-o", "joiner.sources=none") as worker:
        produce(broker, prefix, "videos", b"not-json", b"{this is not JSON")
        produce(broker, prefix, "videos", b"no-uri", orjson.dumps({"video_id": "no-uri", "options": {}}))
        produce(broker, prefix, "videos", b"gopher", orjson.dumps({"video_id": "gopher",
                                                                   "uri": "gopher://example.invalid/x.mp4"}))
        assert scenestream(broker, prefix, "submit", str(media.bikes()), "--video-id", "good").returncode == 0
        tail, caps = tail_lines(broker, prefix, "good", timeout=120)
        assert tail.returncode == 0, tail.stderr + worker.stderr_tail()
        assert len(caps) == 6
        failed = scenestream(broker, prefix, "tail", "--video-id", "gopher", "--until-done", "--timeout", "60")
        assert failed.returncode == 1 and "unsupported_scheme" in failed.stderr
        assert worker.proc.poll() is None  # still serving
        assert worker.stop() == 0  # SIGTERM: a clean exit
    reasons = {}
    for vid in ("not-json", "no-uri", "gopher"):
        events = events_of(broker, prefix, vid)
        assert [e["kind"] for e in events] == ["failed"], events  # never accepted
        reasons[vid] = f'{events[0]["code"]}: {events[0]["message"]}'
        assert "\n" not in reasons[vid] and len(reasons[vid]) < 400
    assert reasons["not-json"].startswith("bad_request: not valid JSON")
    assert reasons["no-uri"] == "bad_request: missing or empty field(s): uri"
    assert reasons["gopher"].startswith("unsupported_scheme: unsupported scheme 'gopher'")
    letters = {r.key: orjson.loads(r.value) for r in read_topic(broker, prefix, "errors")}
    assert set(letters) == {b"not-json", b"no-uri"}  # unreadable messages are kept; a readable one is not
    assert letters[b"not-json"]["payload"] == "{this is not JSON"
    assert letters[b"not-json"]["topic"] == prefix + "videos"
    assert [e["kind"] for e in events_of(broker, prefix, "good")].count("done") == 1


@pytest.mark.slow
def test_a_worker_joining_mid_video_takes_partitions_without_loss_or_doubles(broker, prefix, tmp_path, gated):
    """Scaling out: a second worker joins while videos are in work; partitions (and the joiner's state and
    transactions) move in a rebalance, ingest on a partition that moves is left to its new owner. The first
    worker's gate holds scenes 2 and on until the second worker has passed scenes of its own: work that can only
    have reached it through the rebalance (the first worker's held inputs are uncommitted, so they move too)."""
    asr = "asr" in table.available()
    agents = "ingest,asr,gate,joiner" if asr else "ingest,gate,joiner"
    extra = ("-o", "asr.window=20", "-o", f"joiner.sources={'asr,gate' if asr else 'gate'}")
    videos = {"s1": media.long_video(2), "s2": media.synth_clip(), "s3": media.long_video(1), "s4": media.bikes()}
    gated.shut()
    with WorkerProcess(broker, prefix, agents, tmp_path / "one", *extra) as one:
        for vid, path in videos.items():
            assert scenestream(broker, prefix, "submit", str(path), "--video-id", vid).returncode == 0
        wait_for_a_caption(broker, prefix, one)
        gated.unshut()
        with WorkerProcess(broker, prefix, agents, tmp_path / "two", *extra) as two:
            deadline = time.monotonic() + 240
            while not gated.passes().get(two.pid):
                assert time.monotonic() < deadline, "no scene moved to the new worker:\n" + two.stderr_tail()
                time.sleep(0.5)
            gated.open()  # the first worker may go on with what it kept
            tails = {vid: tail_lines(broker, prefix, vid, timeout=400) for vid in videos}
            assert two.stop() == 0, two.stderr_tail()
        assert one.stop() == 0, one.stderr_tail()
    passes = gated.passes()
    assert set(passes) == {one.pid, two.pid}  # both did work
    for vid, (tail, caps) in tails.items():
        assert tail.returncode == 0, f"{vid}: {tail.stderr}"
        assert [c["index"] for c in caps] == list(range(len(caps))) and caps[-1]["last"]
    keys = Counter(r.key.decode() for r in read_topic(broker, prefix, "captions"))
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1]
    assert len(keys) == sum(len(caps) for _, caps in tails.values())
