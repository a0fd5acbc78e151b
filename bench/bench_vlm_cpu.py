"""Seconds a scene for small vision-language models at their real size, on this CPU, through the captioner agent:
SmolVLM-256M-Instruct, SmolVLM-500M-Instruct and Qwen2.5-VL-3B-Instruct, each built from its real architecture with
random weights (speed does not depend on the weights' values; ../shared/MODELS.md), 2 keyframes a scene at
ingest's size (336 px short side), the output length forced (min_new_tokens = max_new_tokens) so random weights do
not stop early. The default captioner on a CPU with network follows from these figures (README "Models").

    python bench/bench_vlm_cpu.py [--models smolvlm-256m,smolvlm-500m,qwen2.5-vl-3b] [--scenes 3] [--new-tokens 64]

The architectures, from the model cards and their configs: SmolVLM = Idefics3 with a SigLIP base-patch16-512 vision
tower (768 wide, 12 layers), pixel shuffle 4 (64 tokens a 512 px tile; pictures split into tiles of at most
512 px, longest side up to 2048, plus one global tile) and SmolLM2-135M (576 wide, 30 layers, 9 heads, 3 KV) or
SmolLM2-360M (960 wide, 32 layers, 15 heads, 5 KV), vocabulary 49280. Qwen2.5-VL-3B: a 32-layer 1280-wide ViT
(patch 14, window attention, merge 2) and a 36-layer 2048-wide decoder (16 heads, 2 KV, intermediate 11008),
vocabulary 151936. The tokenizer is the pack's BERT WordPiece with the image tokens added (the real tokenizers
cannot be had here); the embeddings and output layer have the real vocabulary size, so their cost is real.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import psutil  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench.machine import record  # noqa: E402
from scenestream.agents.captioner import CaptionerAgent  # noqa: E402
from scenestream.schemas import Keyframe, Scene  # noqa: E402
from tests import media  # noqa: E402
from tests.models import QWEN_CHAT, tokenizer  # noqa: E402

SMOL_CHAT = ("<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:{% for c in m['content'] %}"
             "{% if c['type'] == 'image' %}<image>{% else %} {{ c['text'] }}{% endif %}{% endfor %}<end_of_utterance>\n"
             "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}")
SIGLIP_512 = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                  image_size=512, patch_size=16)


def build_smolvlm(d: Path, text: dict) -> None:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    rows = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    tok = tokenizer("<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>", *rows)
    image = tok.convert_tokens_to_ids("<image>")
    cfg = Idefics3Config(text_config=dict(model_type="llama", vocab_size=49280, max_position_embeddings=8192,
                                          rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
                                          pad_token_id=tok.pad_token_id, **text),
                         vision_config=SIGLIP_512, scale_factor=4, image_token_id=image, pad_token_id=tok.pad_token_id,
                         tie_word_embeddings=True)
    Idefics3ForConditionalGeneration(cfg).save_pretrained(d)
    ip = Idefics3ImageProcessor(size={"longest_edge": 2048}, max_image_size={"longest_edge": 512})
    Idefics3Processor(image_processor=ip, tokenizer=tok, image_seq_len=64, chat_template=SMOL_CHAT).save_pretrained(d)


def build_qwen25_vl_3b(d: Path) -> None:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, Qwen2VLImageProcessor
    from transformers import Qwen2VLVideoProcessor

    names = ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"]
    tok = tokenizer(*names)
    ids = dict(zip(names, tok.convert_tokens_to_ids(names)))
    text = dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=128000, rope_theta=1e6,
                rms_norm_eps=1e-6, tie_word_embeddings=True, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
                pad_token_id=tok.pad_token_id)
    vision = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                  patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                  fullatt_block_indexes=[7, 15, 23, 31])
    cfg = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                           video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                           vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=True)
    with torch.device("cpu"):
        model = Qwen2_5_VLForConditionalGeneration(cfg).to(torch.bfloat16)  # 3.8 B parameters: bf16 fits in RAM
    model.save_pretrained(d)
    del model
    sizes = dict(patch_size=14, merge_size=2, temporal_patch_size=2)
    Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056, **sizes),
                        video_processor=Qwen2VLVideoProcessor(**sizes), tokenizer=tok,
                        chat_template=QWEN_CHAT).save_pretrained(d)


MODELS = {
    "smolvlm-256m": ("SmolVLM-256M-Instruct", lambda d: build_smolvlm(d, dict(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
        head_dim=64)), "fp32"),
    "smolvlm-500m": ("SmolVLM-500M-Instruct", lambda d: build_smolvlm(d, dict(
        hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15, num_key_value_heads=5,
        head_dim=64)), "fp32"),
    "qwen2.5-vl-3b": ("Qwen2.5-VL-3B-Instruct", build_qwen25_vl_3b, "bf16"),
}


def keyframes(n: int) -> list[Scene]:
    """Scenes of 2 real pictures each, at ingest's keyframe size (short side 336)."""
    pics = []
    for path in (media.bus_jpg(), media.zidane_jpg()):
        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = 336 / min(im.size)
            im = im.resize((round(im.width * scale), round(im.height * scale)))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=90)
            pics.append((buf.getvalue(), im.width, im.height))
    return [Scene("v", i, 2.0 * i, 2.0 * i + 2, [Keyframe(2.0 * i + f, *pics[(i + f) % 2]) for f in range(2)])
            for i in range(n)]


