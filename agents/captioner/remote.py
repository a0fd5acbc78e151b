"""Captions from a model server: each scene's keyframes (the JPEGs ingest made, sent as they are) and the prompt go
as one OpenAI-compatible chat completion; the scenes of a batch go at once, `concurrency` in flight, so a server
with continuous batching captions them together. The engine of `backend=endpoint`."""
from __future__ import annotations

import time

from scenestream.agents.captioner.engine import Generated
from scenestream.agents.captioner.settings import CaptionerSettings
from scenestream.agents.chat import ChatClient, ChatError, user_message

DEFAULT_MAX_TOKENS = 256  # the seed's caption length, as the local backends


class EndpointCaptioner:
    max_batch = None  # the settings' concurrency bounds a batch

    def __init__(self, s: CaptionerSettings):
        self.client = ChatClient(s.endpoint, s.model, s.api_key_env, s.timeout, s.retries, s.concurrency)
        self.model = self.client.served_model()  # a ConfigError now when none is named and the server lists many
        self.prompt = s.prompt
        self.max_tokens = s.max_new_tokens if s.max_new_tokens >= 0 else DEFAULT_MAX_TOKENS
        # vLLM and SGLang take min_tokens (a benchmark forces the length with it); other servers ignore it.
        least = s.min_new_tokens if s.min_new_tokens >= 0 else s.min_length
        self.extra = {"min_tokens": least} if least > 0 else None

    def caption(self, scenes: list[list[bytes]]) -> list[Generated]:
        """One result per scene (each a list of JPEGs); a failed request is that scene's error. A scene's `seconds`
        is its own request's wall time: requests overlap, so unlike a local batch's they do not add up to a busy
        time, and the latency a user waits for is this one."""
        t0 = time.perf_counter()
        replies = self.client.complete_many([[user_message(self.prompt, jpegs)] for jpegs in scenes],
                                            self.max_tokens, extra=self.extra)
        wall = time.perf_counter() - t0
        out = []
        for r in replies:
            if isinstance(r, ChatError):
                out.append(Generated(error=str(r), seconds=wall))
            else:
                out.append(Generated(text=r.text, stop=r.finish_reason, seconds=r.seconds, usage=r.usage,
                                     model=r.model))
        return out

    def close(self) -> None:
        self.client.close()
