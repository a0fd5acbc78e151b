"""Settings of the speech agent. Every field can come from `from_options` (CLI/config strings included); unknown
keys and bad values are a ConfigError at start-up (agents/options.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from scenestream.agents.errors import ConfigError
from scenestream.agents.options import convert
from scenestream.agents.models import default_model

BACKENDS = ("faster-whisper", "openai")
# With a network: Whisper small (multilingual, CTranslate2) is the best accuracy that still runs near real time on
# a few CPU cores in int8; on a GPU users pick large-v3 or distil-large-v3 by name. Without one: the pack's tiny.en.
HUB_DEFAULT = "Systran/faster-whisper-small"
OFFLINE_DEFAULT = "whisper-tiny.en"
OPENAI_DEFAULT = "whisper-1"  # the OpenAI model that returns word timestamps in verbose_json
API_KEY_ENV = "SCENESTREAM_ASR_API_KEY"
WHISPER_CHUNK = 30.0  # seconds Whisper's encoder sees at once


@dataclass
class AsrSettings:
    backend: str = "faster-whisper"  # or "openai": an OpenAI-compatible /audio/transcriptions endpoint
    model: str | None = None  # hub id, local dir or pack name; None = HUB_DEFAULT / OFFLINE_DEFAULT / OPENAI_DEFAULT
    language: str | None = None  # None = detect per transcribed region
    translate: str = ""  # "en": also translate the speech into English (a multilingual model; a second decoding)
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    compute_type: str = "auto"  # auto = int8 on CPU, float16 on CUDA; any CTranslate2 type otherwise
    batch_size: int = 8  # Whisper chunks decoded together by BatchedInferencePipeline
    cpu_threads: int = 2  # CTranslate2 intra-op threads (these machines have 2 cores)
    vad: bool = True  # drop non-speech (faster-whisper's bundled Silero VAD) before decoding
    beam_size: int = 5
    # Edge handling: audio is transcribed in regions that end in a silence (found by Silero VAD), so no word is cut.
    window: float = 120.0  # seconds of audio gathered before a region is cut and transcribed. A long region is
    #   cut where the pipeline would start a new 30 s chunk and its chunks are decoded as one batch, so longer
    #   windows run faster and answer later (bench/bench_asr.py, 3 min of speech against one whole-file pipeline
    #   call: 120 s -> 0.95x the time, 30 s -> 1.3-1.9x); live sources that need quick transcripts set 10-30 s
    max_carry: float = 30.0  # pending audio with no silence in it is cut anyway (at its quietest spot) at this length
    guard: float = 0.5  # a cut stays this far before the newest sample: speech starting there is not yet visible
    reorder_limit: int = 8  # chunks held per video while an earlier one is missing
    # The "openai" backend.
    base_url: str = "https://api.openai.com/v1"  # Azure: https://NAME.openai.azure.com/openai/deployments/DEPLOYMENT
    api_key: str | None = field(default=None, repr=False)  # None = the environment variable SCENESTREAM_ASR_API_KEY
    api_version: str | None = None  # set for Azure: sent as ?api-version=, and the key goes in the api-key header
    max_concurrency: int = 4  # requests in flight at once (the agent pipelines regions instead of waiting)
    retries: int = 4  # further attempts after a 408, 409, 429, a 5xx, a timeout or a connection error, with the
    #   openai library's backoff (0.5 s doubling to 8 s, jittered; a server's Retry-After wins)
    timeout: float = 60.0  # seconds per request

    @classmethod
    def from_options(cls, options: dict | None) -> "AsrSettings":
        return convert(cls, options, "asr").checked()

    def checked(self) -> "AsrSettings":
        if self.backend not in BACKENDS:
            raise ConfigError(f"asr backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        for key in ("batch_size", "cpu_threads", "beam_size", "max_concurrency", "reorder_limit"):
            if getattr(self, key) < 1:
                raise ConfigError(f"asr {key} must be at least 1")
        for key in ("window", "max_carry", "timeout"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"asr {key} must be positive")
        if self.guard < 0 or self.retries < 0:
            raise ConfigError("asr guard and retries cannot be negative")
        if self.translate not in ("", "en"):
            raise ConfigError(f"asr translate: Whisper translates into English only (translate=en), not {self.translate!r}")
        if self.translate and self.backend != "faster-whisper":
            raise ConfigError("asr translate=en needs the faster-whisper backend")
        return self

    def model_spec(self) -> str:
        if self.model:
            return self.model
        if self.backend == "openai":
            return OPENAI_DEFAULT
        return default_model("asr", HUB_DEFAULT, OFFLINE_DEFAULT)

    def key(self) -> str:
        if self.api_key:
            return self.api_key
        key = os.environ.get(API_KEY_ENV, "")
        if not key:
            raise ConfigError(f"the openai asr backend needs an API key: set {API_KEY_ENV} or the api_key option")
        return key
