"""The OCR agent on title cards drawn at test time with ffmpeg `drawtext` and Debian's DejaVu fonts
(tests/agents/title_cards.py), cut into scenes and keyframed by the real ingest agent, read with the real PP-OCRv4
models of the rapidocr-onnxruntime wheel. Plus the decoding, joining and merging steps on hand-made inputs."""
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scenestream.agents.captioner.offline import compose_offline_caption
from scenestream.agents.errors import ConfigError
from scenestream.agents.ingest import IngestAgent
from scenestream.agents.ocr import OcrAgent, OcrSettings
from scenestream.agents.ocr.engine import SpacedDecode, model_files, same_pixels, wheel_dir
from scenestream.agents.ocr.merge import Reading, join_fragments, levenshtein, merge_readings, similarity
from scenestream.schemas import Keyframe, Scene, SceneText, VideoRequest
from tests.agents.title_cards import CARDS, have_tools, make_video


def ingest(path: Path, **options) -> list[Scene]:
    return [r for r in IngestAgent().process(VideoRequest("cards", str(path), options)) if isinstance(r, Scene)]


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    missing = have_tools()
    assert missing is None, missing  # `make sysdeps` installs both
    return make_video(tmp_path_factory.mktemp("cards"))


@pytest.fixture(scope="module")
def scenes(video) -> list[Scene]:
    found = ingest(video)
    assert len(found) == len(CARDS), [s.start for s in found]  # every card is its own scene
    return found


@pytest.fixture(scope="module")
def agent() -> OcrAgent:
    a = OcrAgent.from_options({})
    a.setup()
    yield a
    a.close()


@pytest.fixture(scope="module")
def read(agent, scenes) -> list[SceneText]:
    return [r for s in scenes for r in agent.process(s)]


def test_the_cards_are_what_the_brief_asks_for():
    lines = [line for card in CARDS for line in card.lines]
    assert len({line.text for line in lines}) >= 20
    assert len({line.size for line in lines}) >= 5
    assert any(c.busy and c.lines for c in CARDS) and any(not c.busy and c.lines for c in CARDS)
    assert sum(not c.lines for c in CARDS) == 2  # one plain and one busy scene without text


@pytest.mark.slow
def test_title_cards_are_read_with_a_character_error_rate_under_5_percent_each_in_its_scene(read, scenes):
    errors = chars = 0
    for out, scene, card in zip(read, scenes, CARDS):
        assert (out.video_id, out.index, out.start, out.end) == (scene.video_id, scene.index, scene.start, scene.end)
        assert out.error is None and out.model == "rapidocr:ch_PP-OCRv4_rec"
        got = " ".join(line.text for line in out.lines)
        errors += levenshtein(card.truth(), got)
        chars += len(card.truth())
        for ref in card.lines:  # each line is found in its own scene, not elsewhere
            assert max((similarity(ref.text, line.text) for line in out.lines), default=0) >= 0.8, (ref.text, got)
    assert chars > 400
    assert errors / chars <= 0.05, (errors, chars)
    assert [r.last for r in read] == [False] * (len(read) - 1) + [True]


@pytest.mark.slow
def test_scenes_without_text_give_an_empty_list(read):
    blank = [out for out, card in zip(read, CARDS) if not card.lines]
    assert len(blank) == 2
    assert all(out.lines == [] and out.error is None for out in blank)


@pytest.mark.slow
def test_lines_have_score_box_and_times_merged_over_the_keyframes(read, scenes):
    for out, scene, card in zip(read, scenes, CARDS):
        first, middle = (k.time for k in scene.keyframes)
        for line in out.lines:
            assert 0.6 <= line.score <= 1.0
            x1, y1, x2, y2 = line.box
            assert 0.0 <= x1 < x2 <= 1.0 and 0.0 <= y1 < y2 <= 1.0
            ref = max(card.lines, key=lambda r: similarity(r.text, line.text))
            # drawtext's y is the top of the text's line box: the box read starts near it (in 360 px units)
            assert abs(y1 * 360 - ref.y) <= 0.5 * ref.size, (line, ref)
            if ref.appears:  # drawn from 0.4 s on: only in the middle keyframe
                assert (line.frames, line.start, line.end) == (1, middle, middle)
            else:  # on screen the whole scene: read in both keyframes, one line
                assert (line.frames, line.start, line.end) == (2, first, middle), line
        ys = [line.box[1] for line in out.lines if line.start == first]
        assert ys == sorted(ys)  # reading order


