"""`scenestream bench` on a short real clip: both files are written, the tables parse, and they say what the JSON
says."""
import os

import orjson
import pytest

from tests import media
from tests.streams.test_cli_run import scenestream


def tables(markdown: str) -> dict[str, list[dict[str, str]]]:
    """Each `## section`'s first table, as rows of {column: cell}."""
    out = {}
    for section in markdown.split("\n## ")[1:]:
        title, _, body = section.partition("\n")
        lines = body.strip().splitlines()
        start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
        if start is None:
            continue
        block = []
        for line in lines[start:]:
            if not line.startswith("|"):
                break
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        header, rule, *rows = block
        assert set("".join(rule)) == {"-"}, rule
        out[title.split(" (")[0]] = [dict(zip(header, row, strict=True)) for row in rows]
    return out


@pytest.mark.slow
def test_bench_a_short_clip_writes_tables_that_parse(tmp_path):
    clip = media.bigbuckbunny()  # 5.3 s, 1280x720, AAC 6 channels: video and audio
    proc = scenestream("bench", str(clip), "--repeat", "2", "--out", str(tmp_path), "-q", timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = orjson.loads((tmp_path / "bench.json").read_bytes())
    md = tables((tmp_path / "bench.md").read_text())
    assert report["machine"]["cores"] == len(os.sched_getaffinity(0))
    assert {"av", "scenedetect", "faster-whisper", "ultralytics"} <= set(report["versions"])

    (video,) = report["videos"]
    assert video["length"] == pytest.approx(5.31, abs=0.05) and video["scenes"] == 1
    s1 = video["stage1"]
    assert set(s1["busy_seconds"]) >= {"ingest", "asr", "tagger", "detector"}
    assert s1["wall_seconds"] > 0 and s1["cpu_seconds"] > 0
    # The detector's network ran with the threads it was given (ultralytics would reset torch to cores - 1).
    assert s1["detector"]["threads_used"] == s1["detector"]["threads_setting"]
    stages = video["direct"]["stages"]
    assert set(stages) == {"decode", "scenedetect", "detector", "asr", "tagger"}
    assert all(st["wall"] > 0 and st["cpu"] > 0 for st in stages.values())
    assert video["direct"]["frames"] == s1["counts"]["frames"] > 120  # both decoded every frame (5.31 s, 25 fps)
    assert video["direct"]["detector"]["backend"] == s1["detector"]["backend"]  # the limit uses the same backend
    e = video["efficiency"]
    assert e["limit_seconds"] == pytest.approx(sum(st["cpu"] for st in stages.values()) / e["cores"], abs=0.01)
    assert e["one_after_another_seconds"] == pytest.approx(sum(st["wall"] for st in stages.values()), abs=0.01)
    assert e["pipeline_over_limit"] == pytest.approx(s1["wall_seconds"] / e["limit_seconds"], rel=0.01)
    # Two runs in turn; the figures are those of the worse of the two (the median of an even number).
    assert len(video["runs"]) == 2 and e["pipeline_over_limit"] == max(r["pipeline_over_limit"] for r in video["runs"])

    (cap,) = report["captioners"]
    assert cap["captioner"].startswith("offline:") and cap["scenes"] == 1 and cap["caption_seconds"] > 0

    # The markdown says the same.
    (row,) = md["Captioning"]
    assert row["captioner"] == cap["captioner"] and int(row["scenes"]) == 1
    assert float(row["caption s"]) == pytest.approx(cap["caption_seconds"], abs=0.01)
    (row,) = md["Stage 1"]
    assert row["video"] == clip.name and float(row["wall s"]) == pytest.approx(s1["wall_seconds"], abs=0.01)
    for agent in ("ingest", "asr", "tagger", "detector"):
        assert float(row[f"{agent} s"]) == pytest.approx(s1["busy_seconds"][agent], abs=0.01)
    (row,) = md["Efficiency"]
    assert float(row["pipeline / limit"].strip("*")) == pytest.approx(e["pipeline_over_limit"], abs=0.001)
    assert float(row["one after another s"]) == pytest.approx(e["one_after_another_seconds"], abs=0.01)
    assert "2 runs, pipeline then direct in turn" in (tmp_path / "bench.md").read_text()


def test_bench_repeat_must_be_positive(tmp_path):
    proc = scenestream("bench", str(media.bikes()), "--repeat", "0", "--out", str(tmp_path))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "--repeat" in proc.stderr


def test_bench_missing_video_is_a_one_line_error(tmp_path):
    proc = scenestream("bench", str(tmp_path / "nope.mp4"), "--out", str(tmp_path))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "no such file" in proc.stderr
