"""The GPU check: the captioner and the detector agents on CUDA, in one script run once on a lent GPU machine.

1. Captioner: a randomly initialised LLaVA-Next built here (no download; its tokenizer is the pack's MiniLM
   WordPiece one, as in tests/agents/test_captioner.py), saved and loaded through CaptionerAgent on `--device`
   with attn=sdpa, in bf16, fp16, fp32 and 4-bit NF4 (bitsandbytes, when it imports). Scenes of real JPEG
   keyframes (crops of ultralytics' bus.jpg and zidane.jpg, short side `--frame-side`) go through the agent's
   `process` (one scene a call) and `process_batch` (`--batch` a call); the greedy token ids of both must match
   scene for scene. Reported: ms per scene each way (median of `--repeats`), scenes with equal ids, and peak
   device memory (torch.cuda.max_memory_allocated) after load and after the runs.
2. Detector: DetectorAgent (backend torch) with the pack's person checkpoint (`--detector-model`, default the
   pack's person-yolov8) on `--device`, fp32 and half, imgsz 640: ms per frame for FrameBatches of 8 real JPEG
   frames (decoding and tracking included, median of `--repeats` after a warm-up), and the people it finds on
   bus.jpg (tracked by the agent, and raw boxes at conf >= 0.25).
3. A markdown table with the GPU, driver, CUDA, torch and transformers versions, printed and written to
   OUT/gpu_results.md.

A part whose dependencies cannot load is skipped and its row says why; a part that fails says so in one line.
Random weights: only speed, memory and batched-equals-single are measured, not caption quality.

    python bench/gpu_check.py --device cuda --out DIR [--wheels .gpu-wheels]     # the lent GPU machine
    python bench/gpu_check.py --device cpu --out /tmp/g --width 64 --layers 1 --image-size 32 --patch 8 \\
        --vision-width 64 --frame-side 64 --scenes 4 --batch 2 --new-tokens 8 --repeats 1     # a CPU smoke run

`--wheels DIR` (for a machine without the project's packages): wheels there are pip-installed (no index) into a
scratch folder for whatever of msgspec, orjson, ultralytics, ultralytics-thop, lap does not import; DIR/bnb is an
unpacked bitsandbytes (CUDA 13 libraries only, to fit the transfer limit); DIR/minilm-tokenizer and
DIR/person-yolov8.pt stand in for the model pack."""
from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for k in ("HF_HUB_OFFLINE", "YOLO_OFFLINE", "SCENESTREAM_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(k, "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

NEEDED = {"msgspec": "msgspec", "orjson": "orjson", "ultralytics": "ultralytics", "thop": "ultralytics_thop",
          "lap": "lap"}
notes: list[str] = []
RESULT_FILE: list[Path] = []  # where save() writes the table so far (a run cut off at its time limit keeps it)


def save(lines: list[str]) -> None:
    for f in RESULT_FILE:
        f.write_text("\n".join(lines) + "\n")


def one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]


def bootstrap(wheels: Path | None) -> None:
    """Install the carried wheels of whatever does not import (no index: the GPU machine has no network)."""
    if wheels is None:
        return
    bnb = wheels / "bnb"
    if bnb.is_dir() and importlib.util.find_spec("bitsandbytes") is None:
        sys.path.insert(0, str(bnb))
        notes.append(f"bitsandbytes: the carried copy in {bnb}")
    missing = [mod for mod in NEEDED if importlib.util.find_spec(mod) is None]
    if not missing:
        return
    files = [w for w in sorted(wheels.glob("*.whl")) if any(w.name.startswith(NEEDED[m] + "-") for m in missing)]
    target = Path(tempfile.gettempdir()) / "gpu-check-site"
    done = []
    for w in files:  # one at a time, so one wheel that does not fit this Python leaves the others installed
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                            "--no-cache-dir", "--upgrade", "--target", str(target), str(w)],
                           capture_output=True, text=True)
        if r.returncode:
            notes.append(f"pip install of {w.name} failed: {' '.join(r.stderr.split())[-200:]}")
        else:
            done.append(w.name.split("-")[0])
    sys.path.insert(1, str(target))
    importlib.invalidate_caches()
    notes.append(f"installed from carried wheels: {', '.join(done) or 'none'} (missing before: {', '.join(missing)})")


