"""Chapters and the summary of a real run: `scenestream run` (every default agent, offline models) on the chaptered
test video (tests/video/chaptered.py: five segments of distinct footage and speech, hard-cut joins at known times).
The boundaries are scored against the joins (F1 within +-5 s), the titles and the run folder's chapter files are
read back (the WebVTT with pysubs2), the summary bounded; the stage itself is checked on the run's own records:
interleaved videos, a video that ends without its last scene, replays; `-o chapters.enabled=false` turns it off.
An hour of talk changing subject every 3 to 6 minutes (bench/bench_chapters.py's text) is cut where it changes:
the same defaults must serve 20-s segments and long chapters."""
from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pysubs2
import pytest

from scenestream.agents.errors import ConfigError
from scenestream.schemas import Chapter, VideoSummary
from scenestream.streams.video.chapters import Embedder
from scenestream.streams.video.settings import ChapterSettings
from scenestream.streams.video.stage import VideoWholes, key_of, topic_of
from tests import media
from tests.video.chaptered import SEGMENTS, chaptered_video

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = {"HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1", "SCENESTREAM_OFFLINE": "1"}
TOLERANCE = 5.0  # seconds: a boundary found this close to a join matches it


def run(source: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "streams", "run", str(source), "--out", str(out), "-q", *args],
                          capture_output=True, text=True, timeout=900, env=dict(os.environ, **OFFLINE), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def chaptered(tmp_path_factory):
    video, joins = chaptered_video()
    out = tmp_path_factory.mktemp("chaptered-run")
    run(video, out, "--video-id", "chaptered")
    return out, joins


