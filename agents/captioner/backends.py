"""Vision-language backends: how one model family turns each scene's frames and the prompt into model inputs, which
classes load it, and its generation defaults (the seed's). Loading, batching, guards and decoding are shared
(agents/captioner/hf.py); a backend only answers `text(n_images)`, `images(frames)` and `prepare(scenes)`.

- LLaVA-v1.6 (LlavaNext): one image token per frame through the processor's chat template; greedy, 256 new tokens.
- InstructBLIP: takes one image, so the frames are stitched into a horizontal panorama; beam search 5, >= 10 new.
- Phi-3.5-Vision (hub code, trust_remote_code): numbered tags <|image_1|><|image_2|>, num_crops 4, KV cache on.
- generic: whatever AutoModelForImageTextToText + AutoProcessor load, prompted through the chat template.
"""
from __future__ import annotations

from transformers import DynamicCache

GREEDY = {"max_new_tokens": 256, "num_beams": 1, "min_new_tokens": 0, "repetition_penalty": 1.0,
          "no_repeat_ngram_size": 0}


def panorama(images):
    """Frames side by side, each scaled to the smallest frame height."""
    from PIL import Image

    h = min(im.height for im in images)
    scaled = [im if im.height == h else im.resize((max(1, round(im.width * h / im.height)), h)) for im in images]
    out = Image.new("RGB", (sum(im.width for im in scaled), h))
    x = 0
    for im in scaled:
        out.paste(im, (x, 0))
        x += im.width
    return out


class VlmBackend:
    """The generic backend, and the interface the others refine."""

    name = "generic"
    defaults = GREEDY
    max_batch: int | None = None  # scenes per generate call the processor/model can take (None: any)
    remote_code = False  # needs trust_remote_code (code from the hub)
    attn_implementations = ("sdpa", "eager", "flash_attention_2")
    auto_attn: str | None = None  # attention when attn=auto and flash-attention is not usable (None: model default)

    def __init__(self, processor, prompt: str):
        self.processor, self.prompt = processor, prompt

    @staticmethod
    def model_class():
        from transformers import AutoModelForImageTextToText

        return AutoModelForImageTextToText

    @staticmethod
    def processor_options(settings) -> dict:
        return {}

    @property
    def tokenizer(self):
        return getattr(self.processor, "tokenizer", self.processor)

    def text(self, n_images: int) -> str:
        """The whole prompt for one scene of `n_images` frames."""
        if getattr(self.processor, "chat_template", None):
            content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": self.prompt}]
            return self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                      add_generation_prompt=True, tokenize=False)
        token = getattr(self.processor, "image_token", "<image>")
        return f"USER: {token * n_images}\n{self.prompt} ASSISTANT:"

    def images(self, frames: list) -> list:
        """The images one scene contributes, in prompt order."""
        return list(frames)

    def prepare(self, scenes: list[list]):
        """Model inputs for a batch of scenes (each a list of PIL frames), padded on the left."""
        return self.processor(text=[self.text(len(self.images(f))) for f in scenes],
                              images=[self.images(f) for f in scenes], padding=True, return_tensors="pt")

    def generate_options(self) -> dict:
        """Extra generate() arguments for one call."""
        return {}


class LlavaNext(VlmBackend):
    name = "llava-next"

    @staticmethod
    def model_class():
        from transformers import LlavaNextForConditionalGeneration

        return LlavaNextForConditionalGeneration

    def prepare(self, scenes: list[list]):
        # The processor pairs images with <image> tokens in order, so one flat list serves the whole batch.
        return self.processor(text=[self.text(len(f)) for f in scenes], images=[im for f in scenes for im in f],
                              padding=True, return_tensors="pt")


class InstructBlip(VlmBackend):
    name = "instructblip"
    # The seed's beam search 5 and min length 10; InstructBLIP's old generate counted that length in new tokens.
    defaults = {**GREEDY, "num_beams": 5, "min_new_tokens": 10}

    @staticmethod
    def model_class():
        from transformers import InstructBlipForConditionalGeneration

        return InstructBlipForConditionalGeneration

    def text(self, n_images: int) -> str:
        return self.prompt  # the processor puts the query-token placeholders in front itself

    def images(self, frames: list) -> list:
        return [panorama(frames)]

    def prepare(self, scenes: list[list]):
        return self.processor(images=[self.images(f)[0] for f in scenes], text=[self.prompt] * len(scenes),
                              padding=True, return_tensors="pt")


class LegacyDynamicCache(DynamicCache):
    """DynamicCache plus the pre-4.47 methods that Phi-3.5-Vision's hub code calls (`seen_tokens`,
    `get_usable_length`, `get_max_length` returning None for "unbounded", `from_legacy_cache`). Newer transformers
    dropped them, so its generate crashed with the cache on: that is why the seed switched the cache off."""

    @property
    def seen_tokens(self) -> int:
        return self.get_seq_length()

    def get_usable_length(self, new_seq_length: int, layer_idx: int | None = 0) -> int:
        return self.get_seq_length(layer_idx or 0)

    def get_max_length(self, layer_idx: int | None = None) -> int | None:
        return None

    @classmethod
    def from_legacy_cache(cls, past_key_values=None) -> "LegacyDynamicCache":
        cache = cls()
        for layer_idx, (key, value) in enumerate(past_key_values or ()):
            cache.update(key, value, layer_idx)
        return cache

    def to_legacy_cache(self) -> tuple:
        return tuple((layer.keys, layer.values) for layer in self.layers)


class Phi3Vision(VlmBackend):
    name = "phi3v"
    max_batch = 1  # its processor tokenizes one prompt (a str) per call
    remote_code = True
    attn_implementations = ("eager", "flash_attention_2")  # its hub code has no sdpa path
    auto_attn = "eager"

    @staticmethod
    def model_class():
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM

    @staticmethod
    def processor_options(settings) -> dict:
        return {"num_crops": settings.num_crops}

    def text(self, n_images: int) -> str:
        # The model card's format (what its tokenizer's chat template makes of one user turn).
        tags = "".join(f"<|image_{i}|>\n" for i in range(1, n_images + 1))
        return f"<|user|>\n{tags}{self.prompt}<|end|>\n<|assistant|>\n"

    def prepare(self, scenes: list[list]):
        if len(scenes) != 1:
            raise ValueError("Phi-3.5-Vision's processor takes one scene at a time")
        return self.processor(self.text(len(scenes[0])), list(scenes[0]), return_tensors="pt")

    def generate_options(self) -> dict:
        return {"eos_token_id": self.tokenizer.eos_token_id, "past_key_values": LegacyDynamicCache()}


BACKENDS: dict[str, type[VlmBackend]] = {b.name: b for b in (VlmBackend, LlavaNext, InstructBlip, Phi3Vision)}
BY_MODEL_TYPE = {"llava_next": LlavaNext, "instructblip": InstructBlip, "phi3_v": Phi3Vision}