def environment(device: str) -> list[tuple[str, str]]:
    import torch

    rows = [("python", platform.python_version()), ("torch", torch.__version__),
            ("torch CUDA", str(torch.version.cuda))]
    for mod in ("transformers", "ultralytics", "bitsandbytes"):
        try:
            rows.append((mod, importlib.import_module(mod).__version__))
        except Exception as exc:  # noqa: BLE001  (absent or unloadable: say which)
            rows.append((mod, f"not loaded ({one_line(exc)[:120]})"))
    if device.startswith("cuda"):
        p = torch.cuda.get_device_properties(0)
        rows.append(("GPU", f"{torch.cuda.get_device_name(0)}, {p.total_memory / 2**30:.0f} GiB, "
                            f"{p.multi_processor_count} SMs, capability {p.major}.{p.minor}"))
        try:
            drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30).stdout.strip()
        except Exception as exc:  # noqa: BLE001
            drv = f"unknown ({one_line(exc)})"
        rows.append(("driver", drv))
    else:
        rows.append(("GPU", "none (CPU run)"))
    rows.append(("CPU cores", str(os.cpu_count())))
    return rows


# ------------------------------------------------------------------------------------------------ media
def asset(name: str) -> Path:
    import ultralytics

    return Path(ultralytics.__file__).parent / "assets" / name


def jpeg(im, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def keyframes(n_scenes: int, per_scene: int, side: int):
    """Scenes of real photos: crops of bus.jpg and zidane.jpg of varied aspect ratio (so prompts differ in image
    tokens and the batch is left-padded), short side `side`, as ingest sends them."""
    from PIL import Image

    from scenestream.schemas import Keyframe, Scene

    sources = [Image.open(asset("bus.jpg")).convert("RGB"), Image.open(asset("zidane.jpg")).convert("RGB")]
    aspects = [1.0, 4 / 3, 16 / 9, 3 / 4, 1.5]
    scenes = []
    for i in range(n_scenes):
        frames = []
        for f in range(per_scene):
            src = sources[(i + f) % 2]
            a = aspects[(i * per_scene + f) % len(aspects)]
            h = int(min(src.height, src.width / a) * (0.6 + 0.1 * ((i + f) % 4)))
            w = int(h * a)
            x, y = (src.width - w) * ((i * 3 + f) % 5) // 4, (src.height - h) * ((i + 2 * f) % 3) // 2
            crop = src.crop((x, y, x + w, y + h))
            scale = side / min(crop.size)
            crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))))
            frames.append(Keyframe(i * 2.0 + f, jpeg(crop), crop.width, crop.height))
        scenes.append(Scene("gpu-check", i, i * 2.0, i * 2.0 + 2.0, frames))
    return scenes


# ------------------------------------------------------------------------------------------------ captioner
LLAVA_CHAT = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
              "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %} ASSISTANT:")


