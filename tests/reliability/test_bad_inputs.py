"""Bad inputs through both runtimes: files, URIs and requests that cannot be served. Each ends in one line: in the
embedded runtime (`scenestream run`) exit status 1 and one stderr line without a traceback; in Kafka mode a `failed`
event on `video-events` with a code and a one-line message, from one worker that serves them all and then still
completes a good video. The inputs are made here, at test time, with ffmpeg and Python."""
from __future__ import annotations

import http.server
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import av
import orjson
import pytest

from tests import media
from tests.kafka.kafkatools import WorkerProcess, read_topic, scenestream

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = {"HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1", "SCENESTREAM_OFFLINE": "1"}


@dataclass
class Inputs:
    """Where the made inputs live, and the local endpoints the URI cases point at."""
    dir: Path
    http: str  # a local HTTP server over an empty folder: every path is a 404
    closed_port: int  # nothing listens here


@dataclass
class Case:
    name: str
    source: Callable[[Inputs], str]
    code: str  # the failed event's code (Kafka mode)
    says: str  # a regex the one line must match (both runtimes)
    options: dict = field(default_factory=dict)  # the request's ingest options
    names_source: bool = True  # the line names the file or URI


def _encode(inputs: Inputs, name: str, *args: str) -> Path:
    out = inputs.dir / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(out)], check=True, timeout=120)
    return out


def _clip(inputs: Inputs) -> Path:
    """12 s of H.264 at 25 fps with the index up front (faststart): 300 packets to spoil."""
    path = inputs.dir / "clip.mp4"
    if not path.exists():
        _encode(inputs, "clip.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=12",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart")
    return path


def _cut(src: Path, dst: Path, share: float = 0.3) -> str:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * share)])
    return str(dst)


def empty_file(i: Inputs) -> str:
    (i.dir / "empty.mp4").write_bytes(b"")
    return str(i.dir / "empty.mp4")


def random_bytes(i: Inputs) -> str:
    (i.dir / "random.mp4").write_bytes(random.Random(11).randbytes(200_000))
    return str(i.dir / "random.mp4")


def truncated_mp4(i: Inputs) -> str:
    """The first 30 %: the index (at the front) promises 12 s, the data stops near 3.6 s."""
    return _cut(_clip(i), i.dir / "truncated.mp4")


def truncated_mp4_without_index(i: Inputs) -> str:
    """The index at the end, as ffmpeg writes by default, so the first 30 % has none."""
    whole = _encode(i, "index-last.mp4", "-i", str(_clip(i)), "-c", "copy")
    return _cut(whole, i.dir / "truncated-no-index.mp4")


def truncated_mkv(i: Inputs) -> str:
    whole = _encode(i, "clip.mkv", "-i", str(_clip(i)), "-c", "copy")
    return _cut(whole, i.dir / "truncated.mkv")


