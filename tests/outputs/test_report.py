"""report.html: made by a real `scenestream run` of bikes.mp4, opened in headless Chromium, its DOM checked for the
six scenes (ground truth: cuts at 1.20, 3.04, 5.48, 7.48, 9.68 s) with pictures of the right frames; rebuilt by
`scenestream report`; untrusted text escaped; older records (no on-screen text) still shown."""
from __future__ import annotations

import shutil

import orjson
import pytest
from PIL import Image

from scenestream.streams.cli.main import main
from scenestream.streams.outputs.report import write_report
from tests.media import bikes
from tests.outputs.browser import dump_dom, parse, screenshot
from tests.outputs.pictures import check_picture, frames_160

CUTS = [0.0, 1.2, 3.04, 5.48, 7.48, 9.68, 10.0]


@pytest.fixture(scope="module")
def bikes_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bikes-run")
    assert main(["run", str(bikes()), "--out", str(out), "--quiet"]) == 0
    return out


def _records(folder):
    return [orjson.loads(line) for line in (folder / "captions.jsonl").read_bytes().splitlines() if line.strip()]


@pytest.mark.slow
def test_bikes_report_in_chromium(bikes_run, tmp_path):
    report = bikes_run / "report.html"
    assert report.is_file(), "scenestream run writes report.html beside captions.jsonl"
    records = _records(bikes_run)
    summary = orjson.loads((bikes_run / "summary.json").read_bytes())

    dom = parse(dump_dom(report.as_uri()))
    shot = screenshot(report.as_uri(), tmp_path / "bikes-report.png")
    with Image.open(shot) as png:
        assert png.size == (1200, 1600)
        assert len(set(png.convert("L").getdata())) > 50  # pictures and text, not a blank page

    # Self-contained: no script, no stylesheet link, nothing fetched from anywhere.
    assert not dom.find_all("script") and not dom.find_all("link")
    for el in dom.find_all():
        for attr in ("src", "href"):
            value = el.attrs.get(attr, "")
            assert not value or value.startswith(("data:", "#")), f"<{el.tag} {attr}={value[:60]}>"

    [section] = dom.find_all("section", "video")
    assert section.attrs["data-video-id"] == records[0]["video_id"]
    scenes = section.find_all("li", "scene")
    assert [int(s.attrs["data-index"]) for s in scenes] == list(range(6))
    assert [round(float(s.attrs["data-start"]), 2) for s in scenes] == CUTS[:-1]
    assert [round(float(s.attrs["data-end"]), 2) for s in scenes] == CUTS[1:]
    assert len(section.find_all("a", "seg")) == 6  # the timeline

    frames = frames_160(bikes())
    for scene, rec in zip(scenes, records):
        assert rec["caption"] in scene.all_text()
        [img] = scene.find_all("img", "thumb")
        check_picture(img.attrs["src"], rec, frames)
        for label in rec["objects"]:
            assert label in scene.all_text()

    # Stage timings from summary.json: one row per stage, busy seconds as written there.
    rows = {tr.find_all("td")[0].all_text(): tr for tr in section.find_all("table", "timings")[0].find_all("tr")
            if tr.find_all("td")}
    for stage in summary["agents"]:
        assert stage in rows
        assert rows[stage].find_all("td")[2].all_text() == f"{summary['busy_seconds'].get(stage, 0.0):.2f}"


@pytest.mark.slow
def test_report_command_rebuilds_without_the_video(bikes_run, tmp_path, capsys):
    folder = tmp_path / "moved"
    folder.mkdir()
    shutil.copy(bikes_run / "captions.jsonl", folder)
    summary = orjson.loads((bikes_run / "summary.json").read_bytes())
    summary["uri"] = str(tmp_path / "gone.mp4")  # the video moved away since the run
    (folder / "summary.json").write_bytes(orjson.dumps(summary))

    assert main(["report", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "no thumbnails" in err and len(err.strip().splitlines()) == 1
    dom = parse((folder / "report.html").read_text())
    scenes = dom.find_all("li", "scene")
    assert len(scenes) == 6
    assert not dom.find_all("img") and len(dom.find_all("div", "none")) == 6


def _rec(index, start, end, **extra):
    return {"video_id": "v", "index": index, "start": start, "end": end, "caption": f"scene {index}",
            "transcript": {"text": "", "language": "", "words": []}, "audio_events": [], "objects": {},
            "keyframe_times": [start], "timings": {}, "missing": {}, **extra}


def test_report_escapes_orders_and_reads_older_records(tmp_path):
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    lines = [
        _rec(1, 2.0, 4.0, caption="first version"),
        _rec(0, 0.0, 2.0, caption=hostile, transcript={"text": '"><b>said</b> & done', "language": "en",
                                                        "words": []},
             audio_events=[{"label": "Music", "score": 0.5, "start": 0, "end": 2},
                           {"label": "Music", "score": 0.9, "start": 1, "end": 2}],
             objects={"person": 2, "car": 1}),
        b"not json",
        _rec(1, 2.0, 4.0, caption="replayed version",  # a replay repeats the key: the last line wins
             text=[{"text": "EXIT <now>", "score": 0.9, "box": [0, 0, 1, 1], "start": 2.0, "end": 3.0}],
             schema_version=2),
    ]
    (tmp_path / "captions.jsonl").write_bytes(b"\n".join(x if isinstance(x, bytes) else orjson.dumps(x)
                                                         for x in lines) + b"\n")
    path = write_report(tmp_path)  # no summary.json: no video to decode, no timings
    html = path.read_text()
    assert "<script" not in html and "onerror=" not in html.replace("onerror=&#34;", "")
    dom = parse(html)
    assert not dom.find_all("script") and not dom.find_all("img")
    scenes = dom.find_all("li", "scene")
    assert [s.attrs["data-index"] for s in scenes] == ["0", "1"]
    first, second = (s.all_text() for s in scenes)
    assert hostile in first and '"><b>said</b> & done' in first  # shown as text, not markup
    assert "Music 0.90" in " ".join(first.split()) and "person ×2" in first
    assert "replayed version" in second and "first version" not in second
    assert "EXIT <now>" in second and "on screen" in second and "on screen" not in first
    assert not dom.find_all("table")  # no summary.json, no timings
