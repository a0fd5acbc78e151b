"""The object detector: ultralytics YOLO on the sampled frames, ByteTrack for identities.

ultralytics' own `model.track(persist=True)` keeps its trackers on the predictor, so videos interleaving on one
worker would share one tracker and steal each other's ids. Instead each batch's frames go through one batched
`predict`, and the boxes are fed to ultralytics' own tracker class (BYTETracker with bytetrack.yaml), one tracker
per video: ids are per video (every video's start at 1, and a replay gives the same ids). A video's tracker is
dropped with its last batch, and at most `max_videos` are kept; no results accumulate.

Where the network runs (backends.py): on a CPU, an OpenVINO export of the checkpoint, made once and cached, run by
the same ultralytics `predict`; torch on CUDA, for models that are no .pt checkpoint, or when the export fails.
The configured threads hold at every predict, whatever ultralytics resets.

Offline behaviour: ultralytics reads YOLO_OFFLINE and YOLO_AUTOINSTALL when it is first imported. Before that
import this module sets YOLO_AUTOINSTALL=false always (a worker must never `pip install` at run time: a missing
requirement becomes an error, not a download) and YOLO_OFFLINE=1 when the project runs offline (no DNS probe, no
asset or analytics requests), unless the environment already says otherwise."""
from __future__ import annotations

import logging
import os
from collections import OrderedDict

import numpy as np

from scenestream.agents.base import Agent
from scenestream.agents.detector.backends import hold_threads, openvino_export, quiet_ultralytics
from scenestream.agents.detector.settings import TRACKERS, DetectorSettings
from scenestream.agents.errors import ConfigError
from scenestream.agents.images import open_image
from scenestream.agents.models import offline, pick_device, resolve_model
from scenestream.schemas import Detections, FrameBatch, PixelFrame, TrackObservation
from scenestream.agents.errors import one_line

__all__ = ["DetectorAgent", "DetectorSettings"]
log = logging.getLogger("scenestream.detector")


def _quiet_offline_ultralytics() -> None:
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    if offline():
        os.environ.setdefault("YOLO_OFFLINE", "1")


