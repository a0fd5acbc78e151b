"""The citation check of `ask` with an LLM (streams/video/ask.py), on literal answers: a model may cite only the
scenes it was given; any other citation is taken out of the text and counted. The real server's answers (random
words) are in tests/video/test_llm_paths.py; these strings make every case happen."""
from __future__ import annotations

import pytest

from scenestream.agents.errors import ConfigError
from scenestream.streams.video.ask import Asker, AskSettings, Source, check_question, clock, parse_citations


def sources(*keys: str) -> list[Source]:
    out = []
    for n, key in enumerate(keys, 1):
        vid, index = key.split(":")
        hit = {"video_id": vid, "index": int(index), "start": 8.0 * int(index), "end": 8.0 * int(index) + 8,
               "score": 1.0 / (60 + n)}
        out.append(Source(n, hit, {"video_id": vid, "index": int(index), "caption": f"scene {index}"}))
    return out


THREE = sources("talk:4", "talk:9", "news:0")


@pytest.mark.parametrize("text, want_text, cited, dropped", [
    ("The mayor opened a bridge [2].", "The mayor opened a bridge [2].", [2], 0),
    ("Rain tomorrow [1, 3] and wind [3].", "Rain tomorrow [1, 3] and wind [3].", [1, 3], 0),
    # a number that is no source: gone from the text, counted
    ("Rain [4]. Wind [2].", "Rain. Wind [2].", [2], 1),
    ("Rain [1, 7, 3; 12].", "Rain [1, 3].", [1, 3], 2),
    ("See [0] and [Source 2] and [#3].", "See and [2] and [3].", [2, 3], 1),
    # a scene named by its key: one retrieved becomes its number, one not retrieved is dropped
    ("It rains [news:0] at [talk:5].", "It rains [3] at.", [3], 1),
    ("As said [talk:9 and talk:4].", "As said [2, 1].", [2, 1], 0),
    # brackets that are not citations stay as the model wrote them
    ("[music] plays for [1 minute] [2]", "[music] plays for [1 minute] [2]", [2], 0),
    ("[unused686] 1900 bali [9, words]", "[unused686] 1900 bali [9, words]", [], 0),
    ("Nothing cited here.", "Nothing cited here.", [], 0),
    ("[5][6][7]", "", [], 3),
])
def test_citations_of_scenes_not_retrieved_are_dropped(text, want_text, cited, dropped):
    assert parse_citations(text, THREE) == (want_text, cited, dropped)


class Client:
    """A stand-in chat client answering one literal text (this test is of the filter, not of a server)."""

    def __init__(self, text: str):
        self.text, self.model = text, "stand-in"

    def complete(self, messages, max_tokens):
        from scenestream.agents.chat import Reply

        self.prompt = messages[0]["content"]
        return Reply(self.text, "stand-in@main")

    def close(self):
        pass


def test_generated_answer_cites_best_first_and_counts_what_it_dropped():
    client = Client("Wind [3], rain [1] and a bridge [talk:77] [4].")
    asker = Asker.__new__(Asker)  # no index: the sources are given
    asker.s, asker.client = AskSettings(), client
    answer = asker._generated("what happens?", THREE)
    assert answer.answer == "Wind [3], rain [1] and a bridge."
    assert [(c.video_id, c.index, c.n) for c in answer.citations] == [("talk", 4, 1), ("news", 0, 3)]
    assert (answer.dropped, answer.retrieved, answer.answered_by) == (2, 3, "stand-in@main")
    # the prompt numbers every source with its video and time
    for s in THREE:
        assert f"[{s.n}] {s.hit['video_id']} {clock(s.hit['start'])}-{clock(s.hit['end'])}" in client.prompt


def test_clock_and_question_bounds():
    assert [clock(x) for x in (0, 8.9, 64, 3723.5)] == ["0:00", "0:08", "1:04", "1:02:03"]
    assert check_question("  what\n is  said? ") == "what is said?"
    with pytest.raises(ConfigError, match="empty"):
        check_question(" \n ")
    with pytest.raises(ConfigError, match="longer than 1000"):
        check_question("x" * 1001)
    with pytest.raises(ConfigError, match="--top"):
        AskSettings(top=0).checked()
    with pytest.raises(ConfigError, match="--llm-endpoint"):
        AskSettings(llm_model="m").checked()
    with pytest.raises(ConfigError, match="/v1"):
        AskSettings(llm_endpoint="http://127.0.0.1:9/").checked()
