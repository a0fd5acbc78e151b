"""Captioning with a transformers vision-language model: start-up checks, loading (dtype, bitsandbytes 4-bit/8-bit,
attention implementation, device map), and one batched, guarded, greedy-or-beam generate path shared by every
backend (agents/captioner/backends.py says how each family builds its inputs)."""
from __future__ import annotations

import importlib.util
import logging
import time

from scenestream.agents.captioner.backends import BACKENDS, BY_MODEL_TYPE, VlmBackend
from scenestream.agents.captioner.engine import Generated, one_line
from scenestream.agents.captioner.guards import RepetitionGuard, repeating
from scenestream.agents.captioner.settings import CaptionerSettings
from scenestream.agents.errors import ConfigError

log = logging.getLogger("scenestream.captioner")


def check_machine(s: CaptionerSettings, device: str) -> None:
    """Refuse, before loading anything, what this machine cannot do (one ConfigError line)."""
    cuda = device.startswith("cuda")
    if s.attn == "flash_attention_2":
        has_flash = importlib.util.find_spec("flash_attn") is not None
        if not (cuda and has_flash):
            raise ConfigError("captioner attn=flash_attention_2 needs a CUDA device and the flash-attn package "
                              f"(CUDA: {'yes' if cuda else 'no'}, flash-attn: {'yes' if has_flash else 'no'})")
        if s.dtype == "fp32":
            raise ConfigError("captioner attn=flash_attention_2 needs dtype bf16 or fp16, not fp32")
    if s.quantization != "none":
        try:
            import bitsandbytes  # noqa: F401  (its import fails where it has no backend for this machine)
        except Exception as exc:  # noqa: BLE001  (ImportError, RuntimeError, OSError from its native library)
            raise ConfigError(f"captioner quantization={s.quantization} needs bitsandbytes, which cannot load "
                              f"here: {one_line(exc)}") from None
    if s.device_map and s.device_map not in ("auto", "balanced", "sequential", "cpu") and \
            not s.device_map.startswith("cuda"):
        raise ConfigError(f"captioner device_map must be auto, balanced, sequential, cpu or cuda[:N], "
                          f"not {s.device_map!r}")


