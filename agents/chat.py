"""A client for OpenAI-compatible chat completions: vLLM, SGLang, TGI, Ollama (at /v1), `transformers serve`, OpenAI
and Azure OpenAI all take the same request. The captioner sends each scene's keyframes through it; text-only
features (summaries, answers) send plain messages through the same `complete`.

    client = ChatClient("http://gpu-box:8000/v1", model="Qwen/Qwen2.5-VL-7B-Instruct")
    reply = client.complete([user_message("Describe.", jpegs)], max_tokens=256)
    reply.text, reply.model, reply.usage        # usage: prompt_tokens, completion_tokens, total_tokens

The openai library does the transport: timeouts, and retries of 408, 409, 429, 5xx and connection errors with
exponential backoff and jitter that honour the server's Retry-After. What it raises after the last retry becomes
one line (`ChatError`) that names the endpoint and the cause, never the key. The key comes from an environment
variable named by the caller (default OPENAI_API_KEY), so no secret is on a command line or in a record; a server
that wants none (a local vLLM or Ollama) gets a placeholder, as the openai library needs some value.
"""
from __future__ import annotations

import base64
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from scenestream.agents.errors import ConfigError, one_line

NO_KEY = "none"  # what servers without authentication get (vLLM's and Ollama's docs use any non-empty value)


class ChatError(Exception):
    """A chat completion that failed after its retries; the message is one line."""


@dataclass
class Reply:
    text: str
    model: str  # the model the server says answered
    usage: dict[str, int] = field(default_factory=dict)  # prompt_tokens, completion_tokens, total_tokens
    finish_reason: str = ""  # stop | length | ...
    seconds: float = 0.0  # the request's wall time, retries included


def image_part(jpeg: bytes) -> dict:
    """A JPEG as an `image_url` content part (a data URI: the server needs no access to our files)."""
    return {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()}}


def user_message(text: str, jpegs: list[bytes] = ()) -> dict:
    """One user turn: the pictures first, then the text (the order VLM chat templates are trained on)."""
    if not jpegs:
        return {"role": "user", "content": text}
    return {"role": "user", "content": [*map(image_part, jpegs), {"type": "text", "text": text}]}


def check_endpoint(url: str) -> str:
    """The base URL, checked: http(s), a host, and the OpenAI path prefix (ending in /v1)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"endpoint {url!r}: an http(s) URL of an OpenAI-compatible server, e.g. "
                          "http://localhost:8000/v1")
    if not parts.path.rstrip("/").endswith("/v1"):
        raise ConfigError(f"endpoint {url!r}: the base URL ends in /v1 (OpenAI's path prefix), e.g. "
                          f"{parts.scheme}://{parts.netloc}/v1")
    return url.strip().rstrip("/")


def load_openai():
    """The openai module, loaded so that requests from many threads are safe.

    openai checks on every request whether the old `httpx` is loaded (`sys.modules.get("httpx")`) and then reads
    its `Timeout`. When another thread of the pipeline (huggingface_hub, for one) happens to be importing httpx at
    that moment, openai finds the module half-initialised and the request fails with "partially initialized module
    'httpx' has no attribute 'Timeout'" (seen in CI with four captions in flight). Importing httpx here, once,
    before any request, leaves nothing half-done for a request to find."""
    try:
        import httpx  # noqa: F401  (see above; it is optional, so its absence is fine)
    except ImportError:
        pass
    import openai  # imported here: only deployments with a model server need it loaded

    return openai


def _warm(client) -> None:
    """Build the client's lazily imported resources now, in one thread, rather than in the first requests of
    several threads at once (openai imports each resource module on first use)."""
    client.chat.completions, client.models  # noqa: B018  (cached properties: the access is the point)


class ChatClient:
    """One endpoint and model. Thread-safe: `complete_many` sends up to `concurrency` requests at once, so a server
    with continuous batching (vLLM, SGLang, TGI) sees many at a time."""

    def __init__(self, endpoint: str, model: str = "", api_key_env: str = "OPENAI_API_KEY", timeout: float = 120.0,
                 retries: int = 4, concurrency: int = 8):
        openai = load_openai()
        self.endpoint = check_endpoint(endpoint)
        if timeout <= 0 or retries < 0 or concurrency < 1:
            raise ConfigError("endpoint timeout must be > 0, retries >= 0 and concurrency >= 1")
        key = os.environ.get(api_key_env, "") if api_key_env else ""
        self.client = openai.OpenAI(base_url=self.endpoint, api_key=key or NO_KEY, timeout=timeout,
                                    max_retries=retries)
        _warm(self.client)
        self.model, self.retries, self.concurrency = model, retries, concurrency
        self._pool: ThreadPoolExecutor | None = None

    def served_model(self) -> str:
        """`model`, or the one model the server lists when none was named (vLLM and Ollama serve one by default)."""
        if self.model:
            return self.model
        try:
            ids = [m.id for m in self.client.models.list()]
        except Exception as exc:  # noqa: BLE001  (any transport or server error: one line)
            raise ConfigError(f"endpoint {self.endpoint}: no model named and /models failed ({one_line(exc)}); "
                              "name one with model=...") from None
        if len(ids) != 1:
            raise ConfigError(f"endpoint {self.endpoint} serves {len(ids)} models ({', '.join(ids[:8]) or 'none'}); "
                              "name one with model=...")
        self.model = ids[0]
        return self.model

    def complete(self, messages: list[dict], max_tokens: int = 256, temperature: float = 0.0,
                 extra: dict | None = None) -> Reply:
        """One chat completion (greedy by default). Raises ChatError after the retries."""
        t0 = time.perf_counter()
        try:
            r = self.client.chat.completions.create(model=self.served_model(), messages=messages,
                                                    max_tokens=max_tokens, temperature=temperature,
                                                    extra_body=extra or None)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001  (openai's APIError family, httpx errors: one line each)
            raise ChatError(f"endpoint {self.endpoint}: {_reason(exc)} (after {self.retries} retries)") from None
        if not r.choices:
            raise ChatError(f"endpoint {self.endpoint}: the answer has no choices")
        usage = r.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}) if r.usage else {}
        choice = r.choices[0]
        return Reply((choice.message.content or "").strip(), r.model or self.model,
                     {k: int(v) for k, v in usage.items() if v is not None}, choice.finish_reason or "",
                     round(time.perf_counter() - t0, 4))

    def complete_many(self, conversations: list[list[dict]], max_tokens: int = 256,
                      extra: dict | None = None) -> list[Reply | ChatError]:
        """`complete` for each conversation, `concurrency` at a time; a failure is its ChatError in its place."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="chat")

        def one(messages):
            try:
                return self.complete(messages, max_tokens, extra=extra)
            except ChatError as exc:
                return exc

        return list(self._pool.map(one, conversations))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self.client.close()


def _reason(exc: BaseException) -> str:
    """openai's exceptions as one line: the HTTP status and the server's message, or the connection failure."""
    status = getattr(exc, "status_code", None)  # an APIStatusError carries the HTTP status; others do not
    text = " ".join(str(getattr(exc, "message", "") or exc).split())[:240]
    if status is not None:
        return f"HTTP {status}: {text}"
    cause = exc.__cause__ or exc.__context__
    detail = f" ({one_line(cause)})" if cause is not None else ""
    return f"{type(exc).__name__}: {text}{detail}"[:300]
