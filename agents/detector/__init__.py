"""The object detector: ultralytics YOLO on the sampled frames, ByteTrack for identities.

ultralytics' own `model.track(persist=True)` keeps one tracker on the predictor, which would mix videos that
interleave on one worker; so we run batched `predict` and feed ultralytics' BYTETracker ourselves, one tracker per
video (its ids are per tracker, so every video's ids start at 1 and a replay gives the same ids). A video's tracker
is dropped with its last batch; nothing else accumulates."""
from __future__ import annotations

import io
from dataclasses import dataclass, field, fields

import numpy as np

from agents.errors import ConfigError
from agents.models import offline, pick_device, resolve_model
from schemas import Detections, FrameBatch, TrackObservation
from streams.failures import one_line

OFFLINE_LABELS = {"Normal": "person", "Fall": "person"}  # the pack's detector: a person in two poses


@dataclass
class DetectorSettings:
    """`model`: a YOLO checkpoint (hub name such as yolo11n.pt, local .pt/.yaml, or the pack's `person-yolov8`);
    empty = yolo11n.pt online, person-yolov8 offline. `imgsz` 640 is ultralytics' default and the accurate choice;
    on a CPU 320 is about 3x faster (PERF.md: 133 vs 40 ms a frame) at the cost of small and distant objects."""

    model: str = ""
    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.7
    device: str = "auto"
    threads: int = 2  # torch threads: ultralytics would take cores - 1 (one, on a 2-core machine)
    classes: list[int] | None = None
    label_map: dict[str, str] = field(default_factory=dict)  # model label -> our label
    tracker: str = "bytetrack.yaml"
    half: bool = False  # fp16 on CUDA

    @classmethod
    def from_options(cls, options: dict) -> "DetectorSettings":
        known = {f.name for f in fields(cls)}
        s = cls(**{k: v for k, v in (options or {}).items() if k in known})
        s.imgsz, s.conf, s.iou, s.threads = int(s.imgsz), float(s.conf), float(s.iou), int(s.threads)
        if not s.model:
            s.model = "person-yolov8" if offline() else "yolo11n.pt"
        if s.model in ("person-yolov8", "pack:person-yolov8") and not s.label_map:
            s.label_map = dict(OFFLINE_LABELS)
        return s


class DetectorAgent:
    name = "detector"

    def __init__(self, settings: DetectorSettings | None = None):
        self.settings = settings or DetectorSettings.from_options({})
        self.model_id = self.settings.model
        self.model = None
        self.trackers: dict[str, object] = {}

    @classmethod
    def from_options(cls, options: dict) -> "DetectorAgent":
        return cls(DetectorSettings.from_options(options))

    def setup(self) -> None:
        import torch
        from ultralytics import YOLO
        from ultralytics.utils import YAML, IterableSimpleNamespace
        from ultralytics.utils.checks import check_yaml

        s = self.settings
        torch.set_num_threads(s.threads)
        self.device = pick_device(s.device)
        spec = s.model
        if not spec.endswith((".pt", ".yaml", ".onnx")) or spec.startswith("pack:"):
            spec = resolve_model(spec).location  # pack name or local directory
        try:
            self.model = YOLO(spec)
        except Exception as exc:  # a missing file, or a download that cannot happen (no network)
            raise ConfigError(f"cannot load detector model {s.model!r} ({type(exc).__name__}); without network "
                              "use the offline pack (SCENESTREAM_OFFLINE=1 or -o model=person-yolov8)") from None
        self.names = self.model.names
        self.tracker_cfg = IterableSimpleNamespace(**YAML.load(check_yaml(s.tracker)))
        self.model_id = s.model

    def close(self) -> None:
        self.model = None
        self.trackers.clear()

    def _tracker(self, video_id: str):
        from ultralytics.trackers.byte_tracker import BYTETracker

        if video_id not in self.trackers:
            self.trackers[video_id] = BYTETracker(self.tracker_cfg)
        return self.trackers[video_id]

    def process(self, batch: FrameBatch) -> list[Detections]:
        out = Detections(batch.video_id, batch.index, batch.start, batch.end, self.model_id, last=batch.last)
        try:
            out.tracks = self._detect(batch)
        except Exception as exc:  # a corrupt frame costs this batch's detections, not the worker
            out.error = one_line(exc)
        finally:
            if batch.last:
                self.trackers.pop(batch.video_id, None)
        return [out]

    def _detect(self, batch: FrameBatch) -> list[TrackObservation]:
        from PIL import Image

        if not batch.frames:
            return []
        images = []
        for f in batch.frames:
            with Image.open(io.BytesIO(f.jpeg)) as im:
                images.append(np.asarray(im.convert("RGB"))[:, :, ::-1].copy())  # ultralytics takes BGR arrays
        s = self.settings
        results = self.model.predict(images, imgsz=s.imgsz, conf=s.conf, iou=s.iou, classes=s.classes,
                                     device=self.device, verbose=False,
                                     **({"quantize": "fp16"} if s.half and self.device != "cpu" else {}))
        tracker = self._tracker(batch.video_id)
        observations = []
        for frame, result in zip(batch.frames, results):
            h, w = result.orig_shape
            rows = tracker.update(result.boxes.cpu().numpy(), result.orig_img)
            for x1, y1, x2, y2, track_id, score, cls, _ in rows:
                label = self.names[int(cls)]
                observations.append(TrackObservation(
                    int(track_id), s.label_map.get(label, label), round(float(score), 4),
                    [round(float(x1) / w, 4), round(float(y1) / h, 4), round(float(x2) / w, 4), round(float(y2) / h, 4)],
                    frame.time))
        return observations
