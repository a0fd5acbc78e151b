"""The scene index (SQLite FTS5 + sqlite-vec, offline MiniLM): idempotent by scene key, hybrid search over real runs
of the test media, and the index/search commands."""
import orjson
import pytest

from scenestream.streams.cli.main import main
from scenestream.streams.outputs.index import SceneIndex, fts_query
from tests.outputs.conftest import records
from tests.outputs.corpus import QUERIES, SEGMENTS

TABLES = ("scenes", "scenes_fts", "passages", "passage_vec")


def dump(db_path) -> dict:
    """Every row of every table (vectors as bytes): what "unchanged" means."""
    with SceneIndex(db_path) as ix:
        out = {}
        for t in TABLES:
            cols = "rowid, *" if t != "passage_vec" else "rowid, embedding"
            out[t] = ix.db.execute(f"SELECT {cols} FROM {t} ORDER BY rowid").fetchall()
        return out


@pytest.fixture(scope="module")
def corpus_db(corpus_run, bikes_run, synth_run, tmp_path_factory):
    db = tmp_path_factory.mktemp("index") / "scenes.db"
    assert main(["index", str(corpus_run), str(bikes_run), str(synth_run / "captions.jsonl"), "--db", str(db),
                 "-q"]) == 0
    return db


@pytest.mark.slow
def test_indexing_the_same_captions_twice_changes_nothing(corpus_db, corpus_run, bikes_run, synth_run):
    n = len(records(corpus_run)) + len(records(bikes_run)) + len(records(synth_run))
    before = dump(corpus_db)
    assert len(before["scenes"]) == len(before["scenes_fts"]) == n
    assert len(before["passages"]) == len(before["passage_vec"]) >= n - 4  # scenes with nothing to say have none
    with SceneIndex(corpus_db) as ix:
        assert ix.add_many(records(corpus_run)) == 0
    assert main(["index", str(corpus_run), str(bikes_run), str(synth_run), "--db", str(corpus_db), "-q"]) == 0
    assert dump(corpus_db) == before


@pytest.mark.slow
def test_a_changed_record_replaces_its_scene(corpus_run, tmp_path):
    recs = records(corpus_run)
    db = tmp_path / "s.db"
    with SceneIndex(db) as ix:
        assert ix.add_many(recs) == len(recs)
        counts = ix.counts()
        changed = dict(recs[0], caption="A lighthouse keeper polishes a brass lamp.")
        assert ix.add(changed) and not ix.add(changed)
        assert ix.counts() == counts  # replaced, not added
        assert ix.record(changed["video_id"], 0)["caption"] == changed["caption"]
        hit = ix.search("lighthouse lamp", 1)[0]
        assert (hit["video_id"], hit["index"], hit["fts_rank"]) == ("corpus", 0, 1)


@pytest.mark.slow
def test_search_finds_the_right_scene_first_for_queries_in_other_words(corpus_db, capsys):
    with SceneIndex(corpus_db) as ix:
        right = []
        for query, scene in QUERIES:
            hits = ix.search(query, 5)
            top = hits[0]
            ok = (top["video_id"], top["index"]) == ("corpus", scene)
            right.append(ok)
            print(f"{'ok ' if ok else 'NO '} {query!r} -> {top['video_id']}:{top['index']} "
                  f"(want {SEGMENTS[scene].name}) {top['snippet']!r}")
            assert set(top) >= {"video_id", "index", "start", "end", "score", "snippet"}
            assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    print(capsys.readouterr().out)
    assert sum(right) >= 8, f"{sum(right)} of {len(QUERIES)} right first"


@pytest.mark.slow
def test_search_cli_json_and_table(corpus_db, capsys):
    query, scene = QUERIES[-1]
    assert main(["search", query, "--db", str(corpus_db), "--k", "3", "--json"]) == 0
    hits = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(hits) == 3
    for h in hits:
        assert set(h) >= {"video_id", "index", "start", "end", "score"}
    assert main(["search", query, "--db", str(corpus_db), "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "corpus" in out and "score" in out


def test_search_of_a_missing_index_is_one_line(tmp_path, capsys):
    assert main(["search", "anything", "--db", str(tmp_path / "none.db")]) == 1
    assert "scenestream index" in capsys.readouterr().err


def test_fts_query_is_safe_for_any_text():
    assert fts_query('the "mayor" said: NEAR(x) AND -zed*') == '"mayor" OR "near" OR "x" OR "zed"'
    assert fts_query("the") == '"the"' and fts_query("?!") is None


def test_v1_records_and_a_query_of_punctuation(tmp_path):
    v1 = {"video_id": "old", "index": 0, "start": 0.0, "end": 4.0, "caption": "A dog runs on a beach.",
          "transcript": {"text": "Fetch the ball, good boy!", "language": "en", "words": []},
          "audio_events": [{"label": "Bark", "score": 0.8, "start": 0.5, "end": 1.5}], "objects": {"dog": 1},
          "schema_version": 1}
    with SceneIndex(tmp_path / "v1.db") as ix:
        assert ix.add(v1)
        assert ix.search("barking", 3)[0]["index"] == 0  # porter stemming: barking ~ Bark
        hits = ix.search('"*)(', 3)  # FTS5 syntax characters only: no word query, the vectors still answer
        assert [(h["index"], h["fts_rank"]) for h in hits] == [(0, None)]
        assert ix.search("   ", 3) == []


def test_a_reader_opened_before_the_first_vectors_sees_them(tmp_path):
    db = tmp_path / "shared.db"
    reader = SceneIndex(db)  # e.g. the live page, opened on a new index
    assert reader.search("dog", 3) == []
    rec = {"video_id": "v", "index": 0, "start": 0.0, "end": 2.0, "caption": "A puppy plays in the garden.",
           "transcript": {"text": "", "language": "", "words": []}, "audio_events": [], "objects": {}}
    with SceneIndex(db) as writer:  # e.g. `scenestream index --kafka` in another process
        writer.add(rec)
    hits = reader.search("young canine", 3)
    assert [(h["video_id"], h["vector_rank"]) for h in hits] == [("v", 1)]
    reader.close()
