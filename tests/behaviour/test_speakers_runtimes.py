"""The speakers agent through both runtimes (`scenestream run`, and Kafka `worker` + `submit` + `tail` on the real
broker), on a video of real voices (tests/media `speakers_clip`: three shots of 40 s over a conversation of three
of the Asterisk voices). Every scene says who spoke when, every word who said it, the labels agree between the
runtimes, and the subtitles carry WebVTT voice tags that pysubs2 and Chromium's `<track>` both read."""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pysubs2
import pytest

from tests import media
from tests.kafka.kafkatools import WorkerProcess, scenestream
from tests.outputs.browser import dump_dom, parse

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = {"HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1", "SCENESTREAM_OFFLINE": "1"}
AGENTS = "asr,speakers"


@pytest.fixture(scope="module")
def clip():
    return media.speakers_clip()


@pytest.fixture(scope="module")
def embedded(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("speakers-run")
    proc = subprocess.run([sys.executable, "-m", "streams", "run", str(clip[0]), "--out", str(out), "-q", "--agents",
                           AGENTS, "--video-id", "talk"], capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, **OFFLINE), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, [orjson.loads(x) for x in (out / "captions.jsonl").read_bytes().splitlines()]


def check_speakers(records: list[dict], truth) -> None:
    assert [r["index"] for r in records] == [0, 1, 2]
    labels = set()
    for r in records:
        assert "speakers" not in r["missing"], r["missing"]
        assert r["speakers"] and all(r["start"] <= t["start"] < t["end"] <= r["end"] for t in r["speakers"])
        words = r["transcript"]["words"]
        assert words and all(w["speaker"] for w in words)
        labels |= {t["speaker"] for t in r["speakers"]}
    assert labels == {f"S{i}" for i in range(1, len({w for w, _, _ in truth}) + 1)}


@pytest.mark.slow
def test_run_labels_every_scene_and_word(embedded, clip):
    check_speakers(embedded[1], clip[1])


@pytest.mark.slow
@pytest.mark.kafka
def test_kafka_gives_the_same_speakers(embedded, clip, broker, tmp_path):
    prefix = f"scenestream-test-speakers-{os.getpid()}."
    with WorkerProcess(broker, prefix, f"ingest,{AGENTS},joiner", tmp_path, "-o", f"joiner.sources={AGENTS}"):
        sub = scenestream(broker, prefix, "submit", str(clip[0]), "--video-id", "talk-kafka")
        assert sub.returncode == 0, sub.stderr
        tail = scenestream(broker, prefix, "tail", "--video-id", "talk-kafka", "--until-done", "--timeout", "600",
                           timeout=660)
    assert tail.returncode == 0, tail.stderr[-2000:]
    records = [orjson.loads(x) for x in tail.stdout.splitlines() if x.strip()]
    check_speakers(records, clip[1])
    # The same audio, the same models: the same turns in both runtimes.
    assert [r["speakers"] for r in records] == [r["speakers"] for r in embedded[1]]


def vtt_cues(text: str) -> list[tuple[float, str]]:
    """(start, payload) of each cue of a WebVTT file, tags kept (pysubs2 strips them when it reads)."""
    out = []
    for block in text.split("\n\n"):
        lines = [x for x in block.splitlines() if x.strip()]
        times = [i for i, x in enumerate(lines) if "-->" in x]
        if times:
            h, m, sec = lines[times[0]].split("-->")[0].strip().split(":")
            out.append((int(h) * 3600 + int(m) * 60 + float(sec), "\n".join(lines[times[0] + 1:])))
    return out


@pytest.mark.slow
def test_subtitles_mark_who_speaks(embedded):
    out, records = embedded
    raw = vtt_cues((out / "captions.vtt").read_text())
    vtt = pysubs2.load(str(out / "captions.vtt"))  # they parse, tags and all
    srt = pysubs2.load(str(out / "captions.srt"))
    assert len(vtt) == len(raw) == len(srt)
    speech = [(t, p) for t, p in raw if p.startswith("<v S")]
    assert speech and all(not p.startswith("[") for _, p in speech)
    words = [w for r in records for w in r["transcript"]["words"]]
    voices = []
    for (start, payload), event in zip(raw, vtt):
        if not payload.startswith("<v "):
            continue
        voice = payload[3:payload.index(">")]
        inside = {w["speaker"] for w in words if event.start / 1000 - 0.01 <= w["start"] and w["end"] <= event.end / 1000 + 0.01}
        assert inside == {voice}, (payload, inside)  # a cue's voice is the speaker of every word in it
        voices.append(voice)
    # SRT has no voice tags: the speaker's label opens the first cue after each change.
    marked = [e.plaintext.split(":", 1)[0] for e in srt if e.plaintext[:1] == "S" and ":" in e.plaintext[:4]]
    changes = [v for i, v in enumerate(voices) if i == 0 or voices[i - 1] != v]
    assert marked == changes


@pytest.mark.slow
def test_chromium_reads_the_voice_tags_of_the_vtt(embedded, clip, tmp_path):
    out, _ = embedded
    site = tmp_path / "site"
    site.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip[0]), "-t", "5", "-c:v", "libvpx", "-an",
                    str(site / "clip.webm")], check=True)
    (site / "captions.vtt").write_bytes((out / "captions.vtt").read_bytes())
    (site / "index.html").write_text("""<!doctype html><meta charset="utf-8"><body>
<video id="v" src="clip.webm" muted preload="auto"><track id="t" kind="subtitles" src="captions.vtt" default></video>
<pre id="out">waiting</pre>
<script>
const track = document.getElementById("t");
function show() {
  const cues = [...track.track.cues];
  document.getElementById("out").textContent = JSON.stringify(cues.slice(0, 40).map(c => ({
    start: c.startTime, voice: (c.getCueAsHTML().querySelector("span[title]") || {}).title || null})));
}
track.addEventListener("load", show);
track.track.mode = "hidden";
</script>""")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dom = dump_dom(f"http://127.0.0.1:{server.server_address[1]}/index.html", budget_ms=10_000)
    finally:
        server.shutdown()
        server.server_close()
    [pre] = [e for e in parse(dom).find_all("pre") if e.attrs.get("id") == "out"]
    cues = orjson.loads(pre.text)
    assert cues and all(c["voice"] and c["voice"].startswith("S") for c in cues), cues[:5]
