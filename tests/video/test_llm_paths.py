"""The LLM paths of the video as a whole, against a real OpenAI-compatible server: `transformers serve` on a loopback
port (tests/model_server.py) preloading a tiny random Llama built here. Random weights write random words, so what
is checked is the shape of what comes back, who wrote it and how many requests the map-reduce made; never the words.

- `ask` with the LLM: the answer, its citations (only scenes that were retrieved: the model's own brackets are
  checked, whatever it wrote), answered_by, retrieved, dropped. Dropping itself is made to happen on literal answers
  in test_ask_citations.py.
- chapter titles written by the LLM (Titler with the chapters' client): non-empty, titled_by = the model; a
  repeated one gives way to the keyphrases.
- the summary's map-reduce over 40 chapters with fan_in 6: the reduce rounds are those the carrying scheme makes."""
from __future__ import annotations

import re

import orjson
import pytest
import torch

from scenestream.schemas import Chapter
from scenestream.streams.cli.main import main
from scenestream.streams.outputs.index import SceneIndex
from scenestream.streams.video.ask import Asker, AskSettings
from scenestream.streams.video.chapters import KEYPHRASES, Embedder, Titler
from scenestream.streams.video.settings import ChapterSettings
from scenestream.streams.video.summary import Summarizer
from tests.model_server import ModelServer
from tests.models import tiny_text, tokenizer

# A plain chat template (role markers around each message), for string contents and text parts alike.
CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
        "{% else %}{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
        "{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

# Scenes of two videos, as records: what each says, shows and sounds like.
SCENES = [
    ("talk", 0, "Welcome everyone, today we cook a tomato sauce from fresh tomatoes.", "", "speech"),
    ("talk", 1, "First chop the onions and the garlic very finely.", "", "speech"),
    ("talk", 2, "Let the sauce simmer for twenty minutes and stir it often.", "", "speech"),
    ("talk", 3, "", "WEATHER FORECAST / Heavy rain and strong winds tomorrow", ""),
    ("talk", 4, "", "", "telephone, ringtone"),
    ("news", 0, "The mayor opened the new river bridge this morning.", "CITY HALL", "speech"),
    ("news", 1, "Traffic will cross the bridge from Monday.", "", "speech"),
]