@pytest.mark.slow
def test_a_corrupt_keyframe_costs_only_its_scene(agent, scenes, read):
    broken = replace(scenes[1], keyframes=[scenes[1].keyframes[0], Keyframe(scenes[1].keyframes[1].time,
                                                                           b"\xff\xd8\xff\xe0 not a jpeg", 597, 336)])
    outs = [agent.process(s)[0] for s in (scenes[0], broken, scenes[2])]
    assert outs[1].lines == [] and outs[1].index == 1
    assert outs[1].error.startswith("ValueError: keyframe at ") and "not a readable image" in outs[1].error
    assert "\n" not in outs[1].error
    assert outs[0] == read[0] and outs[2] == read[2]  # the scenes around it are read as before


@pytest.mark.slow
def test_more_keyframes_from_ingest_are_all_read(video, agent):
    scenes = ingest(video, keyframes=4)
    assert len(scenes) == len(CARDS) and all(len(s.keyframes) == 4 for s in scenes)
    i = next(i for i, c in enumerate(CARDS) if any(line.appears for line in c.lines))
    times = [k.time for k in scenes[i].keyframes]
    (out,) = agent.process(scenes[i])
    late = [line for line in out.lines if "Open" in line.text]
    assert len(late) == 1 and late[0].text == "Open 9am to 5pm"
    shown = [t for t in times if t - scenes[i].start >= 0.4]  # keyframes at 0, 0.5, 1.0, 1.5 s into the scene
    assert (late[0].frames, late[0].start, late[0].end) == (len(shown), shown[0], shown[-1])
    assert all(line.frames == 4 for line in out.lines if line is not late[0])


def test_a_scene_without_keyframes_gives_an_empty_list(agent):
    (out,) = agent.process(Scene("v", 3, 1.0, 2.0, [], last=True))
    assert out.lines == [] and out.error is None and out.last and out.index == 3


def test_the_thread_setting_reaches_every_onnxruntime_session():
    for threads in (1, 2):
        a = OcrAgent.from_options({"threads": threads})
        a.setup()
        assert a.engine.session_threads() == {"det": threads, "rec": threads, "cls": threads}
    assert OcrSettings.from_options({"threads": 512}).threads == os.cpu_count()  # RapidOCR would ignore more


@pytest.mark.slow
def test_a_model_directory_reads_like_the_wheel(tmp_path, scenes, read):
    for f in wheel_dir().iterdir():
        (tmp_path / f.name).symlink_to(f)
    a = OcrAgent.from_options({"model": str(tmp_path), "language": "ch"})
    a.setup()
    assert a.files.det.parent == tmp_path and a.model_id == "rapidocr:ch_PP-OCRv4_rec"
    assert a.process(scenes[0])[0].lines == read[0].lines


# ------------------------------------------------------------------------------------------ settings, models
def test_options_are_checked():
    assert OcrSettings.from_options({"text_score": "0.8", "classify": "false"}).classify is False
    with pytest.raises(ConfigError, match="text_score"):
        OcrSettings.from_options({"text_score": "1.5"})
    with pytest.raises(ConfigError, match="unknown option ocr.treshold"):
        OcrSettings.from_options({"treshold": "0.5"})
    with pytest.raises(ConfigError, match="detect_side"):
        OcrSettings.from_options({"detect_side": "8"})


def test_model_files_by_language(tmp_path):
    with pytest.raises(ConfigError, match="Chinese and English"):
        model_files("", "japan")
    assert model_files("", "").rec.name == "ch_PP-OCRv4_rec_infer.onnx"
    for name in ("ch_PP-OCRv4_det_infer.onnx", "en_PP-OCRv4_rec_infer.onnx", "japan_PP-OCRv4_rec_infer.onnx",
                 "en_dict.txt", "japan_dict.txt", "ch_ppocr_mobile_v2.0_cls_infer.onnx"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ConfigError, match="several rec files"):
        model_files(str(tmp_path), "")
    en = model_files(str(tmp_path), "en")
    assert (en.det.name, en.rec.name, en.keys.name) == ("ch_PP-OCRv4_det_infer.onnx", "en_PP-OCRv4_rec_infer.onnx",
                                                        "en_dict.txt")
    assert en.cls.name.startswith("ch_ppocr_mobile") and en.model_id == "rapidocr:en_PP-OCRv4_rec"
    with pytest.raises(ConfigError, match="no korean_"):
        model_files(str(tmp_path), "korean")
    with pytest.raises(ConfigError, match="not one"):
        model_files(str(tmp_path / "missing"), "")


# ------------------------------------------------------------------------------------ decoding, joining, merging
def probs(columns: list[dict[int, float]], classes: int = 5) -> np.ndarray:
    """One row of recogniser output: per column, the given class probabilities and the rest on the blank."""
    out = np.zeros((1, len(columns), classes), np.float32)
    for t, col in enumerate(columns):
        for k, v in col.items():
            out[0, t, k] = v
        out[0, t, 0] = 1.0 - sum(col.values())
    return out


