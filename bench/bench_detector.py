"""The detector agent per backend on real frames: torch on 1 and 2 threads, OpenVINO (the cached dynamic-shape export
the agent makes) on 2 and 1 threads, and a static 640x640 OpenVINO export for comparison. Frames: bikes.mp4
(640x272) and bigbuckbunny.mp4 (1280x720, to 640x360), sampled by the real ingest agent, in FrameBatches of 8,
through the agent's own `process` (JPEG decode, predict, ByteTrack), imgsz 640. Model loading and one warm-up batch
are excluded; runs are interleaved, the median of `--repeats` is reported.

    python bench/bench_detector.py [--frames 160] [--repeats 3] [--no-record]

Prints a table and puts it in bench/RESULTS.md (replacing an earlier section of the same title)."""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _k in ("HF_HUB_OFFLINE", "YOLO_OFFLINE", "SCENESTREAM_OFFLINE"):
    os.environ.setdefault(_k, "1")

from bench.machine import RESULTS, machine  # noqa: E402

TITLE = "Detector backends: torch vs OpenVINO (imgsz 640, batches of 8)"


def frames(total: int, per_batch: int = 8):
    from scenestream.agents.ingest import IngestAgent
    from scenestream.schemas import FrameBatch, VideoRequest
    from tests import media

    out = []
    videos = (media.bikes(), media.bigbuckbunny())
    for n, path in enumerate(videos):
        want = total // len(videos) + (n < total % len(videos))
        records = IngestAgent().process(VideoRequest(f"v{n}", str(path), {"frame_rate": 16}))
        got = [f for r in records if isinstance(r, FrameBatch) for f in r.frames][:want]
        out += [FrameBatch(f"v{n}", i // per_batch, got[i].time, got[min(i + per_batch, len(got)) - 1].time + 1 / 16,
                           got[i:i + per_batch], last=i + per_batch >= len(got))
                for i in range(0, len(got), per_batch)]
    return out


