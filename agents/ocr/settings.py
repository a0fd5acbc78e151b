"""Settings of the OCR agent (on-screen text). Every field can come from `from_options` (`-o ocr.KEY=VALUE` on the
command line, or a request's options); unknown keys and bad values are a ConfigError at start-up."""
from __future__ import annotations

import os
from dataclasses import dataclass

from scenestream.agents.errors import ConfigError
from scenestream.agents.options import convert


@dataclass
class OcrSettings:
    """Text lines read in each scene's keyframes, merged over the frames that show them.

    The agent reads the keyframes ingest puts in every Scene (2 a scene by default, short side 336 px): to read more
    frames of each scene, ask ingest for more keyframes (`-o ingest.keyframes=4`); the agent reads them all.

    `model`: empty = the PP-OCRv4 models inside the rapidocr-onnxruntime wheel (detection, Chinese + English
    recognition, direction classifier; offline). Or a directory holding a RapidOCR / PP-OCR model set as ONNX: one
    `*det*.onnx`, one `*rec*.onnx` (or several told apart by `language`), an optional `*cls*.onnx`, and the
    recogniser's character list as a `*dict*.txt` / `*keys*.txt` unless the rec model carries it in its metadata.
    `language`: picks the files whose names start with `LANG_` in that directory (PaddleOCR names them so:
    `en_PP-OCRv4_rec_infer.onnx`, `en_dict.txt`, `japan_...`); the wheel's models are `ch`.

    `text_score` 0.6 comes from bench/bench_ocr.py (RESULTS.md): with no threshold, the 23 true lines of the test
    title cards (DejaVu text of 18 to 48 px drawn on plain colours, noise, fractals, colour bars, cellular automata
    and a test pattern, read at 336 px) scored 0.94 to 1.0, while the strongest readings of the same backgrounds
    without text and of street footage scored 0.32 and less (single CJK characters read into texture). 0.6 leaves
    room both ways: blurred or compressed real text scores lower than crisp cards. `min_text_height` 8 px: a box
    that short holds glyphs of about 5 px, a guard against specks rather than a tuned value. `min_chars` 2: a lone
    letter or digit is the most common false reading of texture; set 1 to keep single characters (scoreboards).

    `detect_side` 336: the detector's input short side (smaller frames are scaled up to it, larger ones are read as
    they are). The library's default (736) scales a 336 px keyframe up 2.2x: on the title cards that cost 4.4 times
    the CPU per keyframe (1434 against 328 ms) and read slightly worse (words split into separate boxes), so
    keyframes are read at their own size. `space_score` 0.015: the wheel's recogniser was trained mostly on
    Chinese and often puts a blank, not a space, between Latin words ("Quarterlyresults2024"); its second choice
    there is a space. On the title cards the space class scored at most 0.008 between two letters of one word and
    at least 0.019 (mostly 0.1 to 0.99) between words, so a space goes in where it reaches 0.015 (0 = the model's
    own decoding).

    `merge_similarity` 0.8: readings in two frames of a scene are one line when their boxes overlap (IoU >= 0.3)
    and their texts, compared without case and spaces, have a normalised edit distance of at most 0.2: a title read
    as "Chapter 3" once and "Chaptor 3" once is one line. `classify`: run the 180-degree direction classifier
    (off: burnt-in video text is upright, and it costs a model pass per line). `threads`: onnxruntime intra-op
    threads of each model (capped at the machine's cores: RapidOCR ignores more). `reuse`: a box whose pixels are
    those of a box in the scene's previous keyframe (a title standing still) takes that box's reading instead of a
    second recognition pass (recognition is most of the cost of a frame with text)."""

    model: str = ""
    language: str = ""
    text_score: float = 0.6  # a line is kept when the recogniser's mean character score reaches this
    min_text_height: int = 8  # pixels, in the frame as read
    min_chars: int = 2  # letters or digits a line needs to be kept
    detect_side: int = 336  # the detector's input short side
    space_score: float = 0.015  # a space goes between two characters where the model's space score reaches this
    merge_similarity: float = 0.8  # 1 - normalised edit distance for two readings to be one line
    classify: bool = False  # 180-degree direction classifier
    reuse: bool = True  # a line whose pixels did not change since the previous frame is not recognised again
    threads: int = 2  # onnxruntime intra-op threads (these machines have 2 cores)

    @classmethod
    def from_options(cls, options: dict | None) -> "OcrSettings":
        return convert(cls, options, "ocr").resolved()

    def resolved(self) -> "OcrSettings":
        for key in ("text_score", "space_score", "merge_similarity"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"ocr {key} must be within [0, 1], not {getattr(self, key)}")
        for key in ("min_chars", "threads"):
            if getattr(self, key) < 1:
                raise ConfigError(f"ocr {key} must be at least 1")
        if self.min_text_height < 0:
            raise ConfigError(f"ocr min_text_height must not be negative, not {self.min_text_height}")
        if not 32 <= self.detect_side <= 4096:
            raise ConfigError(f"ocr detect_side must be within [32, 4096] pixels, not {self.detect_side}")
        # onnxruntime (through RapidOCR) silently falls back to its own default for more threads than cores
        self.threads = min(self.threads, os.cpu_count() or 1)
        return self