def test_spaces_come_back_where_the_model_scored_one_between_words():
    chars = ["blank", "a", "b", "c", " "]  # PP-OCR's list: blank first, the space last
    row = probs([{1: 0.9}, {}, {1: 0.95}, {4: 0.004}, {2: 0.9}, {4: 0.3}, {}, {3: 0.8}, {3: 0.8}])
    assert SpacedDecode(chars, 0.015)(row) == [("aab c", pytest.approx((0.9 + 0.95 + 0.9 + 0.8) / 4))]
    assert SpacedDecode(chars, 0.0)(row)[0][0] == "aabc"  # off: the model's own greedy decoding
    assert SpacedDecode(chars, 0.015)(probs([{}, {}]))[0] == ("", 0.0)
    spaced = probs([{1: 0.9}, {4: 0.9}, {2: 0.9}])  # a space the model did emit is kept, not doubled
    assert SpacedDecode(chars, 0.015)(spaced)[0][0] == "a b"


def test_levenshtein_and_similarity():
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3 and levenshtein("abc", "abc") == 0
    assert similarity("Quarterly results", "quarterlyresults") == 1.0
    assert similarity("Chapter 3", "Chaptor 3") == pytest.approx(1 - 1 / 8)


def test_fragments_of_one_line_are_joined_left_to_right():
    parts = [Reading("Lima", 0.99, [0.62, 0.70, 0.70, 0.78], 1.0), Reading("Directed by Ana", 0.95,
             [0.30, 0.69, 0.60, 0.78], 1.0), Reading("Elsewhere", 0.9, [0.05, 0.10, 0.25, 0.18], 1.0),
             Reading("far right", 0.9, [0.85, 0.70, 0.98, 0.78], 1.0)]
    joined = join_fragments(parts, 600, 336)
    texts = sorted(r.text for r in joined)
    assert texts == ["Directed by Ana Lima", "Elsewhere", "far right"]
    line = next(r for r in joined if r.text.startswith("Directed"))
    assert line.box == [0.30, 0.69, 0.70, 0.78]
    assert line.score == pytest.approx((0.95 * 15 + 0.99 * 4) / 19, abs=1e-4)


def test_merging_across_frames():
    a = Reading("Breaking News", 0.97, [0.2, 0.1, 0.8, 0.2], 0.0)
    frames = [[a, Reading("Live", 0.9, [0.4, 0.8, 0.6, 0.9], 0.0)],
              [replace(a, text="Breaking Nevs", score=0.93, time=1.0),  # misread: still the same line
               replace(a, text="Breaking News", box=[0.2, 0.5, 0.8, 0.6], time=1.0)],  # same text elsewhere
              [replace(a, text="Breaking News", score=0.99, box=[0.21, 0.1, 0.81, 0.2], time=2.0)]]
    lines = merge_readings(frames, 0.8)
    assert [(t.text, t.frames, t.start, t.end) for t in lines] == [
        ("Breaking News", 3, 0.0, 2.0), ("Live", 1, 0.0, 0.0), ("Breaking News", 1, 1.0, 1.0)]
    assert lines[0].score == 0.99 and lines[0].box == [0.2, 0.1, 0.8, 0.2]  # best reading's text, first box
    # two readings in one frame never fold into one line
    twice = merge_readings([[a], [replace(a, time=1.0), replace(a, score=0.5, time=1.0)]], 0.8)
    assert [t.frames for t in twice] == [2, 1]


def test_same_pixels():
    import cv2

    def card(text: str, quality: int) -> np.ndarray:
        im = np.full((40, 260, 3), 200, np.uint8)
        cv2.putText(im, text, (6, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (20, 20, 20), 2, cv2.LINE_AA)
        return cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)

    assert same_pixels(card("Score 2 - 1", 85), card("Score 2 - 1", 70))  # JPEG noise only
    assert not same_pixels(card("Score 2 - 1", 85), card("Score 3 - 1", 85))  # one digit changed
    assert not same_pixels(card("Score 2 - 1", 85), card("Score 2 - 1", 85)[:, :200])  # another box


def test_offline_caption_mentions_text_on_screen():
    before = compose_offline_caption(["comic book"], {}, [], "hello", 2.0)
    assert compose_offline_caption(["comic book"], {}, [], "hello", 2.0, []) == before
    assert compose_offline_caption(["comic book"], {}, [], "hello", 2.0, ["Breaking  News", "Breaking News",
                                                                        "Live from Berlin"]) == (
        'A 2.0-second scene whose frames look like comic book. Text on screen: "Breaking News" and '
        '"Live from Berlin". Speech: "hello"')
