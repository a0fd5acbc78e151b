"""The captioner's settings. Every field is an option (`-o captioner.KEY=VALUE`); an unknown key is an error at start-up.
"The seed", here and in the backends, is the two-stage pipeline whose benchmark report this project started from
(LLaVA-v1.6-7B, InstructBLIP or Phi-3.5-Vision, 2 keyframes a scene, 4-bit, on an NVIDIA L4): its models, prompts
and generation settings are the defaults of the local VLM backends.

Default model: on a CUDA machine with a network, LLaVA-v1.6-Mistral-7B (`CUDA_DEFAULT`); otherwise the offline
captioner (ImageNet labels from the pack's EfficientNet-Lite0), unless `model` names a vision-language model (hub
id or local dir) or `backend` names one of the seed's three (then its hub checkpoint is the default). Rationale: a
7 B VLM is a 15 GB download and wants a GPU, so nobody gets one by accident on a laptop; and the small VLMs that
would fit a CPU cost over 100 CPU seconds a scene here (bench/RESULTS.md), against the offline captioner's 0.1. Generation settings left at -1 take the backend's default (the seed's).

`endpoint` (an OpenAI-compatible base URL ending in /v1) sends each scene to a model server instead: backend
`endpoint`, `model` the name the server serves (empty: the one it lists), the key read from the environment
variable `api_key_env`, `concurrency` requests in flight, `timeout` seconds each, `retries` on 429, 5xx and
connection errors."""
from __future__ import annotations

from dataclasses import dataclass

from scenestream.agents.errors import ConfigError
from scenestream.agents.options import convert

VLM_BACKENDS = ("llava-next", "instructblip", "phi3v", "generic")
BACKENDS = ("offline", "endpoint") + VLM_BACKENDS
DEFAULT_PROMPT = "Describe this video scene in one or two factual sentences."

# Hub defaults per backend (the seed's three models), for `-o backend=...` without a model.
HUB = {
    "llava-next": "llava-hf/llava-v1.6-mistral-7b-hf",
    "instructblip": "Salesforce/instructblip-vicuna-7b",
    "phi3v": "microsoft/Phi-3.5-vision-instruct",
}
OFFLINE_MODEL = "efficientnet-lite0"
# With no model named: on CUDA with a network, a 7 B VLM. LLaVA-v1.6-Mistral-7B is the seed's production choice; it
# stays the default until bench/gpu_check.py has measured the 7 B candidates on a lent GPU (README "Models"). On a
# CPU the offline captioner: the small VLMs cost far more than 1 CPU second a scene here (bench/bench_vlm_cpu.py).
CUDA_DEFAULT = ("llava-next", HUB["llava-next"])


def default_captioner(device: str) -> tuple[str, str]:
    """(backend, model) when the user named neither."""
    from scenestream.agents.models import default_model, offline, pick_device

    if offline() or not pick_device(device).startswith("cuda"):
        return "offline", OFFLINE_MODEL
    model = default_model("captioner", CUDA_DEFAULT[1], OFFLINE_MODEL)  # the pack's when the hub cannot be reached
    return (CUDA_DEFAULT[0], model) if model == CUDA_DEFAULT[1] else ("offline", OFFLINE_MODEL)

# Options that change generate() keyword arguments; -1 (or 0.0 for the penalty) = the backend's default.
GENERATION_KEYS = ("max_new_tokens", "min_new_tokens", "num_beams", "no_repeat_ngram_size", "repetition_penalty")


