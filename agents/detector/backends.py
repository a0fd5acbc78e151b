"""Where the detector's network runs: torch, or on a CPU an OpenVINO export of the same checkpoint, and with how many
threads.

OpenVINO: ultralytics exports a checkpoint with `export(format="openvino")` and runs the export through the same
`predict` (it knows the format by the folder name ending in `_openvino_model`), so letterboxing, NMS and the result
objects the tracker takes are the same code as with torch. The export is made once and cached under
`cache_dir()/detector/`, keyed by the checkpoint's content, the image size, the batch, and the ultralytics and
OpenVINO versions that made it. It is exported with dynamic shapes: ultralytics then letterboxes each batch to the
smallest rectangle (640x384 for a 16:9 frame), as it does for torch, where a static export pads every frame to
640x640. Measured here (bench/bench_detector.py): the static export costs about twice the dynamic one a frame and
finds more spurious weak boxes than torch; the dynamic export matches torch.

Threads: ultralytics' `select_device` sets torch to cores - 1 threads whenever it sets up a predictor, and its
OpenVINO backend compiles the model with OpenVINO's default (every core). `hold_threads` puts ours back at the
start of every predict, after any such set-up, for both."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import warnings
from functools import partial
from pathlib import Path

from scenestream.agents.models import cache_dir

OV_SUFFIX = "_openvino_model"
EXPORT_BATCH = 8  # the batch the export is traced with (the ingest's frames_per_batch); dynamic: any batch runs


@contextlib.contextmanager
def quiet_ultralytics():
    """ultralytics logs every export step and every model load at INFO; a worker's log wants none of it."""
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def _digest(checkpoint: Path) -> str:
    import openvino
    import ultralytics

    h = hashlib.sha256()
    with open(checkpoint, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(f"ultralytics {ultralytics.__version__} openvino {openvino.__version__}".encode())
    return h.hexdigest()[:16]


def export_dir(checkpoint: Path, imgsz: int, batch: int = EXPORT_BATCH) -> Path:
    """The cache folder of `checkpoint`'s export (whether or not it exists yet)."""
    name = f"{checkpoint.stem}-{_digest(checkpoint)}-{imgsz}px-b{batch}-dynamic{OV_SUFFIX}"
    return cache_dir() / "detector" / name


def _complete(folder: Path) -> bool:
    return (folder / "metadata.yaml").is_file() and any(folder.glob("*.xml"))


def openvino_export(checkpoint: str | Path, imgsz: int, batch: int = EXPORT_BATCH) -> Path:
    """The cached OpenVINO export of a .pt checkpoint, made now if missing. The export runs in a private temporary
    folder (ultralytics writes it next to the checkpoint, which may be a read-only package) and is renamed into
    place whole, so concurrent workers never see half an export; if two race, one rename wins and both use it."""
    checkpoint = Path(checkpoint)
    target = export_dir(checkpoint, imgsz, batch)
    if _complete(target):
        return target
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        shutil.copyfile(checkpoint, tmp / "model.pt")
        _export(tmp / "model.pt", imgsz, batch)
        made = tmp / f"model{OV_SUFFIX}"
        if not _complete(made):
            raise RuntimeError(f"the export left no OpenVINO model in {made}")
        try:
            os.replace(made, target)
        except OSError:  # another worker's export landed first: use that one
            if not _complete(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _export(checkpoint: Path, imgsz: int, batch: int) -> None:
    from ultralytics import YOLO

    with quiet_ultralytics(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace's deprecation notices, from ultralytics' tracing
        YOLO(str(checkpoint)).export(format="openvino", imgsz=imgsz, batch=batch, dynamic=True, device="cpu",
                                     verbose=False)


def openvino_backend(predictor):
    """ultralytics' OpenVINO backend object under a set-up predictor (`yolo.predictor`), or None."""
    auto = getattr(predictor, "model", None)
    backend = getattr(auto, "backend", None)
    return backend if hasattr(backend, "ov_compiled_model") else None


def openvino_threads(backend) -> int:
    return int(backend.ov_compiled_model.get_property("INFERENCE_NUM_THREADS"))


def openvino_precision(backend) -> str:
    """The precision the compiled model really runs at (OpenVINO's INFERENCE_PRECISION_HINT after compiling)."""
    hint = backend.ov_compiled_model.get_property("INFERENCE_PRECISION_HINT")  # an openvino.Type
    name = getattr(hint, "get_type_name", lambda: str(hint))()
    return {"bf16": "bf16", "bfloat16": "bf16", "f32": "f32", "float32": "f32"}.get(name, name)


def limit_openvino_threads(backend, threads: int, model_dir: Path, precision: str = "auto") -> None:
    """Recompile ultralytics' OpenVINO model (from `model_dir`, the export it loaded) with INFERENCE_NUM_THREADS =
    `threads` (and INFERENCE_PRECISION_HINT unless `precision` is auto): ultralytics compiles it with OpenVINO's
    defaults and has no option for either. Only on the CPU device, whose plugin the properties belong to."""
    import openvino as ov

    keywords = dict(getattr(backend.compile_model, "keywords", {}))  # ultralytics' partial(core.compile_model, ...)
    device = keywords.get("device_name", "CPU")
    if device != "CPU":
        return
    config = {**(keywords.get("config") or {"PERFORMANCE_HINT": "LATENCY"}), "INFERENCE_NUM_THREADS": threads}
    if precision != "auto":
        config["INFERENCE_PRECISION_HINT"] = precision  # our names are OpenVINO's (f32, bf16)
    core = ov.Core()
    xml = next(Path(model_dir).glob("*.xml"))
    backend.compile_model = partial(core.compile_model, device_name=device, config=config)
    backend.ov_compiled_model = backend.compile_model(core.read_model(str(xml), str(xml.with_suffix(".bin"))))


def hold_threads(yolo, threads: int, model_dir: Path | None = None, precision: str = "auto") -> None:
    """Register a callback that sets our thread counts at the start of every predict. ultralytics runs
    `on_predict_start` after it has set up its predictor (and with it reset torch's threads, and compiled an
    OpenVINO model with its own), so ours hold for the whole predict, whatever ultralytics or another agent in this
    process set before. `model_dir`: the OpenVINO export the model runs, if it does."""
    import torch

    def on_predict_start(predictor) -> None:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        backend = openvino_backend(predictor)
        if backend is not None and model_dir is not None and getattr(backend, "scenestream_threads", None) != threads:
            limit_openvino_threads(backend, threads, model_dir, precision)  # once per backend ultralytics builds
            backend.scenestream_threads = threads

    yolo.add_callback("on_predict_start", on_predict_start)