class DetectorAgent(Agent):
    name = "detector"
    accepts_pixels = True  # in one process, takes PixelFrames (decoded pictures) as well as JPEG frames

    def __init__(self, settings: DetectorSettings | None = None):
        self.settings = settings or DetectorSettings.from_options({})
        self.model_id = self.settings.model
        self.model = None
        self.trackers: OrderedDict[str, object] = OrderedDict()

    @classmethod
    def from_options(cls, options: dict) -> "DetectorAgent":
        return cls(DetectorSettings.from_options(options))

    def setup(self) -> None:
        _quiet_offline_ultralytics()
        from ultralytics import YOLO
        from ultralytics.trackers.track import TRACKER_MAP
        from ultralytics.utils import YAML, IterableSimpleNamespace
        from ultralytics.utils.checks import check_yaml

        s = self.settings
        self.device = pick_device(s.device)
        spec = s.model
        if spec.startswith("pack:") or not spec.endswith((".pt", ".yaml", ".yml", ".onnx")):
            spec = resolve_model(spec).location  # a pack name or a local directory
        try:
            self.model = YOLO(spec)
        except Exception as exc:  # a missing file, or a download that cannot happen (no network)
            raise ConfigError(f"cannot load detector model {s.model!r} ({one_line(exc)}); without a network use "
                              "the offline pack: -o detector.model=person-yolov8") from None
        self.names = self.model.names
        try:
            cfg = IterableSimpleNamespace(**YAML.load(check_yaml(s.tracker)))
        except Exception as exc:
            raise ConfigError(f"cannot read tracker config {s.tracker!r} ({one_line(exc)})") from None
        if cfg.tracker_type not in TRACKERS or getattr(cfg, "with_reid", False):
            raise ConfigError(f"detector tracker must be bytetrack or botsort without ReID (ReID needs ultralytics' "
                              f"predictor hooks), not {cfg.tracker_type!r}")
        self.tracker_class, self.tracker_cfg = TRACKER_MAP[cfg.tracker_type], cfg
        self.backend, self.openvino_dir = "torch", None
        if s.backend == "openvino" or (s.backend == "auto" and not self.device.startswith("cuda")):
            self._use_openvino(YOLO)
        if self.backend == "torch":
            hold_threads(self.model, s.threads)
            self._predict([np.zeros((64, 64, 3), np.uint8)])  # set up ultralytics' predictor now, not on a video
        self.model_id = s.model

    def _use_openvino(self, YOLO) -> None:
        """Swap the torch model for the cached OpenVINO export of its checkpoint; on any failure keep torch and
        say so in one line (a worker must still start)."""
        s = self.settings
        checkpoint = getattr(self.model, "ckpt_path", None)
        if not checkpoint or not str(checkpoint).endswith(".pt"):
            if s.backend == "openvino":
                log.warning("detector: model %s is not a .pt checkpoint, nothing to export to OpenVINO; using torch",
                            s.model)
            return
        torch_model, torch_device = self.model, self.device
        try:
            folder = openvino_export(checkpoint, s.imgsz)
            with quiet_ultralytics():
                self.model = YOLO(str(folder), task=torch_model.task)
            self.device = "cpu"
            hold_threads(self.model, s.threads, folder, s.precision)
            self._predict([np.zeros((64, 64, 3), np.uint8)])  # loads and compiles the OpenVINO model
        except Exception as exc:
            self.model, self.device = torch_model, torch_device
            log.warning("detector: OpenVINO export or load of %s failed (%s); using torch", s.model, one_line(exc))
            return
        self.backend, self.openvino_dir = "openvino", folder

    def close(self) -> None:
        self.model = None
        self.trackers.clear()

    def _predict(self, images: list[np.ndarray]):
        s = self.settings
        half = {"quantize": "fp16"} if s.half and self.device.startswith("cuda") else {}
        with quiet_ultralytics():  # a predictor's set-up logs the OpenVINO model's load and compile at INFO
            return self.model.predict(images, imgsz=s.imgsz, conf=s.conf, iou=s.iou, classes=s.classes,
                                      agnostic_nms=s.agnostic_nms, device=self.device, verbose=False, **half)

    def _tracker(self, video_id: str):
        tracker = self.trackers.get(video_id)
        if tracker is None:
            tracker = self.trackers[video_id] = self.tracker_class(self.tracker_cfg)
            while len(self.trackers) > self.settings.max_videos:
                self.trackers.popitem(last=False)
        self.trackers.move_to_end(video_id)
        return tracker

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
        if not batch.frames:
            return []
        # all of them first: a bad one fails the batch
        images = [f.pixels if isinstance(f, PixelFrame) else _decode(f.jpeg, f.time) for f in batch.frames]
        results = self._predict(images)  # one batched forward pass for the batch's frames
        tracker, label_map = self._tracker(batch.video_id), self.settings.label_map
        observations = []
        for frame, result in zip(batch.frames, results):  # in time order: the tracker's state moves frame by frame
            h, w = result.orig_shape
            for x1, y1, x2, y2, track_id, score, cls, _ in tracker.update(result.boxes.cpu().numpy(), result.orig_img):
                label = self.names[int(cls)]
                box = np.clip([x1 / w, y1 / h, x2 / w, y2 / h], 0.0, 1.0)  # the track's box may leave the frame
                observations.append(TrackObservation(int(track_id), label_map.get(label, label),
                                                     round(float(score), 4), [round(float(v), 4) for v in box],
                                                     frame.time))
        return observations


def _decode(jpeg: bytes, time: float) -> np.ndarray:
    """A JPEG as the BGR array ultralytics takes; a bad one raises with the frame's time in the message."""
    try:
        with open_image(jpeg) as im:
            return np.ascontiguousarray(np.asarray(im.convert("RGB"))[:, :, ::-1])
    except Exception as exc:
        raise ValueError(f"frame at {time:.2f} s is not a readable image ({one_line(exc)})") from None
