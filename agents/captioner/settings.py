from __future__ import annotations

from dataclasses import dataclass, fields

from agents.errors import ConfigError

BACKENDS = ("offline", "llava-next", "instructblip", "phi3v", "generic")
DEFAULT_PROMPT = "Describe this video scene in one or two factual sentences."

# Hub defaults per backend (the seed's three models), for `-o backend=... ` without a model.
HUB = {
    "llava-next": "llava-hf/llava-v1.6-mistral-7b-hf",
    "instructblip": "Salesforce/instructblip-vicuna-7b",
    "phi3v": "microsoft/Phi-3.5-vision-instruct",
}

# The seed's generation settings per backend; every one can be overridden by an option of the same name.
GENERATION = {
    "llava-next": {"max_new_tokens": 256, "num_beams": 1, "min_length": 0},
    "instructblip": {"max_new_tokens": 256, "num_beams": 5, "min_length": 10},
    "phi3v": {"max_new_tokens": 256, "num_beams": 1, "min_length": 0},
    "generic": {"max_new_tokens": 256, "num_beams": 1, "min_length": 0},
}


@dataclass
class CaptionerSettings:
    """`model`: hub id, local dir or pack name; empty = the offline captioner (ImageNet labels from the pack's
    EfficientNet-Lite0), since no vision-language weights can be assumed. `backend`: empty = from the model's
    config (llava_next, instructblip, phi3_v, anything else = generic image-text-to-text)."""

    model: str = ""
    backend: str = ""
    prompt: str = DEFAULT_PROMPT
    device: str = "auto"
    dtype: str = "auto"  # auto = bf16 on CUDA (fp16 where bf16 is unsupported), fp32 on CPU
    quantization: str = "none"  # none | 4bit (NF4, fp16 compute) | 8bit, through bitsandbytes
    attn: str = "auto"  # auto = flash_attention_2 when installed on CUDA, else sdpa; or sdpa | eager | flash_attention_2
    max_new_tokens: int = -1  # -1 = the backend's default (256)
    num_beams: int = -1
    min_length: int = -1
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    time_limit: float = 60.0  # seconds of generation per batch before it is cut short
    repeat_ngram: int = 4  # repetition guard: stop a caption whose last n tokens ...
    repeat_times: int = 3  # ... have repeated this many times in a row
    max_batch: int = 8
    batch_wait: float = 0.05  # seconds to wait for more scenes once one is there
    num_crops: int = 4  # Phi-3.5-Vision
    trust_remote_code: bool = False  # Phi-3.5-Vision needs it: set automatically for backend phi3v
    threads: int = 2
    labels_per_frame: int = 3  # offline captioner
    label_threshold: float = 0.1

    @classmethod
    def from_options(cls, options: dict) -> "CaptionerSettings":
        options = dict(options or {})
        kw = {}
        for f in fields(cls):
            if f.name not in options:
                continue
            value, default = options[f.name], getattr(cls, f.name)
            try:
                if isinstance(default, bool):
                    kw[f.name] = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                else:
                    kw[f.name] = type(default)(value)
            except (TypeError, ValueError):
                raise ConfigError(f"captioner option {f.name}={value!r} is not a {type(default).__name__}") from None
        s = cls(**kw)
        if s.backend and s.backend not in BACKENDS:
            raise ConfigError(f"captioner backend must be one of {', '.join(BACKENDS)}, not {s.backend!r}")
        if not s.model:
            s.model = HUB.get(s.backend, "") if s.backend else ""
            if not s.model:
                s.backend = "offline"
                s.model = "efficientnet-lite0"
        if s.quantization not in ("none", "4bit", "8bit"):
            raise ConfigError(f"quantization must be none, 4bit or 8bit, not {s.quantization!r}")
        if s.attn not in ("auto", "sdpa", "eager", "flash_attention_2"):
            raise ConfigError(f"attn must be auto, sdpa, eager or flash_attention_2, not {s.attn!r}")
        if s.max_batch < 1:
            raise ConfigError("max_batch must be at least 1")
        return s

    def generation(self, backend: str) -> dict:
        g = dict(GENERATION.get(backend, GENERATION["generic"]))
        for key in ("max_new_tokens", "num_beams", "min_length"):
            if getattr(self, key) >= 0:
                g[key] = getattr(self, key)
        if self.repetition_penalty != 1.0:
            g["repetition_penalty"] = self.repetition_penalty
        if self.no_repeat_ngram_size:
            g["no_repeat_ngram_size"] = self.no_repeat_ngram_size
        return g