def corrupt_middle(i: Inputs) -> str:
    """The middle half of the file overwritten with random bytes: ~150 packets in a row that do not decode."""
    data = bytearray(_clip(i).read_bytes())
    n = len(data)
    data[n // 4: 3 * n // 4] = random.Random(7).randbytes(3 * n // 4 - n // 4)
    (i.dir / "corrupt-middle.mp4").write_bytes(bytes(data))
    return str(i.dir / "corrupt-middle.mp4")


def text_file(i: Inputs) -> str:
    (i.dir / "notes.txt").write_text("a shopping list, not a video\n")
    return str(i.dir / "notes.txt")


def directory(i: Inputs) -> str:
    (i.dir / "a-folder.mp4").mkdir(exist_ok=True)
    return str(i.dir / "a-folder.mp4")


def missing_file(i: Inputs) -> str:
    return str(i.dir / "no-such-video.mp4")


def image_file(i: Inputs) -> str:
    """A still picture: FFmpeg reads it as a one-frame video, but it is not one."""
    return str(_encode(i, "picture.jpg", "-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1"))


def png_file(i: Inputs) -> str:
    return str(_encode(i, "picture.png", "-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1"))


def no_streams(i: Inputs) -> str:
    """A valid mp4 with no track at all (`-t 0`)."""
    return str(_encode(i, "no-tracks.mp4", "-f", "lavfi", "-i", "color=c=red:s=64x64:r=25", "-t", "0"))


def tracks_without_packets(i: Inputs) -> str:
    """A Matroska header declaring a video and an audio track, and not one packet after it."""
    path = i.dir / "no-packets.mkv"
    with av.open(str(path), "w") as out:
        v = out.add_stream("mpeg4", rate=25)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        out.add_stream("aac", rate=16000)
        out.start_encoding()  # writes the header; closing with no packet then ends the file there
    return str(path)


def zero_length_audio(i: Inputs) -> str:
    """A WAV file with a header and no samples."""
    path = i.dir / "no-samples.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    return str(path)


CASES = [
    # files
    Case("empty-file", empty_file, "empty_file", r"empty file"),
    Case("random-bytes", random_bytes, "not_media", r"not a media file"),
    Case("truncated-mp4", truncated_mp4, "truncated", r"decoding stopped at [\d.]+ s of 12\.\d+ s.*truncated"),
    Case("truncated-mp4-no-index", truncated_mp4_without_index, "not_media", r"not a media file"),
    Case("truncated-mkv", truncated_mkv, "truncated", r"decoding stopped at [\d.]+ s of 12\.\d+ s.*truncated"),
    Case("corrupt-middle", corrupt_middle, "decode_error", r"too many decode errors"),
    Case("text-file", text_file, "not_media", r"not a media file"),
    Case("directory", directory, "not_a_file", r"is a directory"),
    Case("missing-file", missing_file, "not_found", r"no such file"),
    Case("image-jpeg", image_file, "not_video", r"still image \(image2\), not a video"),
    Case("image-png", png_file, "not_video", r"still image \(png_pipe\), not a video"),
    Case("no-tracks", no_streams, "no_media_streams", r"no video or audio stream"),
    Case("tracks-without-packets", tracks_without_packets, "unreadable", r"cannot open .*: End of file"),
    Case("wav-without-samples", zero_length_audio, "no_audio", r"no decodable audio"),
    # URIs
    Case("closed-port-http", lambda i: f"http://127.0.0.1:{i.closed_port}/video.mp4", "unreachable",
         r"connection refused"),
    Case("closed-port-rtsp", lambda i: f"rtsp://127.0.0.1:{i.closed_port}/live", "unreachable",
         r"connection refused"),
    Case("malformed-ipv6", lambda i: "http://[::1/video.mp4", "bad_uri", r"malformed URI .*Invalid IPv6 URL"),
    Case("port-out-of-range", lambda i: "http://localhost:99999/video.mp4", "bad_uri",
         r"malformed URI .*out of range"),
    Case("no-host", lambda i: "http:///video.mp4", "bad_uri", r"malformed URI .*no host"),
    Case("unsupported-scheme", lambda i: "gopher://example.org/video.mp4", "unsupported_scheme",
         r"unsupported scheme 'gopher'"),
    Case("http-404", lambda i: f"{i.http}/no-such-video.mp4", "not_found", r"HTTP 404 not found"),
    Case("unknown-host", lambda i: "http://no-such-host.invalid/video.mp4", "unreadable", r"cannot open .*: \S"),
    # requests
    Case("unknown-option", lambda i: str(_clip(i)), "bad_option",
         r"unknown option ingest\.frame_rat \(did you mean 'frame_rate'\?\)", {"frame_rat": "1"}, False),
    Case("bad-option-value", lambda i: str(_clip(i)), "bad_option", r"bad option ingest\.frame_rate.*float",
         {"frame_rate": "fast"}, False),
    Case("option-out-of-range", lambda i: str(_clip(i)), "bad_option", r"keyframes must be at least 1",
         {"keyframes": "0"}, False),
    Case("empty-uri", lambda i: "", "bad_request", r"source is empty|missing or empty field\(s\): uri",
         names_source=False),
]


def _video_id(case: Case) -> str:
    return f"bad-{case.name}"


class Embedded:
    """`scenestream run SOURCE`, one process per input, with no model agent: bad input fails before any is needed."""
    name = "embedded"

    def __init__(self, inputs: Inputs):
        self.inputs = inputs

    def run(self, source: str, video_id: str, options: dict) -> subprocess.CompletedProcess:
        opts = [a for k, v in options.items() for a in ("-o", f"{k}={v}")]
        return subprocess.run([sys.executable, "-m", "streams", "run", source, "--out",
                               str(self.inputs.dir / "out" / video_id), "-q", "--agents", "", "--video-id", video_id,
                               *opts], capture_output=True, text=True, timeout=300, env=dict(os.environ, **OFFLINE),
                              cwd=ROOT)

    def failure(self, case: Case, source: str) -> tuple[str | None, str]:
        """(code when the runtime shows one, the one line)."""
        proc = self.run(source, _video_id(case), case.options)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, (proc.returncode, proc.stderr[-3000:])
        assert lines[0].startswith("scenestream: "), lines
        return None, lines[0]

    def good_video(self, path: str) -> list[dict]:
        proc = self.run(path, "good-after-bad", {})
        assert proc.returncode == 0, proc.stderr[-3000:]
        return [orjson.loads(line) for line in (self.inputs.dir / "out/good-after-bad/captions.jsonl")
                .read_bytes().splitlines()]

    def alive(self) -> bool:
        return True  # one process per input: nothing lives on between them


class Kafka:
    """One worker (ingest and the joiner, waiting for no model agent) for every input of the module: each request
    is submitted as `scenestream submit` does, all at once, and the worker's failed events are read back."""
    name = "kafka"

    def __init__(self, inputs: Inputs, broker: str, prefix: str, worker: WorkerProcess):
        self.inputs, self.broker, self.prefix, self.worker = inputs, broker, prefix, worker
        self._events: dict[str, list[dict]] | None = None

    def _submit_all(self) -> None:
        import asyncio

        from scenestream.streams.runtimes.kafka.client import make_request, submit
        from scenestream.streams.runtimes.kafka.settings import KafkaSettings

        settings = KafkaSettings.from_env(broker=self.broker, prefix=self.prefix)

        async def go():
            for case in CASES:
                await submit(settings, make_request(case.source(self.inputs), _video_id(case), case.options))
        asyncio.run(go())

    def events(self) -> dict[str, list[dict]]:
        """video id -> its events, once every bad request has an end (failed or done)."""
        if self._events is None:
            self._submit_all()
            wanted = {_video_id(c) for c in CASES}
            deadline, events = time.monotonic() + 240, {}
            while time.monotonic() < deadline:
                events = {}
                for r in read_topic(self.broker, self.prefix, "video-events", timeout=10):
                    events.setdefault(r.key.decode(), []).append(orjson.loads(r.value))
                ended = {v for v, evs in events.items() if any(e["kind"] in ("failed", "done") for e in evs)}
                if wanted <= ended:
                    break
                time.sleep(1)
            self._events = events
        return self._events

    def failure(self, case: Case, source: str) -> tuple[str | None, str]:
        evs = self.events().get(_video_id(case), [])
        kinds = [e["kind"] for e in evs]
        assert kinds.count("failed") == 1 and "done" not in kinds, (kinds, self.worker.stderr_tail())
        failed = next(e for e in evs if e["kind"] == "failed")
        assert failed["code"] and failed["message"], failed
        return failed["code"], f"{failed['code']}: {failed['message']}"

    def good_video(self, path: str) -> list[dict]:
        self.events()  # after every bad request
        sub = scenestream(self.broker, self.prefix, "submit", path, "--video-id", "good-after-bad")
        assert sub.returncode == 0, sub.stderr
        tail = scenestream(self.broker, self.prefix, "tail", "--video-id", "good-after-bad", "--until-done",
                           "--timeout", "300", timeout=360)
        assert tail.returncode == 0, tail.stderr + self.worker.stderr_tail()
        return [orjson.loads(line) for line in tail.stdout.splitlines() if line.strip()]

    def alive(self) -> bool:
        log = self.worker.log.read_text(errors="replace")
        assert "Traceback" not in log, log[-4000:]
        return self.worker.proc.poll() is None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-inputs")
    (folder / "served").mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **kw: _Quiet(*a, directory=str(folder / "served"), **kw))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens on it
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    try:
        yield Inputs(folder, f"http://127.0.0.1:{server.server_address[1]}", closed)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def runtime(request, inputs):
    if request.param == "embedded":
        yield Embedded(inputs)
        return
    broker = request.getfixturevalue("broker")
    prefix = f"scenestream-test-bad-inputs-{secrets.token_hex(3)}."
    with WorkerProcess(broker, prefix, "ingest,joiner", inputs.dir / "worker", "-o", "joiner.sources=none") as worker:
        yield Kafka(inputs, broker, prefix, worker)


def test_there_are_at_least_fifteen_kinds():
    assert len({c.name for c in CASES}) == len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_bad_input_ends_in_one_line(runtime, inputs, case):
    source = case.source(inputs)
    code, line = runtime.failure(case, source)
    assert "\n" not in line and "Traceback" not in line and len(line) < 600, line
    assert re.search(case.says, line), line
    if code is not None:
        assert code == case.code, line
    if case.names_source:
        assert (Path(source).name if "://" not in source else source) in line, line


def test_the_runtime_still_serves_a_good_video_afterwards(runtime, inputs):
    bikes = str(media.bikes())
    caps = runtime.good_video(bikes)
    assert [c["index"] for c in caps] == list(range(6)) and caps[-1]["last"]
    assert runtime.alive()