def load_options(s: CaptionerSettings, device: str, backend: type[VlmBackend]) -> dict:
    """from_pretrained keyword arguments for dtype, quantisation, attention and placement."""
    import torch

    cuda = device.startswith("cuda")
    if s.dtype == "auto":
        dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    else:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[s.dtype]
    kw: dict = {"dtype": dtype, "device_map": s.device_map or ("cuda:0" if device == "cuda" else device)}
    if s.quantization != "none":
        from transformers import BitsAndBytesConfig

        if s.quantization == "4bit":  # the seed: NF4 weights, fp16 compute (fp32 on the CPU backend)
            compute = (torch.bfloat16 if s.dtype == "bf16" else torch.float16) if cuda else torch.float32
            kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_compute_dtype=compute)
        else:
            kw["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    attn = s.attn
    if attn == "auto":
        flash = cuda and dtype != torch.float32 and importlib.util.find_spec("flash_attn") is not None
        attn = "flash_attention_2" if flash and "flash_attention_2" in backend.attn_implementations \
            else backend.auto_attn
    elif attn not in backend.attn_implementations:
        raise ConfigError(f"captioner backend {backend.name} supports attn "
                          f"{' or '.join(backend.attn_implementations)}, not {attn}")
    if attn:
        kw["attn_implementation"] = attn
    return kw


def backend_class(s: CaptionerSettings, location: str) -> type[VlmBackend]:
    """The backend named in the settings, else the one for the model's `model_type` (read from its config.json
    without running any hub code: Phi-3.5-Vision's config class is hub code too)."""
    if s.backend:
        return BACKENDS[s.backend]
    from transformers import PretrainedConfig

    config, _ = PretrainedConfig.get_config_dict(location)
    return BY_MODEL_TYPE.get(config.get("model_type", ""), VlmBackend)


class VlmCaptioner:
    """A loaded vision-language model and its backend; `caption(scenes)` captions a batch of scenes."""

    def __init__(self, settings: CaptionerSettings, location: str, device: str):
        import torch
        from transformers import AutoProcessor

        s = self.settings = settings
        try:
            cls = backend_class(s, location)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"captioner model {s.model!r} could not be loaded: {one_line(exc)}") from None
        options = load_options(s, device, cls)  # impossible attention requests fail before any weights load
        trust = s.trust_remote_code or cls.remote_code
        try:
            processor = AutoProcessor.from_pretrained(location, trust_remote_code=trust, **cls.processor_options(s))
            self.model = cls.model_class().from_pretrained(location, trust_remote_code=trust, **options).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"captioner model {s.model!r} could not be loaded: {one_line(exc)}") from None
        self.backend = cls(processor, s.prompt)
        tok = self.backend.tokenizer
        tok.padding_side = "left"  # batched decoder-only generation continues from the right edge
        if tok.pad_token is None and tok.eos_token is not None:
            tok.pad_token = tok.eos_token
        self.pad_id = tok.pad_token_id
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        eos = list(eos) if isinstance(eos, (list, tuple)) else [eos]
        self.eos_ids = {i for i in eos + [tok.eos_token_id] if i is not None}
        self.generation = s.generation(cls.defaults)
        self.max_batch = min(s.max_batch, cls.max_batch or s.max_batch)
        self.device = device
        self.torch = torch

    # ------------------------------------------------------------------ batches
    def caption(self, scenes: list[list]) -> list[Generated]:
        """Captions for scenes (each a list of PIL frames), in chunks of `max_batch`. A chunk that fails is retried
        scene by scene, so one bad scene (or an out-of-memory batch) costs only what it must."""
        out: list[Generated] = []
        for i in range(0, len(scenes), self.max_batch):
            chunk = scenes[i:i + self.max_batch]
            try:
                out += self.generate(chunk)
            except Exception as exc:  # noqa: BLE001  (a model error becomes the scenes' error)
                self._recover()
                if len(chunk) == 1:
                    out.append(Generated(error=one_line(exc)))
                    continue
                log.warning("captioning a batch of %d failed (%s); retrying one scene at a time",
                            len(chunk), one_line(exc))
                for one in chunk:
                    try:
                        out += self.generate([one])
                    except Exception as exc1:  # noqa: BLE001
                        self._recover()
                        out.append(Generated(error=one_line(exc1)))
        return out

    def _recover(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()

    def inputs(self, scenes: list[list]):
        """The model inputs of a batch, on the model's device, floating tensors in its dtype."""
        batch = self.backend.prepare(scenes)
        dev, dtype = self.model.device, self.model.dtype
        return {k: (v.to(dev, dtype) if v.is_floating_point() else v.to(dev)) if hasattr(v, "to") else v
                for k, v in batch.items()}

    def generate(self, scenes: list[list]) -> list[Generated]:
        """One generate call for a batch of scenes."""
        from transformers import StoppingCriteriaList

        t0 = time.perf_counter()
        batch = self.inputs(scenes)
        prompt = batch["input_ids"]
        guard = RepetitionGuard(self.settings.repeat_ngram, self.settings.repeat_times,
                                (self.pad_id, *self.eos_ids))
        started = time.monotonic()
        # The deadline is generate's own `max_time` (transformers' MaxTimeCriteria, checked after every step): every
        # scene of a batch starts together, so it is each scene's time limit.
        with self.torch.inference_mode():
            out = self.model.generate(**batch, **self.generation, **self.backend.generate_options(), do_sample=False,
                                      use_cache=True, stopping_criteria=StoppingCriteriaList([guard]),
                                      max_time=self.settings.time_limit, pad_token_id=self.pad_id)
        deadline_hit = time.monotonic() - started >= self.settings.time_limit  # generate does not say why it stopped
        # Decoder-only models return prompt + new tokens; some versions of InstructBLIP return only the new ones.
        n = prompt.shape[1]
        if out.shape[1] >= n and self.torch.equal(out[:, :n], prompt):
            out = out[:, n:]
        seconds = (time.perf_counter() - t0) / len(scenes)
        results = [self._result(row.tolist(), deadline_hit) for row in out]
        for r in results:
            r.seconds = seconds
            if r.stop in ("time_limit", "repetition"):
                log.warning("caption cut short (%s) after %d tokens", r.stop, len(r.token_ids))
        return results

    def _result(self, row: list[int], deadline_hit: bool) -> Generated:
        ended = next((k for k, t in enumerate(row) if t in self.eos_ids), None)
        ids = [t for t in (row if ended is None else row[:ended]) if t != self.pad_id]
        if ended is not None:
            stop = "eos"
        elif ids and bool(repeating(self.torch.tensor([ids]), self.settings.repeat_ngram,
                                    self.settings.repeat_times)[0]):
            stop = "repetition"
        elif len(ids) >= self.generation["max_new_tokens"]:
            stop = "max_new_tokens"
        else:
            stop = "time_limit" if deadline_hit else "eos"
        text = self.backend.tokenizer.decode(ids, skip_special_tokens=True)
        return Generated(text=" ".join(text.split()), token_ids=ids, stop=stop)
