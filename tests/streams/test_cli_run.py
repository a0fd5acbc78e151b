"""`scenestream run` end to end, as a user runs it: a subprocess, real media, the files it writes."""
import os
import subprocess
import sys

import orjson
import pytest

from scenestream.schemas import SceneCaption, loads
from tests import media


def scenestream(*args, timeout=600):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "streams", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def read_captions(out):
    return [loads(SceneCaption, line) for line in (out / "captions.jsonl").read_bytes().splitlines()]


def test_run_bikes_writes_six_scene_records_and_a_summary(tmp_path):
    proc = scenestream("run", str(media.bikes()), "--out", str(tmp_path), "--agents", "", "--video-id", "bikes")
    assert proc.returncode == 0, proc.stderr
    caps = read_captions(tmp_path)
    assert [c.index for c in caps] == list(range(6))
    assert all(c.video_id == "bikes" for c in caps)
    assert caps[-1].last and caps[1].start == pytest.approx(1.2, abs=0.041)
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert summary["status"] == "done" and summary["scenes"] == 6 and summary["duration"] == pytest.approx(10.0, abs=0.05)
    assert summary["wall_seconds"] > 0 and summary["real_time_factor"] > 0 and "ingest" in summary["busy_seconds"]
    assert "bikes.mp4" in proc.stdout and "wall" in proc.stdout  # the table


def test_run_video_only_marks_audio_missing(tmp_path):
    proc = scenestream("run", str(media.video_only()), "--out", str(tmp_path), "--agents", "", "-q")
    assert proc.returncode == 0, proc.stderr
    caps = read_captions(tmp_path)
    assert len(caps) == 4


@pytest.mark.slow
def test_bad_inputs_exit_1_with_one_line(tmp_path):
    for name, uri in media.bad_inputs(tmp_path / "bad").items():
        proc = scenestream("run", str(uri), "--out", str(tmp_path / "out"), "-q", "--agents", "")
        assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, (name, proc.stderr)
        assert lines[0].startswith("scenestream: ") and str(uri) in lines[0], (name, lines)
        assert "Traceback" not in proc.stderr


def test_unknown_agent_is_a_one_line_error(tmp_path):
    proc = scenestream("run", str(media.bikes()), "--out", str(tmp_path), "--agents", "telepathy")
    assert proc.returncode == 1 and "unknown agent 'telepathy'" in proc.stderr and "Traceback" not in proc.stderr


def test_help_explains_run():
    proc = scenestream("run", "--help")
    assert proc.returncode == 0 and "captions.jsonl" in proc.stdout and "--agents" in proc.stdout


@pytest.mark.slow
def test_run_synthetic_clip_with_the_stage1_agents_fills_every_field(tmp_path):
    proc = scenestream("run", str(media.synth_clip()), "--out", str(tmp_path), "-q",
                       "--agents", "asr,tagger,detector", "-o", "frame_rate=0.5")
    assert proc.returncode == 0, proc.stderr
    caps = read_captions(tmp_path)
    assert [(c.start, round(c.end)) for c in caps] == [(0.0, 15), (15.0, 30), (30.0, 45), (45.0, 60)]
    speech = caps[1]
    assert "quick brown fox" in speech.transcript.text.lower() and speech.transcript.language == "en"
    assert abs(speech.transcript.words[0].start - 20.0) <= 0.5
    assert all(c.transcript.text == "" for c in caps if c.index != 1)  # words land only in [15, 30)
    assert "Speech" in {e.label for e in speech.audio_events}
    for c in caps:
        # every Stage-1 field was filled, none waited forever; the agents not asked for say so
        assert c.missing == {"captioner": "not enabled", "ocr": "not enabled", "speakers": "not enabled"}
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert set(summary["busy_seconds"]) >= {"ingest", "asr", "tagger", "detector", "joiner"}


@pytest.mark.parametrize("option,named", [("asr.langauge=de", "asr.langauge"), ("ingest.keyframes=abc", "ingest.keyframes"),
                                          ("keyframes=abc", "ingest.keyframes"), ("detector.half=maybe", "detector.half"),
                                          ("telepathy.x=1", "telepathy")])
def test_a_bad_option_is_one_line_naming_the_key_before_anything_runs(tmp_path, option, named):
    proc = scenestream("run", str(media.bikes()), "--out", str(tmp_path / "o"), "-o", option)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()  # refused at start-up, nothing written
