"""Elasticsearch/OpenSearch _bulk export: keyed by scene, a faithful copy of the records, the same file twice."""
import orjson
import pytest

from scenestream.streams.cli.main import main
from scenestream.streams.outputs import bulk
from tests.outputs.conftest import records


@pytest.mark.slow
def test_bulk_round_trip_of_a_real_run(corpus_run, synth_run, tmp_path):
    src = tmp_path / "two.jsonl"
    src.write_bytes((corpus_run / "captions.jsonl").read_bytes() + (synth_run / "captions.jsonl").read_bytes())
    out = tmp_path / "scenes.ndjson"
    assert main(["export", str(src), "--format", "bulk", "--out", str(out)]) == 0
    recs = records(corpus_run) + records(synth_run)
    lines = out.read_bytes().splitlines()
    assert len(lines) == 2 * len(recs) and out.read_bytes().endswith(b"\n")  # _bulk wants a final newline
    pairs = list(bulk.read_bulk(lines))
    ids = [a["index"]["_id"] for a, _ in pairs]
    assert ids == [f"{r['video_id']}:{r['index']}" for r in recs] and len(set(ids)) == len(ids)
    assert all(a == {"index": {"_index": bulk.DEFAULT_INDEX, "_id": i}} for (a, _), i in zip(pairs, ids))
    for (_, doc), rec in zip(pairs, recs):
        assert {k: v for k, v in doc.items() if k not in bulk.DERIVED} == rec  # the record, unchanged
        assert doc["sounds"] == sorted({e["label"] for e in rec["audio_events"]})
        assert doc["object_labels"] == sorted(rec["objects"])
    # Re-exporting gives the same ids: loading it again upserts (index action) instead of adding documents.
    again = tmp_path / "again.ndjson"
    assert main(["export", str(src), "--format", "bulk", "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_bulk_without_index_name_and_of_a_v1_record(tmp_path, capsys):
    v1 = {"video_id": "old", "index": 3, "start": 1.0, "end": 2.0, "caption": "a dog",
          "transcript": {"text": "", "language": "", "words": []}, "audio_events": [], "objects": {"dog": 1},
          "schema_version": 1}
    src = tmp_path / "captions.jsonl"
    src.write_bytes(orjson.dumps(v1) + b"\n" + b"not json\n")
    assert main(["export", str(tmp_path), "--format", "bulk", "--index-name", ""]) == 0
    captured = capsys.readouterr()
    action, doc = next(bulk.read_bulk(captured.out.encode().splitlines()))
    assert action == {"index": {"_id": "old:3"}}
    assert doc["on_screen_text"] == "" and doc["object_labels"] == ["dog"] and doc["caption"] == "a dog"
    assert "captions.jsonl:2: not JSON, skipped" in captured.err  # a bad line is one line, not the end
