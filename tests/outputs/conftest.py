"""Real runs of `scenestream run` (every default agent, offline models) on the test media, made once per session and
shared by the output tests: the synthetic clip, bikes.mp4 and the search corpus of corpus.py."""
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests import media
from tests.outputs.corpus import make_corpus


def run_scenestream(source: Path, out: Path, video_id: str) -> Path:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "streams", "run", str(source), "--out", str(out), "-q",
                           "--video-id", video_id], capture_output=True, text=True, timeout=900, env=env)
    if proc.returncode != 0:
        pytest.fail(f"scenestream run {source.name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return out


def records(run_dir: Path) -> list[dict]:
    return [orjson.loads(line) for line in (run_dir / "captions.jsonl").read_bytes().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def synth_run(tmp_path_factory) -> Path:
    return run_scenestream(media.synth_clip(), tmp_path_factory.mktemp("synth-run"), "synth")


@pytest.fixture(scope="session")
def bikes_run(tmp_path_factory) -> Path:
    return run_scenestream(media.bikes(), tmp_path_factory.mktemp("bikes-run"), "bikes")


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("corpus-run")
    return run_scenestream(make_corpus(work / "corpus.mp4"), work / "out", "corpus")
