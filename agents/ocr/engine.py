"""RapidOCR (PP-OCR detection + recognition as ONNX, on onnxruntime) behind one call: an image in, the lines read
in it out, with boxes normalised to the image. Which model files to load is decided here too."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenestream.agents.errors import ConfigError
from scenestream.agents.ocr.merge import Reading, join_fragments
from scenestream.agents.ocr.settings import OcrSettings

WHEEL_LANGUAGE = "ch"  # the wheel's recogniser: PP-OCRv4 "ch", Chinese and English


@dataclass(frozen=True)
class ModelFiles:
    det: Path
    rec: Path
    cls: Path | None = None
    keys: Path | None = None  # the recogniser's character list, when its ONNX metadata has none

    @property
    def model_id(self) -> str:
        """The recogniser names the model set: "rapidocr:ch_PP-OCRv4_rec" for the wheel's."""
        return "rapidocr:" + self.rec.stem.removesuffix("_infer")


def wheel_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the ocr agent needs rapidocr-onnxruntime: pip install rapidocr-onnxruntime==1.4.4")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _pick(folder: Path, kind: str, language: str, suffix: str = ".onnx", required: bool = True) -> Path | None:
    """The one `*{kind}*{suffix}` file of `folder`, narrowed to `LANG_*` names when `language` is set."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and kind in p.name.lower() and p.name.endswith(suffix))
    if language:
        own = [p for p in found if p.name.lower().startswith(language.lower() + "_")]
        found = own or ([] if kind == "rec" else found)  # det/cls models are shared across languages
    if len(found) == 1:
        return found[0]
    if not found:
        if required:
            what = f"{language}_*{kind}*{suffix}" if language else f"*{kind}*{suffix}"
            raise ConfigError(f"ocr model directory {folder} has no {what} file")
        return None
    raise ConfigError(f"ocr model directory {folder} has several {kind} files ({', '.join(p.name for p in found)}): "
                      "pick one with ocr.language=LANG (their LANG_ prefix) or keep one")


def model_files(model: str, language: str) -> ModelFiles:
    if not model:
        if language not in ("", WHEEL_LANGUAGE):
            raise ConfigError(f"the wheel's OCR models read Chinese and English (language {WHEEL_LANGUAGE!r}); for "
                              f"{language!r} give ocr.model=DIR with {language}_*rec*.onnx and its dictionary")
        folder = wheel_dir()
        return ModelFiles(_pick(folder, "det", ""), _pick(folder, "rec", ""), _pick(folder, "cls", "", required=False))
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"ocr model must be a directory of ONNX models, and {model!r} is not one")
    rec = _pick(folder, "rec", language)
    keys = None
    for kind in ("dict", "keys"):
        keys = keys or _pick(folder, kind, language, ".txt", required=False)
    return ModelFiles(_pick(folder, "det", language), rec, _pick(folder, "cls", language, required=False), keys)


class SpacedDecode:
    """CTC greedy decoding as RapidOCR's, plus the spaces its Chinese-trained recogniser leaves out: where the
    best guess between two characters is a blank but the space class scores at least `space_score` there, a space
    goes in (PP-OCR's character list always ends with the space the decoder appends)."""

    def __init__(self, character: list[str], space_score: float):
        self.character, self.space_score = character, space_score
        self.space = len(character) - 1

    def __call__(self, preds: np.ndarray, return_word_box: bool = False, **_) -> list[tuple[str, float]]:
        out = []
        for probs in preds:
            idx = probs.argmax(axis=1)
            keep = idx != 0  # 0 = the CTC blank
            keep[1:] &= idx[1:] != idx[:-1]
            text, scores, prev = [], [], None
            for col in np.flatnonzero(keep):
                char = self.character[idx[col]]
                if (self.space_score > 0 and prev is not None and char != " " and text[-1] != " "
                        and col - prev > 1 and probs[prev + 1:col, self.space].max() >= self.space_score):
                    text.append(" ")
                text.append(char)
                scores.append(float(probs[col, idx[col]]))
                prev = col
            out.append(("".join(text), float(np.mean(scores)) if scores else 0.0))
        return out


def clean(text: str) -> str:
    """NFKC folds the full-width Latin letters and punctuation the Chinese recogniser sometimes gives (`：`, `（`)
    into their ASCII forms, and leaves CJK characters alone; runs of spaces become one."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


class OcrEngine:
    def __init__(self, files: ModelFiles, settings: OcrSettings):
        from rapidocr_onnxruntime import RapidOCR

        s = self.settings = settings
        cls = files.cls or model_files("", "").cls  # RapidOCR always loads one; the wheel's is used when not given
        kwargs = dict(det_model_path=str(files.det), rec_model_path=str(files.rec), cls_model_path=str(cls),
                      intra_op_num_threads=s.threads, inter_op_num_threads=1,
                      det_limit_side_len=s.detect_side, det_limit_type="min",
                      text_score=0.0)  # filtered in `_readings`, after the spaces are put back
        if files.keys:
            kwargs["rec_keys_path"] = str(files.keys)
        try:
            self.ocr = RapidOCR(**kwargs)
        except Exception as exc:
            raise ConfigError(f"cannot load OCR models from {files.det.parent} "
                              f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
        rec = self.ocr.text_rec
        rec.postprocess_op = SpacedDecode(rec.postprocess_op.character, s.space_score)

    def session_threads(self) -> dict[str, int]:
        """The intra-op thread count each onnxruntime session really runs with (0 = onnxruntime's default)."""
        parts = {"det": self.ocr.text_det, "rec": self.ocr.text_rec, "cls": self.ocr.text_cls}
        return {k: p.infer.session.get_session_options().intra_op_num_threads if hasattr(p, "infer")
                else p.session.session.get_session_options().intra_op_num_threads for k, p in parts.items()}

    def detect(self, bgr: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Text boxes (quadrilaterals, in the image's pixels) and each box's crop, upright. These are RapidOCR's own
        steps of `RapidOCR.__call__` (1.4.4, pinned), run here so recognition can be skipped for unchanged lines."""
        ocr = self.ocr
        h, w = bgr.shape[:2]
        img, ratio_h, ratio_w = ocr.preprocess(bgr)
        op_record = {"preprocess": {"ratio_h": ratio_h, "ratio_w": ratio_w}}
        img, op_record = ocr.maybe_add_letterbox(img, op_record)
        boxes, _ = ocr.auto_text_det(img)
        if boxes is None or len(boxes) == 0:
            return np.zeros((0, 4, 2), np.float32), []
        crops = ocr.get_crop_img_list(img, boxes)
        if self.settings.classify:
            crops, _, _ = ocr.text_cls(crops)
        return ocr._get_origin_points(boxes, op_record, h, w), crops

    def read_frames(self, frames: list[tuple[np.ndarray, float]]) -> list[list[Reading]]:
        """The lines read in each (BGR image, time), filtered for noise, boxes normalised to [0, 1]. A box whose
        pixels are those of a box in the previous frame (a title standing still: the usual case) takes that box's
        reading instead of a second recognition pass, which is two thirds of the cost of a frame with text."""
        out, previous = [], []
        for bgr, time in frames:
            quads, crops = self.detect(bgr)
            found: list = [None] * len(crops)
            if self.settings.reuse:
                for i, crop in enumerate(crops):
                    found[i] = next((r for c, r in previous if same_pixels(c, crop)), None)
            todo = [i for i, f in enumerate(found) if f is None]
            if todo:
                texts, _ = self.ocr.text_rec([crops[i] for i in todo])
                for i, (text, score) in zip(todo, texts):
                    found[i] = (text, score)
            previous = list(zip(crops, found))
            out.append(self._readings(bgr.shape, quads, found, time))
        return out

    def _readings(self, shape, quads, texts, time: float) -> list[Reading]:
        s = self.settings
        h, w = shape[:2]
        found = []
        for quad, (text, score) in zip(quads, texts):
            pts = np.asarray(quad, dtype=np.float64)
            x1, y1 = pts.min(axis=0)
            x2, y2 = pts.max(axis=0)
            if score < s.text_score or y2 - y1 < s.min_text_height or not clean(text):
                continue
            box = [round(float(v), 4) for v in np.clip([x1 / w, y1 / h, x2 / w, y2 / h], 0.0, 1.0)]
            found.append(Reading(clean(text), round(float(score), 4), box, time))
        # fragments are joined before counting characters: "Chapter" + "3" is one line, a lone "3" is not
        return [r for r in join_fragments(found, w, h) if sum(c.isalnum() for c in r.text) >= s.min_chars]


def same_pixels(a: np.ndarray, b: np.ndarray, level: int = 64, share: float = 0.002) -> bool:
    """Two crops showing the same thing: same size (within a pixel), and at most `share` of their pixels differ
    by more than `level` grey levels. JPEG noise around glyph edges stays under that level; one changed digit in
    a line of a dozen characters changes a few percent of its pixels by far more."""
    if abs(a.shape[0] - b.shape[0]) > 1 or abs(a.shape[1] - b.shape[1]) > 1:
        return False
    import cv2

    ga, gb = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.cvtColor(b, cv2.COLOR_BGR2GRAY)
    if ga.shape != gb.shape:
        gb = cv2.resize(gb, (ga.shape[1], ga.shape[0]))
    return float(np.mean(cv2.absdiff(ga, gb) > level)) <= share