def f1(found: list[float], truth: tuple[float, ...], tolerance: float = TOLERANCE) -> float:
    """Boundary F1: each true join matches at most one found boundary within `tolerance` (nearest first)."""
    pairs = sorted((abs(f - t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth) if abs(f - t) <= tolerance)
    used_f, used_t = set(), set()
    for _, i, j in pairs:
        if i not in used_f and j not in used_t:
            used_f.add(i), used_t.add(j)
    hits = len(used_f)
    if not hits:
        return 0.0
    precision, recall = hits / len(found), hits / len(truth)
    return 2 * precision * recall / (precision + recall)


def test_f1_scores_matches_one_to_one():
    assert f1([10.0, 20.0], (10.0, 20.0)) == 1.0
    assert f1([10.0, 11.0], (10.0, 20.0)) == pytest.approx(0.5)  # two near one join: one matches
    assert f1([], (10.0,)) == 0.0 and f1([30.0], (10.0,)) == 0.0


def records(out: Path) -> list[dict]:
    return [orjson.loads(line) for line in (out / "captions.jsonl").read_bytes().splitlines()]


@pytest.mark.slow
def test_chapter_boundaries_find_the_joins_and_titles_are_distinct(chaptered):
    out, joins = chaptered
    chapters = orjson.loads((out / "chapters.json").read_bytes())
    found = [c["start"] for c in chapters[1:]]
    score = f1(found, joins)
    print(f"joins {joins}, found {found}, F1 {score:.2f}")
    assert score >= 0.8, (found, joins)
    assert len(joins) == len(SEGMENTS) - 1

    # The chapters cover the video end to end, scene ranges too.
    recs = records(out)
    assert [c["index"] for c in chapters] == list(range(len(chapters)))
    assert chapters[0]["start"] == 0.0 and chapters[-1]["end"] == pytest.approx(recs[-1]["end"])
    assert [c["end"] for c in chapters[:-1]] == [c["start"] for c in chapters[1:]]
    assert chapters[0]["scenes"][0] == 0 and chapters[-1]["scenes"][-1] == recs[-1]["index"]
    assert [c["scenes"][0] for c in chapters[1:]] == [c["scenes"][-1] + 1 for c in chapters[:-1]]
    assert all(c["end"] - c["start"] >= 10.0 for c in chapters)  # the default chapters.min_seconds

    titles = [c["title"] for c in chapters]
    print("titles:", titles)
    assert all(t.strip() for t in titles) and len(set(t.lower() for t in titles)) == len(titles)


@pytest.mark.slow
def test_the_run_folder_has_the_chapter_files_and_a_bounded_summary(chaptered):
    out, _ = chaptered
    chapters = orjson.loads((out / "chapters.json").read_bytes())

    vtt = pysubs2.load(str(out / "chapters.vtt"))
    assert [e.plaintext for e in vtt] == [c["title"] for c in chapters]
    assert [(e.start, e.end) for e in vtt] == [(round(c["start"] * 1000), round(c["end"] * 1000)) for c in chapters]

    lines = (out / "chapters.txt").read_text().splitlines()
    assert lines[0] == f"00:00 {chapters[0]['title']}"  # video sites want the first at 00:00
    for line, c in zip(lines[1:], chapters[1:], strict=True):
        m = re.fullmatch(r"(\d\d):(\d\d) (.+)", line)
        assert m and int(m[1]) * 60 + int(m[2]) == int(c["start"]) and m[3] == c["title"], line

    summary = orjson.loads((out / "summary.json").read_bytes())
    words = summary["summary"].split()
    print("summary:", summary["summary"])
    assert 0 < len(words) <= 120 and summary["summary_method"] == "extractive"
    assert summary["chapters"] == len(chapters)
    # Extractive: its words are the video's own (what was said, written or shown), none made up.
    def words(text: str) -> set[str]:
        return set(re.findall(r"[a-z']+", text.lower()))

    said = set().union(*(words(r["caption"] + " " + (r.get("transcript") or {}).get("text", "") + " " +
                               " ".join(t["text"] for t in r.get("text") or [])) for r in records(out)))
    assert words(summary["summary"]) <= said, words(summary["summary"]) - said

    report = (out / "report.html").read_text()
    assert "Chapters" in report and chapters[1]["title"] in report


@pytest.mark.slow
def test_the_stage_keeps_interleaved_videos_apart_and_skips_replays(chaptered):
    """The stage on the run's own records: alone, interleaved with a copy under another id, and with each record
    given twice (a replay after a restart: the last one too, after the video ended) -> the same chapters; a video
    that stops without its last record is
    closed by end() and leaves no state."""
    out, _ = chaptered
    recs = records(out)
    wholes = VideoWholes(ChapterSettings.of({}))

    alone = [w for r in recs for w in wholes.take(r)]
    assert not wholes.videos  # the last record dropped the video's state
    assert [topic_of(w) for w in alone] == ["chapters"] * (len(alone) - 1) + ["summaries"]
    assert key_of(alone[0]) == "chaptered:0" and key_of(alone[-1]) == "chaptered"

    def plain(ws, vid):
        return [(w.index, w.start, w.end, w.title, w.scenes) if isinstance(w, Chapter) else (w.summary, w.chapters)
                for w in ws if w.video_id == vid]

    # A replay of the video's end after it ended makes nothing; the video again from its first scene is a new run.
    assert [w for r in recs[-3:] for w in wholes.take(r)] == [] and not wholes.videos
    assert plain([w for r in recs for w in wholes.take(r)], "chaptered") == plain(alone, "chaptered")

    wholes = VideoWholes(ChapterSettings.of({}), embedder=wholes.embedder)
    copy = [{**r, "video_id": "other"} for r in recs]
    feed = [r for pair in zip(recs, copy) for r in pair for _ in range(2)]
    mixed = [w for r in feed for w in wholes.take(r)]
    assert plain(mixed, "chaptered") == plain(alone, "chaptered") == plain(mixed, "other")

    wholes = VideoWholes(ChapterSettings.of({}), embedder=wholes.embedder)
    cut = [w for r in recs[: len(recs) // 2] for w in wholes.take({**r, "last": False})]
    assert "chaptered" in wholes.videos
    rest = wholes.end("chaptered")
    assert not wholes.videos and isinstance(rest[-1], VideoSummary) and rest[-1].chapters == len(cut) + len(rest) - 1
    assert rest[-2].last and rest[-2].end == recs[len(recs) // 2 - 1]["end"]


class RememberingEmbedder(Embedder):
    """MiniLM, each distinct scene text embedded once: the hour of talk repeats its sentences."""

    @functools.lru_cache(maxsize=None)
    def scene(self, text: str):
        return super().scene(text)


@pytest.mark.slow
def test_an_hour_of_talk_is_cut_where_the_subject_changes():
    from bench.bench_chapters import records as talk, switches

    truth = switches(60)
    assert 8 <= len(truth) <= 20  # a subject for 3 to 6 minutes
    wholes = VideoWholes(ChapterSettings.of({}), embedder=RememberingEmbedder())
    made = [w for r in talk(60) for w in wholes.take(r)]
    chapters = [w for w in made if isinstance(w, Chapter)]
    score = f1([c.start for c in chapters[1:]], truth)
    print(f"an hour of talk: {len(truth) + 1} subjects, {len(chapters)} chapters, F1 {score:.2f}")
    assert score >= 0.8
    titles = [c.title for c in chapters]
    assert all(t.strip() for t in titles) and len(set(t.lower() for t in titles)) == len(titles)
    summary = made[-1]
    assert isinstance(summary, VideoSummary) and 0 < len(summary.summary.split()) <= 120


@pytest.mark.slow
def test_chapters_off_writes_none(tmp_path):
    run(media.bikes(), tmp_path, "--agents", "captioner", "-o", "chapters.enabled=false")
    assert not list(tmp_path.glob("chapters.*"))
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert "summary" not in summary and "chapters" not in summary
    assert len(records(tmp_path)) == 6


def test_bad_chapter_settings_are_one_line_errors():
    for bad in ({"window": "0"}, {"fan_in": "1"}, {"depth": "3"}, {"llm_endpoint": "ftp://x"}, {"windw": "3"}):
        with pytest.raises(ConfigError):
            ChapterSettings.of(bad)
    proc = subprocess.run([sys.executable, "-m", "streams", "run", str(media.bikes()), "-q", "-o",
                           "chapters.fan_in=1"], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **OFFLINE), cwd=ROOT)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1 and "fan_in" in proc.stderr


@pytest.mark.slow
def test_a_video_taken_over_mid_way_goes_on_numbering_from_the_progress(chaptered):
    """What the Kafka joiner does when a video's partition moves: the new owner's stage resumes from the progress
    the old one left in the table, so chapter numbers go on (no key sent twice) and the open chapter keeps its
    start; the chapters still cover the video end to end and the summary counts them all."""
    out, _ = chaptered
    recs = records(out)
    old = VideoWholes(ChapterSettings.of({}))
    half = len(recs) // 2
    before = [w for r in recs[:half] for w in old.take(r)]
    progress = orjson.loads(orjson.dumps(old.progress("chaptered")))  # through the table's JSON
    assert progress["count"] == len(before) and progress["last_index"] == recs[half - 1]["index"]

    new = VideoWholes(ChapterSettings.of({}), embedder=old.embedder)
    new.resume("chaptered", progress)
    after = [w for r in recs[half - 2:] for w in new.take(r)]  # the last two again: a replay, skipped
    chapters = [w for w in before + after if isinstance(w, Chapter)]
    assert [c.index for c in chapters] == list(range(len(chapters)))
    assert chapters[0].start == 0.0 and [c.end for c in chapters[:-1]] == [c.start for c in chapters[1:]]
    assert [c.scenes[0] for c in chapters[1:]] == [c.scenes[-1] + 1 for c in chapters[:-1]]
    assert chapters[-1].last and chapters[-1].scenes[-1] == recs[-1]["index"]
    assert isinstance(after[-1], VideoSummary) and after[-1].chapters == len(chapters)

    # The video comes back to the old worker after the new one moved it on: the old state is stale, dropped.
    old.resume("chaptered", {**progress, "last_index": recs[-3]["index"], "count": len(chapters) - 1})
    assert old.videos["chaptered"].maker.count == len(chapters) - 1 and not old.videos["chaptered"].maker.recent
