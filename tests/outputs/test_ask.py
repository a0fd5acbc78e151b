"""`scenestream ask` and serve's /api/ask on a real index: the search corpus (corpus.py, ten scenes of real speech,
sounds, a photo and title cards, run through every default agent) and the synthetic clip, indexed with the offline
MiniLM. Ten questions, written from what the corpus's records really hold (the transcripts as the speech model
heard them, the sound labels, the picture label "minibus" and "3 persons", the title cards as read), ask for one
scene each, most of them in other words than the scene's."""
from __future__ import annotations

import shutil

import orjson
import pytest
from fastapi.testclient import TestClient

from scenestream.agents.errors import ConfigError
from scenestream.streams.cli.main import main
from scenestream.streams.outputs.index import SceneIndex
from scenestream.streams.server.app import ServeSettings, create_app
from scenestream.streams.video.ask import Asker, open_index
from tests.model_server import free_port

QUESTIONS: tuple[tuple[str, int], ...] = (
    ("What was John Dashwood considering he might do for them?", 0),  # "... how much there might be prudently ..."
    ("Did the narrator think the young man meant harm?", 1),  # "He was not an ill-disposed young man."
    ("Is being cold and selfish the same as being ill-disposed?", 2),  # "Unless to be rather cold-hearted ..."
    ("How could a better wife have changed his reputation?", 3),  # "Had he married a more amiable woman ..."
    ("Which playing cards were called out?", 4),  # "Eight of spades, four of close, seven of hearts."
    ("When is a bus with people on the screen?", 5),  # the picture: "minibus", "3 persons"
    ("When does the alarm clock go off?", 6),  # sounds: alarm clock, beep, smoke detector
    ("When does the telephone ring?", 7),  # sounds: alarm, telephone
    ("What weather is expected tomorrow?", 8),  # "WEATHER FORECAST" / "Heavy rain and strong winds tomorrow"
    ("What did the mayor open at the press conference?", 9),  # "Mayor opens the new river bridge"
)


@pytest.fixture(scope="module")
def ask_db(corpus_run, synth_run, tmp_path_factory):
    db = tmp_path_factory.mktemp("ask-index") / "scenes.db"
    assert main(["index", str(corpus_run), str(synth_run), "--db", str(db), "-q"]) == 0
    return db


@pytest.mark.slow
def test_ask_cites_the_right_scene_first_for_most_questions(ask_db, capsys):
    right = []
    with open_index(ask_db) as index:
        asker = Asker(index)
        for question, scene in QUESTIONS:
            answer = asker.ask(question)
            first = answer.citations[0]
            right.append((first.video_id, first.index) == ("corpus", scene))
            print(f"{'ok ' if right[-1] else 'NO '} {scene} -> {[(c.video_id, c.index) for c in answer.citations]}"
                  f"  {question}")
            # the answer quotes each cited scene with its times, best first
            lines = answer.answer.splitlines()
            assert len(lines) == len(answer.citations) == min(3, answer.retrieved)
            for c, line in zip(answer.citations, lines):
                assert line.startswith(f"[{c.n}] {c.video_id} ") and f"(scene {c.index})" in line
            assert [c.score for c in answer.citations] == sorted((c.score for c in answer.citations), reverse=True)
    with capsys.disabled():
        print(f"\nask: {sum(right)} of {len(QUESTIONS)} questions cite the right scene first")
    assert sum(right) >= 8, f"{sum(right)} of {len(QUESTIONS)} right first"


