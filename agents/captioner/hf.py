"""Vision-language captioning through transformers: LLaVA-v1.6 (LlavaNext), InstructBLIP, Phi-3.5-Vision and any
model the image-text-to-text Auto classes load. One loader and one batched generate path; the backends differ only
in how a scene's frames and the prompt become model inputs, and in their generation defaults."""
from __future__ import annotations

import importlib.util
import io

from agents.captioner.guards import Deadline, RepetitionGuard
from agents.captioner.settings import CaptionerSettings
from agents.errors import ConfigError

MODEL_TYPES = {"llava_next": "llava-next", "instructblip": "instructblip", "phi3_v": "phi3v"}


def decode_images(jpegs: list[bytes]):
    from PIL import Image

    images = []
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as im:
            images.append(im.convert("RGB"))
    return images


def panorama(images):
    """Frames side by side, scaled to the smallest height (InstructBLIP takes one image: the seed stitched two)."""
    from PIL import Image

    h = min(im.height for im in images)
    scaled = [im if im.height == h else im.resize((round(im.width * h / im.height), h)) for im in images]
    out = Image.new("RGB", (sum(im.width for im in scaled), h))
    x = 0
    for im in scaled:
        out.paste(im, (x, 0))
        x += im.width
    return out


def load_options(s: CaptionerSettings, device: str) -> dict:
    """from_pretrained keyword arguments for dtype, quantisation and attention; impossible requests fail here."""
    import torch

    cuda = device.startswith("cuda")
    kw: dict = {}
    if s.dtype == "auto":
        kw["dtype"] = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    else:
        kw["dtype"] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(s.dtype)
        if kw["dtype"] is None:
            raise ConfigError(f"dtype must be auto, bf16, fp16 or fp32, not {s.dtype!r}")
    if s.quantization != "none":
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError(f"quantization={s.quantization} needs bitsandbytes installed")
        from transformers import BitsAndBytesConfig

        if s.quantization == "4bit":
            kw["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=torch.float16 if cuda else torch.float32)  # the seed: NF4, fp16 compute
        else:
            kw["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        kw["device_map"] = device if cuda else "cpu"
    attn = s.attn
    has_flash = importlib.util.find_spec("flash_attn") is not None
    if attn == "flash_attention_2" and not (cuda and has_flash):
        raise ConfigError("attn=flash_attention_2 needs a CUDA device and the flash-attn package"
                          f" (CUDA: {'yes' if cuda else 'no'}, flash-attn: {'yes' if has_flash else 'no'})")
    if attn == "auto":
        attn = "flash_attention_2" if (cuda and has_flash and kw["dtype"] != torch.float32) else "sdpa"
    kw["attn_implementation"] = attn
    return kw


class HfCaptioner:
    def __init__(self, settings: CaptionerSettings, location: str, device: str):
        from transformers import AutoConfig, AutoProcessor

        s = self.settings = settings
        self.device = device
        backend = s.backend
        trust = s.trust_remote_code or backend == "phi3v"
        if not backend:
            config = AutoConfig.from_pretrained(location, trust_remote_code=trust)
            backend = MODEL_TYPES.get(config.model_type, "generic")
            trust = trust or backend == "phi3v"
        self.backend = backend
        proc_kw = {"num_crops": s.num_crops} if backend == "phi3v" else {}
        self.processor = AutoProcessor.from_pretrained(location, trust_remote_code=trust, **proc_kw)
        tok = getattr(self.processor, "tokenizer", None)
        if tok is not None:
            tok.padding_side = "left"  # batched decoder-only generation continues from the right edge
        self.model = self._model_class()(location, trust_remote_code=trust, **load_options(s, device))
        if getattr(self.model, "hf_device_map", None) is None:  # quantised models were placed by device_map
            self.model.to(device)
        self.model.eval()
        self.generation = s.generation(backend)

    def _model_class(self):
        import transformers as tf

        return {
            "llava-next": tf.LlavaNextForConditionalGeneration.from_pretrained,
            "instructblip": tf.InstructBlipForConditionalGeneration.from_pretrained,
            "phi3v": tf.AutoModelForCausalLM.from_pretrained,
            "generic": tf.AutoModelForImageTextToText.from_pretrained,
        }[self.backend]

    # ------------------------------------------------------------------ prompts and images
    def prompt(self, n_images: int) -> str:
        s, b = self.settings, self.backend
        if b == "instructblip":
            return s.prompt
        if b == "phi3v":  # Phi-3.5-Vision numbers its images
            tags = "".join(f"<|image_{i}|>\n" for i in range(1, n_images + 1))
            return f"<|user|>\n{tags}{s.prompt}<|end|>\n<|assistant|>\n"
        if getattr(self.processor, "chat_template", None):
            content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": s.prompt}]
            return self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                      add_generation_prompt=True, tokenize=False)
        token = getattr(self.processor, "image_token", "<image>")
        return f"USER: {token * n_images}\n{s.prompt} ASSISTANT:"

    def inputs(self, scenes_images: list[list]) -> dict:
        """Model inputs for a batch of scenes (each a list of PIL images)."""
        b = self.backend
        if b == "instructblip":
            images = [panorama(imgs) for imgs in scenes_images]
            return self.processor(images=images, text=[self.prompt(1)] * len(images), padding=True,
                                  return_tensors="pt")
        prompts = [self.prompt(len(imgs)) for imgs in scenes_images]
        if b == "phi3v":
            if len(scenes_images) != 1:
                raise ValueError("Phi-3.5-Vision's processor takes one prompt at a time")
            return self.processor(prompts[0], scenes_images[0], return_tensors="pt")
        if b == "llava-next":
            flat = [im for imgs in scenes_images for im in imgs]
            return self.processor(text=prompts, images=flat, padding=True, return_tensors="pt")
        return self.processor(text=prompts, images=scenes_images, padding=True, return_tensors="pt")

    # ------------------------------------------------------------------ generation
    def generate(self, scenes_images: list[list]) -> tuple[list[str], list[list[int]], dict]:
        """Captions, generated token ids and guard facts for a batch of scenes."""
        import torch
        from transformers import StoppingCriteriaList

        if self.backend == "phi3v" and len(scenes_images) > 1:
            outs = [self.generate([imgs]) for imgs in scenes_images]
            return [o[0][0] for o in outs], [o[1][0] for o in outs], outs[-1][2]
        batch = self.inputs(scenes_images)
        batch = {k: (v.to(self.model.device) if hasattr(v, "to") else v) for k, v in batch.items()}
        if "pixel_values" in batch and batch["pixel_values"].is_floating_point():
            batch["pixel_values"] = batch["pixel_values"].to(self.model.dtype)
        prompt_len = batch["input_ids"].shape[1]
        deadline = Deadline(self.settings.time_limit)
        guard = RepetitionGuard(self.settings.repeat_ngram, self.settings.repeat_times,
                                prompt_len if self._returns_prompt() else 0)
        tok = getattr(self.processor, "tokenizer", self.processor)
        with torch.inference_mode():
            out = self.model.generate(**batch, **self.generation, do_sample=False, use_cache=True,
                                      stopping_criteria=StoppingCriteriaList([deadline, guard]),
                                      pad_token_id=tok.pad_token_id)
        new = out[:, prompt_len:] if self._returns_prompt() else out
        ids = [[t for t in row.tolist() if t != tok.pad_token_id] for row in new]
        texts = [" ".join(t.split()) for t in tok.batch_decode(ids, skip_special_tokens=True)]
        return texts, ids, {"deadline_hit": deadline.hit, "repetition_stopped": guard.stopped}

    def _returns_prompt(self) -> bool:
        # Decoder-only generate returns prompt + new tokens; InstructBLIP's returns the language model's output,
        # which includes the prompt only when that model is decoder-only (Vicuna) in this transformers version.
        if self.backend != "instructblip":
            return True
        return bool(getattr(self.model.config, "use_decoder_only_language_model", False))
