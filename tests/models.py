"""Tiny randomly initialised vision-language checkpoints, built at test time and saved, so they load through the
same from_pretrained path as real hub models (no VLM weights can be had here: ../shared/MODELS.md). Random weights:
tests check shapes, prompts, batching and error paths, never words. The tokenizer is the pack's real BERT WordPiece
tokenizer with the special tokens each architecture needs."""
from __future__ import annotations

from pathlib import Path

import torch

from scenestream.agents.models import resolve_model

# A Qwen-style chat template that renders what both callers send: our generic backend's `{"type": "image"}` parts,
# the `image_url` parts of OpenAI-compatible requests (`transformers serve`), and plain string contents.
QWEN_CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
             "{% else %}{% for c in m['content'] %}{% if c['type'] in ('image', 'image_url') %}"
             "<|vision_start|><|image_pad|><|vision_end|>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
             "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}"
             "{{ '<|im_start|>assistant\\n' }}{% endif %}")


def tokenizer(*special):
    """The pack's real BERT WordPiece tokenizer plus the image tokens a VLM needs (no token_type_ids: decoder LMs
    do not take them)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model("minilm").location,
                                        model_input_names=["input_ids", "attention_mask"])
    tok.add_special_tokens({"additional_special_tokens": list(special)})
    return tok


def tiny_text(tok, width=32, **kw):
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=2, vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                       eos_token_id=tok.sep_token_id, bos_token_id=tok.cls_token_id, **kw)


def build_qwen2_vl(d: Path) -> Path:
    """A tiny Qwen2-VL (one layer, 32 wide, pictures cut to at most 32x32 pixels) in `d`."""
    from transformers import (Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor, Qwen2VLProcessor,
                              Qwen2VLVideoProcessor)

    torch.manual_seed(1)
    names = ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"]
    tok = tokenizer(*names)
    ids = dict(zip(names, tok.convert_tokens_to_ids(names)))
    text = tiny_text(tok).to_dict() | {"rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}}
    cfg = Qwen2VLConfig(text_config=text, vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2,
                                                             patch_size=4, spatial_merge_size=2, mlp_ratio=2),
                        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    Qwen2VLForConditionalGeneration(cfg).save_pretrained(d)
    sizes = dict(patch_size=4, merge_size=2, temporal_patch_size=2)
    Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=16 * 16, max_pixels=32 * 32, **sizes),
                     video_processor=Qwen2VLVideoProcessor(**sizes), tokenizer=tok,
                     chat_template=QWEN_CHAT).save_pretrained(d)
    tok.chat_template = QWEN_CHAT  # servers that read the tokenizer's template (text-only requests) find it too
    tok.save_pretrained(d)
    return d
