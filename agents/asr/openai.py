"""The remote backend: an OpenAI-compatible `POST /audio/transcriptions` (OpenAI, Azure OpenAI, or any server that
speaks the same API), asked for `verbose_json` with word timestamps.

The openai library does the transport, as for the captioner's model servers (agents/chat.py): timeouts, and
retries of 408, 409, 429, 5xx and connection errors with exponential backoff and jitter that honour Retry-After.
Requests run on a small thread pool; a semaphore bounds how many are in flight, so `submit` blocks
(back-pressure) instead of queueing without limit.
"""
from __future__ import annotations

import functools
import io
import threading
import wave
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from scenestream.agents.asr.backend import RegionText
from scenestream.agents.asr.settings import AsrSettings
from scenestream.agents.asr.speech import RATE, Packed
from scenestream.agents.chat import load_openai


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
        self._client = None
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)

    @property
    def url(self) -> str:
        return self.settings.base_url.rstrip("/").removesuffix("/audio/transcriptions")

    def setup(self) -> None:
        openai = load_openai()  # only deployments with a transcription server need it loaded; see load_openai

        s = self.settings
        key = s.key()  # ConfigError now, not on the first request
        if s.api_version:  # Azure: ?api-version= on each request, the key in the api-key header
            self._client = openai.AzureOpenAI(base_url=self.url, api_version=s.api_version, api_key=key,
                                              timeout=s.timeout, max_retries=s.retries)
        else:
            self._client = openai.OpenAI(base_url=self.url, api_key=key, timeout=s.timeout, max_retries=s.retries)
        self._client.audio.transcriptions  # noqa: B018  (openai imports it on first use; do it here, in one thread)
        self._pool = ThreadPoolExecutor(s.max_concurrency, thread_name_prefix="asr-http")

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
        extra = {"language": language} if language else {}
        try:
            reply = self._client.audio.transcriptions.create(
                model=s.model_spec(), file=("region.wav", wav_bytes(packed.audio), "audio/wav"),
                response_format="verbose_json", timestamp_granularities=["word"], temperature=0, **extra)
        except Exception as exc:  # noqa: BLE001  (openai's APIError family, httpx errors: one line each)
            raise TranscriptionError(_line(f"{self.url}: {_reason(exc)} (after {s.retries + 1} attempts)")) from None
        data = reply.model_dump() if hasattr(reply, "model_dump") else reply
        if not isinstance(data, dict):
            raise TranscriptionError(_line(f"{self.url}: not a verbose_json answer: {str(data)[:120]}"))
        return parse_verbose_json(data)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None


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


def _line(text: str) -> str:
    return " ".join(text.split())[:300]


def _reason(exc: BaseException) -> str:
    """An openai exception as the HTTP status and the server's message, or the connection failure."""
    status = getattr(exc, "status_code", None)
    text = str(getattr(exc, "message", "") or exc)
    if status is not None:
        return f"HTTP {status}: {text}"
    cause = exc.__cause__ or exc.__context__
    return f"{type(exc).__name__}: {text}" + (f" ({cause})" if cause is not None else "")