def static_export(checkpoint: str, imgsz: int) -> Path:
    """A static-shape export (every batch padded to 8 frames of 640x640), made in a temporary folder."""
    from scenestream.agents.detector.backends import quiet_ultralytics
    from ultralytics import YOLO

    tmp = Path(tempfile.mkdtemp(prefix="bench-detector-"))
    shutil.copyfile(checkpoint, tmp / "model.pt")
    with quiet_ultralytics(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace's deprecation notices
        YOLO(str(tmp / "model.pt")).export(format="openvino", imgsz=imgsz, batch=8, dynamic=False, verbose=False)
    return tmp / "model_openvino_model"


def agent(backend: str, threads: int, imgsz: int, static: Path | None = None):
    from scenestream.agents.detector import DetectorAgent
    from scenestream.agents.detector.backends import hold_threads, quiet_ultralytics

    a = DetectorAgent.from_options({"backend": backend, "threads": threads, "imgsz": imgsz})
    a.setup()
    if static is not None:  # the same agent, running the static export instead of its own
        from ultralytics import YOLO

        with quiet_ultralytics():
            a.model = YOLO(str(static), task="detect")
        a.openvino_dir = static
        hold_threads(a.model, threads, static)
    return a


def run(a, batches) -> tuple[float, float, int]:
    for b in batches:
        a.trackers.pop(b.video_id, None)
    for b in {b.video_id: b for b in reversed(batches)}.values():  # warm-up: each video's first batch (OpenVINO
        a.process(b)  # compiles the dynamic model for a shape on first sight)
    for b in batches:
        a.trackers.pop(b.video_id, None)
    c0, t0 = time.process_time(), time.perf_counter()
    boxes = sum(len(d.tracks) for b in batches for d in a.process(b))
    return time.perf_counter() - t0, time.process_time() - c0, boxes


def lscpu() -> str:
    try:
        info = dict(line.split(":", 1) for line in subprocess.run(["lscpu"], capture_output=True, text=True,
                                                                 timeout=10).stdout.splitlines() if ":" in line)
        info = {k.strip(): v.strip() for k, v in info.items()}
        return (f"{info.get('Model name', '?')}, {info.get('CPU(s)', '?')} CPUs ({info.get('Core(s) per socket', '?')}"
                f" cores x {info.get('Socket(s)', '?')} sockets, {info.get('Thread(s) per core', '?')} thread(s) "
                "per core)")
    except (OSError, subprocess.SubprocessError):
        return "lscpu unavailable"


def replace_section(title: str, text: str) -> None:
    """Put `text` (starting with its `## title` line) in RESULTS.md in place of an earlier section of that title."""
    old = RESULTS.read_text() if RESULTS.exists() else ""
    head = f"\n## {title}\n"
    if head in old:
        start = old.index(head)
        end = old.find("\n## ", start + len(head))
        old = old[:start] + (old[end:] if end >= 0 else "\n")
    RESULTS.write_text(old.rstrip("\n") + "\n" + text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=160)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-record", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args()

    import datetime

    import openvino
    import torch
    import ultralytics

    batches = frames(args.frames)
    n = sum(len(b.frames) for b in batches)
    sizes = sorted({(f.width, f.height) for b in batches for f in b.frames})
    load0 = os.getloadavg()[0]
    agents = {
        "torch, 1 thread": agent("torch", 1, args.imgsz),
        "torch, 2 threads": agent("torch", 2, args.imgsz),
        "OpenVINO dynamic, 2 threads (default)": agent("openvino", 2, args.imgsz),
        "OpenVINO dynamic, 1 thread": agent("openvino", 1, args.imgsz),
    }
    ov = agents["OpenVINO dynamic, 2 threads (default)"]
    assert ov.backend == "openvino", "the OpenVINO export failed; see the warning above"
    precision = ov.model.predictor.model.backend.ov_compiled_model.get_property("INFERENCE_PRECISION_HINT").to_string()
    checkpoint = str(agents["torch, 1 thread"].model.ckpt_path)
    agents["OpenVINO static 640x640, 2 threads"] = agent("openvino", 2, args.imgsz, static_export(checkpoint,
                                                                                                   args.imgsz))
    results: dict[str, list[tuple[float, float, int]]] = {k: [] for k in agents}
    for _ in range(args.repeats):  # interleaved, so a neighbour's load spreads over every backend
        for name, a in agents.items():
            results[name].append(run(a, batches))
            print(f"{name}: {results[name][-1][0] / n * 1000:.1f} ms a frame", flush=True)
    load1 = os.getloadavg()[0]

    base = statistics.median(r[0] for r in results["torch, 1 thread"])
    rows = []
    for name, rs in results.items():
        wall, cpu = statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)
        rows.append(f"| {name} | {wall / n * 1000:.1f} | {cpu / n * 1000:.1f} | {cpu / wall:.2f} | "
                    f"{base / wall:.2f}x | {rs[0][2]} |")
    table = ("| backend | ms a frame (wall) | CPU ms a frame | cores used | speed vs torch 1 thread | track boxes |\n"
             "|---|---|---|---|---|---|\n" + "\n".join(rows))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"\n## {TITLE}\n\n{stamp}; machine: {machine()}; lscpu: {lscpu()}\n\n{table}\n\n"
            f"{n} real frames ({', '.join(f'{w}x{h}' for w, h in sizes)}: bikes.mp4 and bigbuckbunny.mp4 sampled at "
            f"16 fps by the ingest agent), {len(batches)} batches, through `DetectorAgent.process` (JPEG decode, "
            f"predict, ByteTrack), offline person detector, imgsz {args.imgsz}; median of {args.repeats} interleaved "
            f"runs, model loading and a warm-up batch excluded. CPU ms = process CPU time; cores used = CPU / wall. "
            f"OpenVINO {openvino.__version__.split('-')[0]} (inference precision on this CPU: {precision}), "
            f"ultralytics {ultralytics.__version__}, torch {torch.__version__}. The dynamic export letterboxes each "
            "batch to the smallest rectangle as torch does; the static one pads every frame to 640x640. "
            f"Load average (1 min) {load0:.2f} before, {load1:.2f} after: other work shared the cores.\n")
    print(text)
    if not args.no_record:
        replace_section(TITLE, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