def build_llava_next(d: Path, tokenizer_dir: str, a) -> tuple[Path, int]:
    """A randomly initialised LLaVA-Next saved to `d` (as tests/agents/test_captioner.py builds its tiny one, at a
    chosen size). Returns the directory and the parameter count."""
    import torch
    from transformers import (AutoTokenizer, CLIPVisionConfig, LlamaConfig, LlavaNextConfig,
                              LlavaNextForConditionalGeneration, LlavaNextImageProcessor, LlavaNextProcessor)

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir, model_input_names=["input_ids", "attention_mask"])
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    w, vw, s = a.width, a.vision_width, a.image_size
    text = LlamaConfig(hidden_size=w, intermediate_size=2 * w, num_hidden_layers=a.layers,
                       num_attention_heads=max(1, w // 64), num_key_value_heads=max(1, w // 64),
                       vocab_size=len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id,
                       bos_token_id=tok.cls_token_id)
    vision = CLIPVisionConfig(hidden_size=vw, intermediate_size=2 * vw, num_hidden_layers=a.vision_layers,
                              num_attention_heads=max(1, vw // 64), image_size=s, patch_size=a.patch,
                              projection_dim=vw)
    pinpoints = [[s, s], [s, 2 * s], [2 * s, s]]
    cfg = LlavaNextConfig(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
                          image_grid_pinpoints=pinpoints)
    model = LlavaNextForConditionalGeneration(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(d)
    ip = LlavaNextImageProcessor(size={"shortest_edge": s}, crop_size={"height": s, "width": s},
                                 image_grid_pinpoints=pinpoints)
    LlavaNextProcessor(image_processor=ip, tokenizer=tok, patch_size=a.patch, vision_feature_select_strategy="default",
                       image_token="<image>", num_additional_image_tokens=1,
                       chat_template=LLAVA_CHAT).save_pretrained(d)
    return d, n_params


def caption_mode(model_dir: Path, scenes, mode: str, a) -> dict:
    """One precision: load through the agent, run every scene one at a time and in batches, compare ids."""
    import torch

    from scenestream.agents.captioner import CaptionerAgent

    cuda = a.device.startswith("cuda")
    opts = {"model": str(model_dir), "device": a.device, "attn": "sdpa", "max_new_tokens": a.new_tokens,
            "repeat_times": 10**6, "max_batch": a.batch, "time_limit": 600, "threads": a.threads}
    opts |= {"dtype": "fp16", "quantization": "4bit"} if mode == "nf4" else {"dtype": mode}
    if cuda:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()  # should be ~0: the previous precision's model is gone
    agent = CaptionerAgent.from_options(opts)
    t0 = time.perf_counter()
    agent.setup()
    load_s = time.perf_counter() - t0
    load_mem = torch.cuda.max_memory_allocated() if cuda else 0
    weights = torch.cuda.memory_allocated() if cuda else 0
    from PIL import Image

    pics = [[Image.open(io.BytesIO(k.jpeg)).convert("RGB") for k in sc.keyframes] for sc in scenes]
    prompt_len = [int(n) for n in agent.engine.backend.prepare(pics)["attention_mask"].sum(1)]
    captured: list = []
    engine_caption = agent.engine.caption

    def spy(frames):  # keeps each call's Generated (token ids) as it passes through
        out = engine_caption(frames)
        captured.extend(out)
        return out

    agent.engine.caption = spy
    agent.process_batch(scenes[:a.batch])  # warm-up: kernels, cuBLAS handles, allocator
    agent.process(scenes[0])
    single, batched, ids_single, ids_batched, stable = [], [], [], [], True
    for _ in range(a.repeats):
        captured.clear()
        t0 = time.perf_counter()
        errors = [c.error for s in scenes for c in agent.process(s) if c.error]
        single.append(time.perf_counter() - t0)  # token ids came back to the host: the device is done
        stable = stable and (not ids_single or ids_single == [g.token_ids for g in captured])
        ids_single = [g.token_ids for g in captured]
        captured.clear()
        t0 = time.perf_counter()
        errors += [c.error for i in range(0, len(scenes), a.batch) for c in agent.process_batch(scenes[i:i + a.batch])
                   if c.error]
        batched.append(time.perf_counter() - t0)
        stable = stable and (not ids_batched or ids_batched == [g.token_ids for g in captured])
        ids_batched = [g.token_ids for g in captured]
        if errors:
            raise RuntimeError(f"{len(errors)} scene errors, first: {errors[0]}")
    same = sum(x == y for x, y in zip(ids_single, ids_batched))
    first_diff = [next((k for k, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
                  for x, y in zip(ids_single, ids_batched) if x != y]
    tokens = sum(len(x) for x in ids_batched)
    row = {"mode": mode, "load_s": load_s, "single_ms": statistics.median(single) / len(scenes) * 1000,
           "batched_ms": statistics.median(batched) / len(scenes) * 1000, "same": same, "n": len(scenes),
           "first_diff": first_diff, "tokens": tokens, "prompt_len": prompt_len, "stable": stable,
           "base_mib": (base if cuda else 0) / 2**20, "weights_mib": weights / 2**20,
           "load_mib": load_mem / 2**20, "peak_mib": (torch.cuda.max_memory_allocated() if cuda else 0) / 2**20}
    agent.close()
    del agent, engine_caption, spy  # spy and the engine refer to each other: collect the cycle, free the model
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return row


def captioner_part(a, tokenizer_dir: str, lines: list[str]) -> None:
    import torch

    lines.append(f"### Captioner (CaptionerAgent, LLaVA-Next random weights, attn sdpa, device {a.device})\n")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, n_params = build_llava_next(Path(tmp) / "llava-next", tokenizer_dir, a)
        scenes = keyframes(a.scenes, 2, a.frame_side)
        lines.append(f"Model: text {a.layers} layers x {a.width} wide, vision {a.vision_layers} x {a.vision_width}, "
                     f"image {a.image_size} px / patch {a.patch} (anyres pinpoints 1x1, 1x2, 2x1), "
                     f"{n_params / 1e6:.1f} M parameters. {a.scenes} scenes x 2 keyframes (crops of bus.jpg and "
                     f"zidane.jpg, short side {a.frame_side} px), {a.new_tokens} new tokens greedy (random weights: "
                     f"every caption runs to the limit), batch {a.batch}, median of {a.repeats}; through the agent's "
                     "process / process_batch, JPEG decoding included, loading excluded.\n")
        header_at, prompt_noted = len(lines), False
        lines.append("| precision | load s | one at a time ms/scene | batched ms/scene | speed-up | batched ids = "
                     "single ids | first differing token | same ids every repeat | MiB allocated after load "
                     "| peak MiB load | peak MiB runs |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        modes = ["bf16", "fp16", "fp32", "nf4"]
        for mode in modes:
            if mode == "nf4":
                try:
                    import bitsandbytes  # noqa: F401
                except Exception as exc:  # noqa: BLE001
                    lines.append(f"| nf4 | not run: bitsandbytes does not load ({one_line(exc)[:150]}) ||||||||||")
                    continue
            if mode == "bf16" and a.device.startswith("cuda") and not torch.cuda.is_bf16_supported():
                lines.append("| bf16 | not run: this GPU has no bf16 ||||||||||")
                continue
            try:
                r = caption_mode(model_dir, scenes, mode, a)
                if not prompt_noted:
                    prompt_noted, pl = True, r["prompt_len"]
                    lines.insert(header_at, f"Prompts: {min(pl)} to {max(pl)} tokens a scene (text and image).\n")
            except Exception as exc:  # noqa: BLE001  (the row says what broke; the other parts still run)
                traceback.print_exc()
                lines.append(f"| {mode} | FAILED: {one_line(exc)} ||||||||||")
                continue
            diff = ", ".join(map(str, r["first_diff"][:6])) or "-"
            mem = (f"{r['weights_mib']:.0f} | {r['load_mib']:.0f} | {r['peak_mib']:.0f}" if a.device.startswith("cuda")
                   else "- | - | -")
            if r["base_mib"] > 1:
                notes.append(f"{mode}: {r['base_mib']:.0f} MiB were still allocated before its load")
            lines.append(f"| {mode} | {r['load_s']:.1f} | {r['single_ms']:.1f} | {r['batched_ms']:.1f} | "
                         f"{r['single_ms'] / r['batched_ms']:.2f}x | {r['same']}/{r['n']} | {diff} | {'yes' if r['stable'] else 'NO'} | {mem} |")
            print(lines[-1], flush=True)
            save(lines)
    lines.append("")


# ------------------------------------------------------------------------------------------------ detector
def detector_part(a, model_path: str, lines: list[str]) -> None:
    import numpy as np
    from PIL import Image

    from scenestream.agents.detector import DetectorAgent
    from scenestream.schemas import Frame, FrameBatch

    lines.append(f"### Detector (DetectorAgent, backend torch, pack person-yolov8 checkpoint, device {a.device})\n")
    lines.append(f"FrameBatches of {a.det_batch} real frames (bus.jpg 810x1080 and zidane.jpg 1280x720, alternating, "
                 f"as JPEG), imgsz {a.imgsz}; ms per frame = agent.process (JPEG decoding, one batched predict, "
                 f"ByteTrack) / frames, median of {a.det_repeats} after 3 warm-ups. People on bus.jpg (4 in the "
                 "photo): tracks the agent reports on it as a one-frame batch, and raw boxes at conf >= 0.25.\n")
    lines.append("| precision | ms / frame | frames / s | people on bus.jpg (tracked) | boxes conf >= 0.25 |")
    lines.append("|---|---|---|---|---|")
    bus, zidane = asset("bus.jpg").read_bytes(), asset("zidane.jpg").read_bytes()
    frames = [Frame(i / 8, bus if i % 2 == 0 else zidane, 0, 0) for i in range(a.det_batch)]
    halves = [False, True] if a.device.startswith("cuda") else [False]
    for half in halves:
        name = "fp16 (half)" if half else "fp32"
        try:
            agent = DetectorAgent.from_options({"model": model_path, "device": a.device, "half": half,
                                                "imgsz": a.imgsz, "backend": "torch", "threads": a.threads,
                                                "agnostic_nms": True, "label_map": "Normal:person,Fall:person"})
            agent.setup()
            one = agent.process(FrameBatch("bus", 0, 0.0, 0.1, [Frame(0.0, bus, 810, 1080)], last=True))[0]
            if one.error:
                raise RuntimeError(one.error)
            people = sum(o.label == "person" for o in one.tracks)
            with Image.open(asset("bus.jpg")) as im:
                raw = agent.model.predict(np.ascontiguousarray(np.asarray(im.convert("RGB"))[:, :, ::-1]),
                                          imgsz=a.imgsz, conf=0.25, agnostic_nms=True, device=agent.device,
                                          verbose=False)[0]
            times = []
            for k in range(3 + a.det_repeats):
                batch = FrameBatch("clip", k, k * 1.0, k * 1.0 + 1.0, frames)
                t0 = time.perf_counter()
                out = agent.process(batch)[0]
                dt = time.perf_counter() - t0  # boxes came back to the host for the tracker: the device is done
                if out.error:
                    raise RuntimeError(out.error)
                if k >= 3:
                    times.append(dt)
            ms = statistics.median(times) / len(frames) * 1000
            lines.append(f"| {name} | {ms:.2f} | {1000 / ms:.0f} | {people} | {len(raw.boxes)} |")
            print(lines[-1], flush=True)
            save(lines)
            agent.close()
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            lines.append(f"| {name} | FAILED: {one_line(exc)} ||||")
    lines.append("")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--wheels", type=Path, default=None, help="carried wheels and pack files (see above)")
    ap.add_argument("--tokenizer", default="", help="a tokenizer directory (default: WHEELS/minilm-tokenizer, "
                                                     "else the pack's minilm)")
    ap.add_argument("--detector-model", default="", help="a YOLO .pt (default: WHEELS/person-yolov8.pt, else the "
                                                          "pack's person-yolov8)")
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--vision-width", type=int, default=512)
    ap.add_argument("--vision-layers", type=int, default=4)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--patch", type=int, default=14)
    ap.add_argument("--frame-side", type=int, default=336)
    ap.add_argument("--scenes", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--det-batch", type=int, default=8)
    ap.add_argument("--det-repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--skip", default="", help="comma list of parts to skip: captioner, detector")
    a = ap.parse_args()
    t_start = time.perf_counter()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    RESULT_FILE.append(out / "gpu_results.md")
    bootstrap(a.wheels)
    lines = [f"## GPU check ({a.device})\n"]
    env = environment(a.device)
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in env] + [""]
    print("\n".join(lines), flush=True)
    save(lines)
    skip = set(filter(None, a.skip.split(",")))

    if "captioner" not in skip:
        tok = a.tokenizer or (str(a.wheels / "minilm-tokenizer") if a.wheels and (a.wheels / "minilm-tokenizer").is_dir()
                              else "")
        try:
            if not tok:
                from scenestream.agents.models import resolve_model
                tok = resolve_model("minilm").location
            captioner_part(a, tok, lines)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            lines.append(f"Captioner part not run: {one_line(exc)}\n")
    if "detector" not in skip:
        pt = a.detector_model or (str(a.wheels / "person-yolov8.pt") if a.wheels and (a.wheels / "person-yolov8.pt")
                                  .is_file() else "")
        try:
            if not pt:
                from scenestream.agents.models import resolve_model
                pt = resolve_model("pack:person-yolov8").location
            detector_part(a, pt, lines)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            lines.append(f"Detector part not run: {one_line(exc)}\n")
    lines += [f"Notes: {n}" for n in notes]
    lines.append(f"Whole check: {time.perf_counter() - t_start:.0f} s wall.")
    save(lines)
    print("\n" + "\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
