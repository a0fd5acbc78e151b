"""A file served as a live stream by ffmpeg, at the file's own pace (`-re`), to one client: HTTP (MPEG-TS, no
duration, as a live HTTP stream) or RTMP (FLV). ffmpeg's `-progress` reports say how much media it has sent at each
moment, so `sent_at(t)` is the wall time at which the stream's second `t` went out: a record's delay is measured
from there, whatever the start-up or back-pressure did to the pace. Shared by tests/streams/test_live.py and
bench/bench_live.py."""
from __future__ import annotations

import bisect
import socket
import subprocess
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, read from /proc (connecting would use up the one client)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                return True
    return False


class LiveServer:
    def __init__(self, clip: Path, protocol: str = "http"):
        self.clip = clip
        self.port = free_port()
        if protocol == "http":
            self.url, fmt = f"http://127.0.0.1:{self.port}/live.ts", "mpegts"
        elif protocol == "rtmp":
            self.url, fmt = f"rtmp://127.0.0.1:{self.port}/live", "flv"
        else:
            raise ValueError(f"protocol must be http or rtmp, not {protocol!r}")
        self.cmd = ["ffmpeg", "-v", "error", "-nostdin", "-re", "-i", str(clip), "-c", "copy",
                    "-progress", "pipe:1", "-stats_period", "0.2", "-f", fmt, "-listen", "1", self.url]
        self.reports: list[tuple[float, float]] = []  # (media seconds sent, wall time), media non-decreasing
        self.ended_at: float | None = None
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> "LiveServer":
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 10
        while not _listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ffmpeg did not listen on {self.url}: {self.proc.stderr.read() if self.proc.poll() is not None else 'timeout'}")
            time.sleep(0.05)
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit():
                sent = max(0.0, int(value) / 1e6)
                if not self.reports or sent >= self.reports[-1][0]:
                    self.reports.append((sent, time.time()))
            elif key == "progress" and value == "end":
                self.ended_at = time.time()
        if self.ended_at is None:
            self.ended_at = time.time()

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return rc

    def sent_at(self, t: float) -> float | None:
        """Wall time at which media second `t` had been sent (linear between reports), or None if it never was.
        The stream's very end counts as sent when ffmpeg finished."""
        media = [m for m, _ in self.reports]
        i = bisect.bisect_left(media, t)
        if i == len(media):
            return self.ended_at if self.ended_at is not None and media and t <= media[-1] + 0.5 else None
        if i == 0 or media[i] == t:
            return self.reports[i][1]
        (m0, w0), (m1, w1) = self.reports[i - 1], self.reports[i]
        return w0 + (w1 - w0) * (t - m0) / (m1 - m0)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
