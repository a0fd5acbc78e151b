"""The remote backend: an OpenAI-compatible `POST /audio/transcriptions` (OpenAI, Azure OpenAI, or any server that
speaks the same API), asked for `verbose_json` with word timestamps.

Standard library only (urllib and a hand-built multipart body): httpx happens to be installed here, but only as
someone else's dependency, not one of ours. Requests run on a small thread pool; a semaphore bounds how many are in
flight, so `submit` blocks (back-pressure) instead of queueing without limit. 429, 5xx, timeouts and connection
errors are retried with exponential back-off, honouring Retry-After.
"""
from __future__ import annotations

import functools
import http.client
import io
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import wave
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from scenestream.agents.asr.backend import RegionText
from scenestream.agents.asr.settings import AsrSettings
from scenestream.agents.asr.speech import RATE, Packed

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 60.0


class TranscriptionError(Exception):
    """A request that failed for good; the message is one line."""


def wav_bytes(audio: np.ndarray, rate: int = RATE) -> bytes:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def multipart(fields: list[tuple[str, str]], file_field: str, filename: str, data: bytes,
              content_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
              f"Content-Type: {content_type}\r\n\r\n".encode())
    out.write(data)
    out.write(f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


@functools.cache
def _codes_by_name() -> dict[str, str]:
    # OpenAI's verbose_json names the language ("english"); records carry ISO codes like faster-whisper's.
    try:
        from transformers.models.whisper.tokenization_whisper import LANGUAGES
    except ImportError:
        return {}
    return {name: code for code, name in LANGUAGES.items()}


def language_code(value: str | None) -> str:
    value = (value or "").strip().lower()
    if len(value) <= 3:
        return value
    return _codes_by_name().get(value, value)


class OpenAIBackend:
    def __init__(self, settings: AsrSettings):
        self.settings = settings
        self.model_id = f"openai:{settings.model_spec()}"
        self._pool: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)

    @property
    def url(self) -> str:
        s = self.settings
        url = s.base_url.rstrip("/")
        if not url.endswith("/audio/transcriptions"):
            url += "/audio/transcriptions"
        if s.api_version:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"api-version": s.api_version})
        return url

    def setup(self) -> None:
        self._key = self.settings.key()  # ConfigError now, not on the first request
        self._pool = ThreadPoolExecutor(self.settings.max_concurrency, thread_name_prefix="asr-http")

    def submit(self, packed: Packed, language: str | None) -> "Future[RegionText]":
        self._slots.acquire()  # blocks while max_concurrency requests are in flight
        try:
            fut = self._pool.submit(self._transcribe, packed, language)
        except BaseException:
            self._slots.release()
            raise
        fut.add_done_callback(lambda _: self._slots.release())
        return fut

    def _transcribe(self, packed: Packed, language: str | None) -> RegionText:
        s = self.settings
        fields = [("model", s.model_spec()), ("response_format", "verbose_json"),
                  ("timestamp_granularities[]", "word"), ("temperature", "0")]
        if language:
            fields.append(("language", language))
        body, ctype = multipart(fields, "file", "region.wav", wav_bytes(packed.audio), "audio/wav")
        headers = {"Content-Type": ctype, "Accept": "application/json"}
        if s.api_version:
            headers["api-key"] = self._key
        else:
            headers["Authorization"] = f"Bearer {self._key}"
        data = self._post(body, headers)
        return parse_verbose_json(data)

    def _post(self, body: bytes, headers: dict) -> dict:
        s = self.settings
        attempt = 0
        while True:
            delay = s.backoff * (2 ** attempt)
            try:
                req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=s.timeout) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read(300).decode("utf-8", "replace")
                if exc.code not in RETRY_STATUS or attempt >= s.retries:
                    raise TranscriptionError(_line(f"HTTP {exc.code} from {self.url}: {detail}")) from None
                delay = _retry_after(exc.headers.get("Retry-After"), delay)
            except (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError) as exc:
                if attempt >= s.retries:
                    reason = getattr(exc, "reason", exc)
                    raise TranscriptionError(_line(f"{self.url}: {reason} (after {attempt + 1} attempts)")) from None
            except ValueError as exc:  # not JSON: no point asking again
                raise TranscriptionError(_line(f"bad JSON from {self.url}: {exc}")) from None
            attempt += 1
            time.sleep(delay * random.uniform(1.0, 1.1))  # a little jitter so parallel retries spread out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def parse_verbose_json(data: dict) -> RegionText:
    words = data.get("words")
    if words is None:  # some servers put the words inside the segments
        words = [w for seg in data.get("segments") or [] for w in seg.get("words") or []]
    out = []
    for w in words:
        text = str(w.get("word", "")).strip()
        if text:
            # Whisper-style leading space, so words join into text the same way for both backends.
            out.append((" " + text, float(w["start"]), float(w["end"]), float(w.get("probability", 0.0))))
    return RegionText(out, language_code(data.get("language")))


def _retry_after(value: str | None, default: float) -> float:
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value))) if value is not None else default
    except ValueError:
        return default


def _line(text: str) -> str:
    return " ".join(text.split())[:300]
