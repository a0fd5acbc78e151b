"""Settings of the object detector. Every field can come from `from_options` (CLI/config strings included: `classes`
as "0,2,5", `label_map` as "Normal:person,Fall:person" or JSON); an unknown key or a bad value is a ConfigError
at start-up."""
from __future__ import annotations

import os

from dataclasses import dataclass, field
from typing import Literal

from scenestream.agents.errors import ConfigError
from scenestream.agents.options import convert
from scenestream.agents.models import ULTRALYTICS_ASSETS, default_model

HUB_DEFAULT = "yolo11n.pt"  # ultralytics downloads it from its GitHub assets on first use
OFFLINE_DEFAULT = "person-yolov8"
# The pack's detector is a fall detector: its two classes are a person standing and a person fallen. Both are
# people, and this project counts people, so both map to "person" (set label_map to keep them apart).
PACK_LABELS = {"Normal": "person", "Fall": "person"}
TRACKERS = ("bytetrack", "botsort")


@dataclass
class DetectorSettings:
    """Objects on the sampled frames, tracked across them.

    `model`: a YOLO checkpoint (a name ultralytics downloads such as yolo11n.pt, a local .pt/.onnx, a model .yaml
    that builds a randomly initialised network, or the offline pack's `person-yolov8`); empty = yolo11n.pt with a
    network, person-yolov8 without.

    `imgsz` 640 (ultralytics' default, what the models were trained at) is the default because it is the accurate
    choice: at 320 the same frames cost about a third (PERF.md, 2 CPU cores, a YOLOv8s-size model at 2 fps: RTF
    0.275 at 640, 0.088 at 320, the detector being 77 % of Stage 1's CPU time), but people under about 30 px tall
    in a 640 px frame (far away, small in a wide shot) fall below what the network resolves. On a CPU-only
    machine that must keep up with real time, imgsz=320 (or a lower ingest frame_rate) is the lever.

    `conf` 0.1: as ultralytics' own `model.track` does, boxes down to 0.1 go to the tracker. ByteTrack starts a
    track only from a box scoring at least its `new_track_thresh` (0.25 in bytetrack.yaml) and uses the weak ones
    only to keep existing tracks through a blurred or half-hidden frame, so ids stay stable."""

    model: str = ""
    imgsz: int = 640
    conf: float = 0.1
    iou: float = 0.7  # NMS IoU, ultralytics' default
    agnostic_nms: bool = False  # NMS across classes; on for the pack's model, whose two classes are one person
    device: str = "auto"  # auto = CUDA when present, else CPU
    threads: int = 2  # CPU threads for the network (torch intra-op, or OpenVINO's INFERENCE_NUM_THREADS), held
    #   at every predict: ultralytics would reset torch to cores - 1 (one, on 2 cores) and OpenVINO takes every core
    backend: Literal["auto", "torch", "openvino"] = "auto"  # auto = an OpenVINO export of the .pt checkpoint on a
    #   CPU (cached; about 2-3x faster than torch here, bench/RESULTS.md), torch on CUDA; a failed export falls back
    #   to torch with one warning. Models that are not a .pt checkpoint (.yaml, .onnx) run as ultralytics loads them
    precision: Literal["auto", "f32", "bf16"] = "auto"  # OpenVINO's INFERENCE_PRECISION_HINT on a CPU: auto = its
    #   own choice (bf16 where the CPU has AMX, f32 elsewhere, e.g. AMD EPYC), so boxes near a threshold can differ
    #   between machines. The environment's SCENESTREAM_OPENVINO_PRECISION sets it for a whole process (the suite
    #   runs once with f32 forced, as a machine without AMX does)
    half: bool = False  # fp16 inference on CUDA (ignored on CPU, where it would be slower)
    classes: list[int] | None = None  # keep only these class ids (None = all)
    label_map: dict[str, str] = field(default_factory=dict)  # model label -> reported label
    tracker: str = "bytetrack.yaml"  # an ultralytics tracker config (bytetrack.yaml, botsort.yaml) or a path
    max_videos: int = 64  # tracker states kept at once; the least recently used goes first (a video whose last
    #   batch never reaches this worker, e.g. after a rebalance, must not hold its state forever)

    @classmethod
    def from_options(cls, options: dict | None) -> "DetectorSettings":
        options = dict(options or {})
        if "precision" not in options and os.environ.get("SCENESTREAM_OPENVINO_PRECISION"):
            options["precision"] = os.environ["SCENESTREAM_OPENVINO_PRECISION"]
        s = convert(cls, options, "detector")
        if not s.model:
            s.model = default_model("detector", HUB_DEFAULT, OFFLINE_DEFAULT, ULTRALYTICS_ASSETS)
        if s.model in (OFFLINE_DEFAULT, f"pack:{OFFLINE_DEFAULT}") and "label_map" not in options:
            s.label_map = dict(PACK_LABELS)
        if s.model in (OFFLINE_DEFAULT, f"pack:{OFFLINE_DEFAULT}") and "agnostic_nms" not in options:
            s.agnostic_nms = True  # a person is standing or fallen, not both: one box each
        if s.imgsz < 32 or s.imgsz % 32:
            raise ConfigError(f"detector imgsz must be a multiple of 32 (the network's stride), not {s.imgsz}")
        if not (0 < s.conf < 1 and 0 < s.iou < 1):
            raise ConfigError("detector conf and iou must be between 0 and 1")
        if s.threads < 1 or s.max_videos < 1:
            raise ConfigError("detector threads and max_videos must be at least 1")
        return s