def bench(key: str, root: Path, args) -> str:
    name, build, dtype = MODELS[key]
    d = root / key
    t0 = time.perf_counter()
    build(d)
    built = time.perf_counter() - t0
    agent = CaptionerAgent.from_options({"model": str(d), "dtype": dtype, "threads": str(args.threads),
                                         "max_new_tokens": str(args.new_tokens), "min_new_tokens": str(args.new_tokens),
                                         "repeat_times": "1000000", "time_limit": "3600", "max_batch": "1"})
    agent.setup()
    params = sum(p.numel() for p in agent.engine.model.parameters()) / 1e9
    scenes = keyframes(args.scenes + 1)
    agent.process(scenes[0])  # warm-up: first-call allocations
    proc = psutil.Process()
    walls, cpus, tokens = [], [], []
    for s in scenes[1:]:
        c0, w0 = proc.cpu_times(), time.perf_counter()
        [cap] = agent.process(s)
        w, c1 = time.perf_counter() - w0, proc.cpu_times()
        assert cap.error is None, cap.error
        walls.append(w)
        cpus.append((c1.user - c0.user) + (c1.system - c0.system))
        tokens.append(len(agent.engine.backend.tokenizer(cap.caption)["input_ids"]) if cap.caption else 0)
    threads = torch.get_num_threads()
    agent.close()
    row = (f"| {name} | {params:.2f} B | {dtype} | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} | "
           f"{statistics.median(cpus) / statistics.median(walls):.2f} ({threads} threads) | {built:.0f} |")
    print(row, flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--scenes", type=int, default=3, help="scenes measured per model (after one warm-up scene)")
    ap.add_argument("--new-tokens", type=int, default=64, help="forced caption length (a sentence or two)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("SCENESTREAM_BENCH_TMP")) as tmp:
        for key in args.models.split(","):
            rows.append(bench(key, Path(tmp), args))
            import shutil
            shutil.rmtree(Path(tmp) / key, ignore_errors=True)
    record(f"Small VLMs at real size on this CPU ({args.new_tokens} new tokens, 2 keyframes)",
           "| model | parameters | dtype | s a scene (wall) | CPU s a scene | cores used | build s |\n"
           "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
           f"Median of {args.scenes} scenes after one warm-up; random weights at the real architecture "
           "(bench/bench_vlm_cpu.py says which), output forced to exactly the token count; through "
           "CaptionerAgent.process (JPEG decoding, the processor, generate). Keyframes: bus.jpg and zidane.jpg "
           "scaled to a 336 px short side, as ingest makes them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
