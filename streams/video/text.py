"""What a scene says, as text for the chapter and summary vectors, and a bounded sample of a long text."""
from __future__ import annotations

import re

from scenestream.streams.outputs.index import fields_of

SENTENCE = re.compile(r"(?<=[.!?…])\s+")
SENTENCE_WORDS = 40  # a run-on transcript without punctuation is cut into pieces of this many words


# The offline captioner's sentence frame (agents/captioner/offline.py): "A 2.4-second scene whose frames look like
# X. Tracked: ... Sounds: ... Text on screen: ... Speech: "..."". Its fixed words would make every two silent scenes
# alike, and its quotes repeat the transcript and the screen text, which are taken from their own fields.
_FRAME = re.compile(r'^A [\d.]+-second scene( whose frames look like)?|\b(Tracked|Sounds|Text on screen): |'
                    r'Speech: ".*"$|\bspeech\b')
_QUOTED = re.compile(r'Text on screen: .*?\.(?= [A-Z]|$)|Speech: ".*"$')


def plain_caption(rec: dict) -> str:
    """The caption without the offline captioner's frame words (a model's caption is kept as it is)."""
    caption = str(rec.get("caption") or "")
    if not str(rec.get("captioner") or "").startswith("offline:"):
        return caption
    return " ".join(_FRAME.sub(" ", _QUOTED.sub(" ", caption)).split()).strip(" .")


def scene_text(rec: dict) -> str:
    """Speech, then on-screen text, then the caption: what the scene is about, in the order of how much it says."""
    f = fields_of(rec)
    return " ".join(p for p in (f["transcript"], f["screen_text"], plain_caption(rec)) if p.strip())


def sentences(text: str) -> list[str]:
    """The sentences of `text` (punctuation from the speech model), long ones cut into SENTENCE_WORDS pieces."""
    out = []
    for s in SENTENCE.split(text.strip()):
        words = s.split()
        for i in range(0, len(words), SENTENCE_WORDS):
            out.append(" ".join(words[i:i + SENTENCE_WORDS]))
    # Three words at least, two of them words (a burned-in timecode read by the OCR, "00:00:07.240 / 181", is not).
    return [s for s in out if len(s.split()) >= 3 and sum(any(c.isalpha() for c in w) for w in s.split()) >= 2]


class Sample:
    """An even sample of a stream of texts in at most `limit` characters: when full, every other piece is dropped
    and from then on only every 2nd (4th, ...) piece is kept, so a 5-hour chapter is represented from start to
    end in the same room as a short one (hand-written: a reservoir sample would lose the order)."""

    def __init__(self, limit: int = 4000):
        self.limit, self.stride, self.seen = limit, 1, 0
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if text and self.seen % self.stride == 0:
            self.items.append(text)
            while sum(map(len, self.items)) > self.limit and len(self.items) > 1:
                self.items, self.stride = self.items[::2], self.stride * 2
        self.seen += 1

    def text(self) -> str:
        return " ".join(self.items)[: self.limit]


def scene_words(rec: dict) -> str:
    """What a scene contributes to its chapter's title and the summary: what is said and written in it, or its
    caption when nothing is (picture labels make poor titles beside speech)."""
    f = fields_of(rec)
    said = " ".join(p for p in (f["transcript"], f["screen_text"]) if p.strip())
    return said or plain_caption(rec)
