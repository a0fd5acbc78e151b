"""Speakers in the outputs people read: the bulk document's `speaker_labels`, the report's speakers line, the
index's transcript with each change of voice marked (so a search finds who said it), and a v2 record without any."""
from __future__ import annotations

import orjson

from scenestream.streams.outputs import bulk
from scenestream.streams.outputs.index import SceneIndex, fields_of
from scenestream.streams.outputs.report import write_report
from tests.outputs.browser import parse


def record(index=0, **extra):
    words = [{"word": " Hello", "start": 0.5, "end": 0.9, "speaker": "S1"},
             {"word": " there.", "start": 1.0, "end": 1.4, "speaker": "S1"},
             {"word": " General", "start": 2.0, "end": 2.5, "speaker": "S2"},
             {"word": " Kenobi.", "start": 2.6, "end": 3.2, "speaker": "S2"}]
    rec = {"video_id": "v", "index": index, "start": 0.0, "end": 4.0, "last": True, "caption": "two people talk",
           "transcript": {"text": "Hello there. General Kenobi.", "language": "en", "words": words},
           "speakers": [{"speaker": "S1", "start": 0.4, "end": 1.5}, {"speaker": "S2", "start": 1.9, "end": 3.3}],
           "schema_version": 3}
    return {**rec, **extra}


def test_bulk_documents_carry_speaker_labels():
    assert bulk.document(record())["speaker_labels"] == ["S1", "S2"]
    assert bulk.document(record(speakers=[]))["speaker_labels"] == []
    v2 = {k: v for k, v in record().items() if k != "speakers"}
    assert bulk.document(v2)["speaker_labels"] == []


def test_the_index_marks_each_change_of_voice_and_finds_it(tmp_path):
    assert fields_of(record())["transcript"] == "S1: Hello there. S2: General Kenobi."
    db = SceneIndex(tmp_path / "i.db")
    try:
        db.add(record())
        [hit] = db.search("S2 General Kenobi", k=1)
        assert "S2" in hit["snippet"], hit
    finally:
        db.close()


def test_the_report_shows_who_spoke(tmp_path):
    (tmp_path / "captions.jsonl").write_bytes(orjson.dumps(record()) + b"\n")
    html = write_report(tmp_path).read_text()
    [p] = [e for e in parse(html).find_all("p", "speakers")]
    text = p.all_text()
    assert "S1" in text and "S2" in text