@pytest.mark.slow
def test_ask_cli_json_text_and_one_video(ask_db, capsys):
    question, scene = QUESTIONS[8]
    assert main(["ask", question, "--db", str(ask_db), "--json", "--top", "4"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert set(out) == {"question", "answer", "citations", "answered_by", "retrieved", "dropped"}
    assert (out["question"], out["answered_by"], out["retrieved"], out["dropped"]) == (question, "retrieval", 4, 0)
    assert [set(c) for c in out["citations"]] == [{"video_id", "index", "start", "end", "score", "n"}] * 3
    first = out["citations"][0]
    assert (first["video_id"], first["index"], first["start"], first["end"]) == ("corpus", scene, 64.0, 72.0)
    assert "Heavy rain and strong winds tomorrow" in out["answer"].splitlines()[0]

    assert main(["ask", question, "--db", str(ask_db)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("[1] corpus 1:04-1:12 (scene 8): ")
    assert "3 of 5 scenes cited, quoted from the search" in captured.err

    # --video: only that video's scenes, even for a question about another's
    assert main(["ask", question, "--db", str(ask_db), "--json", "--video", "synth"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["citations"] and {c["video_id"] for c in out["citations"]} == {"synth"}


def test_ask_errors_are_one_line(ask_db, tmp_path, capsys):
    assert main(["ask", "anything", "--db", str(tmp_path / "none.db")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no index at" in err and "scenestream index" in err
    assert not (tmp_path / "none.db").exists()  # asking never makes an index

    SceneIndex(tmp_path / "empty.db").close()
    assert main(["ask", "anything", "--db", str(tmp_path / "empty.db")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no scenes" in err

    assert main(["ask", "anything", "--db", str(ask_db), "--video", "not-there"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no scenes of video not-there" in err

    assert main(["ask", "anything", "--db", str(ask_db), "--top", "0"]) == 1
    assert "--top must be" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="longer than"):
        with open_index(ask_db) as index:
            Asker(index).ask("why " * 300)

    # an endpoint nobody listens on (a free loopback port): one line naming it, after the client's retries
    down = f"http://127.0.0.1:{free_port()}/v1"
    assert main(["ask", "what is the weather?", "--db", str(ask_db), "--llm-endpoint", down, "--llm-model", "m"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"scenestream: ask: endpoint {down}: ") and "Connection" in err


@pytest.mark.slow
def test_serve_api_ask_answers_with_citations_and_refuses_bad_requests(ask_db, tmp_path):
    db = tmp_path / "scenes.db"
    shutil.copy(ask_db, db)  # the server's indexer opens (and writes) its own copy
    app = create_app(ServeSettings(db=db, out=tmp_path / "runs"))
    question, scene = QUESTIONS[9]
    with TestClient(app, base_url="http://127.0.0.1") as client:
        r = client.post("/api/ask", json={"question": question, "top": 3})
        assert r.status_code == 200, r.text
        out = r.json()
        assert (out["citations"][0]["video_id"], out["citations"][0]["index"]) == ("corpus", scene)
        assert out["retrieved"] == 3 and out["answered_by"] == "retrieval"
        # the quote is the title card line nearest the question, one of the two the scene shows
        quote = out["answer"].splitlines()[0]
        assert "CITY HALL PRESS CONFERENCE" in quote or "Mayor opens the new river bridge" in quote, quote

        r = client.post("/api/ask", json={"question": question, "video": "synth"})
        assert r.status_code == 200 and {c["video_id"] for c in r.json()["citations"]} == {"synth"}

        refusals = [
            (client.post("/api/ask", json={"question": "x" * 1001}), 422, "at most 1000 characters"),
            (client.post("/api/ask", content=b'{"question": "rain?"', headers={"Content-Type": "application/json"}),
             422, "JSON"),
            (client.post("/api/ask", content=b"question=rain", headers={"Content-Type": "text/plain"}), 415, "JSON"),
            (client.post("/api/ask", json={"question": "rain?", "top": 500}), 422, "top"),
            (client.post("/api/ask", json={"question": "rain?", "video": "../etc"}), 422, "video"),
            (client.post("/api/ask", json={"question": "rain?", "sql": "drop"}), 422, "sql"),
            (client.post("/api/ask", json={"question": " \n "}), 400, "empty"),
            (client.post("/api/ask", json={"question": "rain?", "video": "nope"}), 400, "no scenes of video nope"),
        ]
        for r, status, words in refusals:
            assert r.status_code == status, (r.status_code, r.text)
            detail = r.json()["detail"]
            assert words in detail and "\n" not in detail, detail

        page = client.get("/ask")
        assert page.status_code == 200 and 'id="ask"' in page.text and "/api/ask" in page.text
        nonce = page.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
        assert f'<script nonce="{nonce}">' in page.text


def test_serve_api_ask_needs_the_token(tmp_path):
    app = create_app(ServeSettings(db=tmp_path / "scenes.db", out=tmp_path / "runs", token="a-token-of-16-chars-or-more"))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        r = client.post("/api/ask", json={"question": "rain?"})
        assert r.status_code == 401
        r = client.post("/api/ask", json={"question": "rain?"},
                        headers={"Authorization": "Bearer a-token-of-16-chars-or-more"})
        assert r.status_code == 200 and r.json()["citations"] == []  # nothing indexed yet