def record(vid: str, index: int, said: str, screen: str, sounds: str) -> dict:
    return {"video_id": vid, "index": index, "start": 8.0 * index, "end": 8.0 * index + 8.0,
            "caption": f"A 8.0-second scene. Speech: \"{said}\"" if said else "A 8.0-second scene.",
            "captioner": "offline:test", "transcript": {"text": said, "words": []},
            "text": [{"text": t} for t in screen.split(" / ") if t],
            "audio_events": [{"label": s.strip()} for s in sounds.split(",") if s.strip()]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from transformers import LlamaForCausalLM

    d = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(3)
    tok = tokenizer()
    LlamaForCausalLM(tiny_text(tok)).save_pretrained(d)
    tok.chat_template = CHAT
    tok.save_pretrained(d)
    with ModelServer(d, tmp_path_factory.mktemp("serve-log")) as s:
        yield s


def by_model(name: str, server: ModelServer) -> bool:
    """The server names the model it answered with as the folder, with a revision (`DIR@main`)."""
    return name.split("@")[0] == server.model


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("llm-index") / "scenes.db"
    with SceneIndex(path) as index:
        assert index.add_many(record(*s) for s in SCENES) == len(SCENES)
    return path


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ask_with_the_llm_cites_only_retrieved_scenes(server, db, capsys):
    question = "how long does the sauce simmer?"
    assert main(["ask", question, "--db", str(db), "--json", "--top", "3", "--llm-endpoint", server.base,
                 "--llm-model", server.model]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert set(out) == {"question", "answer", "citations", "answered_by", "retrieved", "dropped"}
    assert out["question"] == question and isinstance(out["answer"], str) and out["answer"]
    assert by_model(out["answered_by"], server) and out["retrieved"] == 3
    assert isinstance(out["dropped"], int) and out["dropped"] >= 0

    with SceneIndex(db) as index:
        retrieved = [(h["video_id"], h["index"]) for h in index.search(question, 3)]
        asker = Asker(index, AskSettings(top=3, llm_endpoint=server.base, llm_model=server.model))
        answer = asker.ask(question)
        asker.close()
    for c in out["citations"] + [vars(c) for c in answer.citations]:
        assert (c["video_id"], c["index"]) in retrieved and 1 <= c["n"] <= 3
    # Whatever the model wrote, no bracketed number left in the text names a scene it was not given.
    for text in (out["answer"], answer.answer):
        for m in re.finditer(r"\[(\d+)\]", text):
            assert 1 <= int(m.group(1)) <= 3, text
    assert by_model(answer.answered_by, server) and answer.retrieved == 3

    # one video: the prompt's sources, and so the citations, are that video's only
    assert main(["ask", question, "--db", str(db), "--json", "--video", "news", "--llm-endpoint", server.base,
                 "--llm-model", server.model]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["retrieved"] == 2 and {c["video_id"] for c in out["citations"]} <= {"news"}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_chapter_titles_written_by_the_llm(server):
    settings = ChapterSettings.of({"llm_endpoint": server.base, "llm_model": server.model})
    client = settings.client()
    embedder = Embedder(settings.model)
    texts = [" ".join(s[2] or s[3] for s in SCENES[a:b]) for a, b in ((0, 3), (3, 5), (5, 7))]
    try:
        for n, text in enumerate(texts):
            title, by = Titler(embedder, settings, client).title(text, n)
            assert title.strip() and len(title.split()) <= settings.title_words
            assert by_model(by, server), (title, by)
        # The same part again (greedy decoding: the same answer): a title like the last one is not used twice,
        # the keyphrases stand in.
        titler = Titler(embedder, settings, client)
        first, again = titler.title(texts[0], 0), titler.title(texts[0], 1)
    finally:
        client.close()
    assert by_model(first[1], server) and again[1] == KEYPHRASES and again[0].lower() != first[0].lower()


def reduce_rounds(chapters: int, fan_in: int) -> int:
    """The reduce requests of summary.py's scheme, counted by hand: partials carry up a level every fan_in (a
    counter in base fan_in), then the partials left are reduced fan_in at a time until one is left."""
    levels, rounds = [0], 0
    for _ in range(chapters):
        levels[0] += 1
        level = 0
        while levels[level] == fan_in:
            levels[level] = 0
            rounds += 1
            if level + 1 == len(levels):
                levels.append(0)
            levels[level + 1] += 1
            level += 1
    left = sum(levels)
    while left > fan_in:
        groups = -(-left // fan_in)
        rounds, left = rounds + groups, groups
    return rounds + (1 if left > 1 else 0)


def test_reduce_rounds_by_hand():
    # 40 chapters, fan_in 6: level 0 reduces at chapters 6, 12, ..., 36 (6 rounds), level 1 then holds 6 (1 round);
    # left at the end: 4 partials of level 0 and 1 of level 2, 5 <= 6, one last round: 8.
    assert reduce_rounds(40, 6) == 8
    assert [reduce_rounds(n, 6) for n in (1, 5, 6, 7, 36)] == [0, 1, 1, 2, 7]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_summary_map_reduce_rounds_follow_fan_in(server):
    settings = ChapterSettings.of({"llm_endpoint": server.base, "llm_model": server.model, "fan_in": "6"})
    client = settings.client()
    summarizer = Summarizer("long", settings, Embedder(settings.model), client)
    try:
        for i in range(40):  # a long video: forty chapters, each a few sentences of its own
            said = " ".join(f"{SCENES[(i + j) % len(SCENES)][2] or 'Nothing is said here at all.'}" for j in range(3))
            summarizer.take(Chapter("long", i, 60.0 * i, 60.0 * (i + 1), title=f"Part {i}", scenes=[i, i]),
                            f"Part {i} of the talk. {said}")
        summary = summarizer.finish()
    finally:
        client.close()
    assert not summarizer.failed
    assert (summary.video_id, summary.chapters, summary.duration) == ("long", 40, 2400.0)
    assert by_model(summary.method, server) and summary.summary.strip()
    assert summary.rounds == reduce_rounds(40, 6) == 8