@dataclass
class CaptionerSettings:
    model: str = ""  # hub id, local dir or pack name; empty = see the module docstring
    backend: str = ""  # empty = from the model's config (llava_next, instructblip, phi3_v, else generic)
    prompt: str = DEFAULT_PROMPT
    device: str = "auto"  # auto = CUDA when present, else CPU
    device_map: str = ""  # empty = the whole model on `device`; "auto" = spread over the GPUs (accelerate)
    dtype: str = "auto"  # auto = bf16 on CUDA (fp16 where bf16 is unsupported), fp32 on CPU; or bf16|fp16|fp32
    quantization: str = "none"  # none | 4bit (NF4, fp16 compute on CUDA) | 8bit, through bitsandbytes
    attn: str = "auto"  # auto = flash_attention_2 on CUDA when flash-attn is installed, else the model's default
    # generation (the backend's defaults: greedy, 256 new tokens; InstructBLIP beam 5, at least 10 new tokens)
    max_new_tokens: int = -1  # the per-scene token limit
    min_new_tokens: int = -1
    min_length: int = -1  # the seed's name for min_new_tokens (it counted new tokens): used when that is -1
    num_beams: int = -1
    repetition_penalty: float = 0.0  # 0 = backend default (1.0: off, greedy output as the seed's)
    no_repeat_ngram_size: int = -1  # -1 = backend default (0: off)
    # guards, so one runaway scene cannot stall the stream
    time_limit: float = 60.0  # seconds of generation per batch, after which every unfinished caption is cut
    repeat_ngram: int = 4  # stop a caption once its last n-gram (n = 1..repeat_ngram) ...
    repeat_times: int = 3  # ... has come this many times in a row
    # batching
    max_batch: int = 8  # scenes per generate call
    batch_wait: float = 0.05  # seconds to wait for more scenes once one is there
    # model specifics
    num_crops: int = 4  # Phi-3.5-Vision
    trust_remote_code: bool = False  # set automatically for Phi-3.5-Vision
    threads: int = 2  # torch CPU threads
    # a model server (OpenAI-compatible chat completions)
    endpoint: str = ""  # e.g. http://localhost:8000/v1; set: backend endpoint
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key (never the key itself)
    concurrency: int = 8  # requests in flight: the scenes of one batch go at once
    timeout: float = 120.0  # seconds per request
    retries: int = 4  # on 429, 5xx and connection errors, with backoff, honouring Retry-After
    labels_per_frame: int = 3  # offline captioner: top labels per keyframe ...
    label_threshold: float = 0.1  # ... kept when at least this probable

    @classmethod
    def from_options(cls, options: dict | None) -> "CaptionerSettings":
        s = convert(cls, options, "captioner")
        if s.backend and s.backend not in BACKENDS:
            raise ConfigError(f"captioner backend must be one of {', '.join(BACKENDS)}, not {s.backend!r}")
        if s.endpoint or s.backend == "endpoint":
            from scenestream.agents.chat import check_endpoint

            if s.backend not in ("", "endpoint"):
                raise ConfigError(f"captioner endpoint sends scenes to a model server; backend {s.backend} loads a "
                                  "model here: set one of them")
            if not s.endpoint:
                raise ConfigError("captioner backend endpoint needs endpoint=URL (an OpenAI-compatible base URL "
                                  "ending in /v1)")
            s.backend, s.endpoint = "endpoint", check_endpoint(s.endpoint)
            if s.concurrency < 1 or s.timeout <= 0 or s.retries < 0:
                raise ConfigError("captioner concurrency must be >= 1, timeout > 0 and retries >= 0")
            s.max_batch = s.concurrency  # one batch = the requests in flight together
        elif not s.model and not s.backend:
            s.backend, s.model = default_captioner(s.device)
        elif s.backend == "offline":
            s.model = s.model or OFFLINE_MODEL
        elif not s.model:
            if s.backend not in HUB:
                raise ConfigError(f"captioner backend {s.backend} needs a model (a hub id or a local directory)")
            s.model = HUB[s.backend]
        if s.quantization not in ("none", "4bit", "8bit"):
            raise ConfigError(f"captioner quantization must be none, 4bit or 8bit, not {s.quantization!r}")
        if s.attn not in ("auto", "sdpa", "eager", "flash_attention_2"):
            raise ConfigError(f"captioner attn must be auto, sdpa, eager or flash_attention_2, not {s.attn!r}")
        if s.dtype not in ("auto", "bf16", "fp16", "fp32"):
            raise ConfigError(f"captioner dtype must be auto, bf16, fp16 or fp32, not {s.dtype!r}")
        if s.max_batch < 1 or s.batch_wait < 0 or s.time_limit <= 0:
            raise ConfigError("captioner max_batch must be >= 1, batch_wait >= 0 and time_limit > 0")
        if s.repeat_ngram < 1 or s.repeat_times < 2:
            raise ConfigError("captioner repeat_ngram must be >= 1 and repeat_times >= 2")
        return s

    def generation(self, defaults: dict) -> dict:
        """generate() keyword arguments: the backend's defaults with the user's options on top."""
        g = dict(defaults)
        user = {
            "max_new_tokens": self.max_new_tokens,
            "min_new_tokens": self.min_new_tokens if self.min_new_tokens >= 0 else self.min_length,
            "num_beams": self.num_beams,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
            "repetition_penalty": self.repetition_penalty if self.repetition_penalty > 0 else -1,
        }
        g.update({k: v for k, v in user.items() if v >= 0})
        return g
