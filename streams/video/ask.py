"""A question about the indexed videos, answered with the scenes that show it (`scenestream ask`, serve's /api/ask).

The scenes come from the index's hybrid search (streams/outputs/index.py: FTS5 words and MiniLM vectors fused by
reciprocal rank), of one video or of all. Then:

- Offline, the answer quotes the best scenes, best first: for each, its video, its times and the sentence of its
  speech, on-screen text or caption nearest the question (MiniLM again), so the quote is the remark that answers,
  not the scene's first words.
- With an OpenAI-compatible endpoint, the retrieved scenes go into the prompt as numbered sources and the model
  writes the answer, citing them as [n]. The model may cite only what it was shown: every citation is parsed and
  checked against the sources, and one that names no retrieved scene (a number out of range, a `video:index` key
  not among them) is dropped from the text and counted, never passed on as a time in a video.

Either way the result is one `Answer`: the question, the answer text, the citations (video_id, index, start, end,
score, and the source number n the text uses), best first, and how many citations were dropped."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from scenestream.agents.errors import ConfigError
from scenestream.streams.outputs.index import SceneIndex, fields_of
from scenestream.streams.video.text import plain_caption, sentences

TOP = 5  # scenes retrieved for a question
QUOTED = 3  # of which the offline answer quotes the best
MAX_TOP = 50
MAX_QUESTION = 1000  # characters (serve's search bound)
SOURCE_CHARS = 600  # of each scene's text in the prompt: K sources stay a small prompt
QUOTE_CHARS = 240
ANSWER_TOKENS = 300
RETRIEVAL = "retrieval"  # `answered_by` of an offline answer

# A bracket the model may mean as a citation: [3], [1, 4], [2; 5], [Source 2], [corpus:7]. Anything else in
# brackets ([music], [laughs]) is the model's text and stays.
_BRACKET = re.compile(r"\[([^\[\]\n]{1,120})\]")
_NUMBER = re.compile(r"^(?:sources?\s*|scene\s*|#)?(\d{1,6})$", re.I)
_KEY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]{0,99}):(\d{1,6})$")


@dataclass
class Citation:
    video_id: str
    index: int
    start: float
    end: float
    score: float  # the search's fused score (reciprocal rank fusion)
    n: int = 0  # its source number: the [n] of the answer text


@dataclass
class Answer:
    question: str
    answer: str
    citations: list[Citation] = field(default_factory=list)  # the scenes the answer cites, best first
    answered_by: str = RETRIEVAL  # "retrieval" offline, else the model that wrote the answer
    retrieved: int = 0  # scenes found (the sources)
    dropped: int = 0  # citations of scenes that were not retrieved, taken out of the answer

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class AskSettings:
    top: int = TOP
    llm_endpoint: str = ""  # an OpenAI-compatible base URL (…/v1); empty: offline
    llm_model: str = ""
    llm_api_key_env: str = "OPENAI_API_KEY"
    llm_timeout: float = 120.0
    max_tokens: int = ANSWER_TOKENS

    def checked(self) -> "AskSettings":
        if not 1 <= self.top <= MAX_TOP:
            raise ConfigError(f"--top must be 1..{MAX_TOP}, not {self.top}")
        if self.llm_timeout <= 0 or self.max_tokens < 1:
            raise ConfigError("the LLM timeout must be > 0 and max tokens >= 1")
        if self.llm_model and not self.llm_endpoint:
            raise ConfigError("--llm-model needs --llm-endpoint URL (an OpenAI-compatible server, …/v1)")
        if self.llm_endpoint:
            from scenestream.agents.chat import check_endpoint

            self.llm_endpoint = check_endpoint(self.llm_endpoint)
        return self

    def client(self):
        """The chat client of the endpoint, or None offline."""
        if not self.llm_endpoint:
            return None
        from scenestream.agents.chat import ChatClient

        return ChatClient(self.llm_endpoint, self.llm_model, api_key_env=self.llm_api_key_env,
                          timeout=self.llm_timeout, retries=2)


def open_index(db: str | Path) -> SceneIndex:
    """The index at `db`, which must exist and hold scenes (a SceneIndex would make an empty one)."""
    path = Path(db).expanduser()
    if not path.is_file():
        raise ConfigError(f"no index at {db} (make one with `scenestream index RUN_FOLDER --db {db}`)")
    index = SceneIndex(path)
    if index.count() == 0:
        index.close()
        raise ConfigError(f"the index {db} holds no scenes (add some with `scenestream index RUN_FOLDER --db {db}`)")
    return index


def check_question(question: str) -> str:
    q = " ".join(str(question).split())
    if not q:
        raise ConfigError("the question is empty")
    if len(q) > MAX_QUESTION:
        raise ConfigError(f"the question is longer than {MAX_QUESTION} characters")
    return q


def clock(seconds: float) -> str:
    """0:08, 1:04, 1:02:03: a time in a video as players show it."""
    s = int(max(seconds, 0.0))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class Source:
    """One retrieved scene, numbered for the prompt and the answer text."""
    n: int
    hit: dict  # the search's hit
    record: dict

    @property
    def key(self) -> str:
        return f"{self.hit['video_id']}:{self.hit['index']}"

    def citation(self) -> Citation:
        h = self.hit
        return Citation(str(h["video_id"]), int(h["index"]), float(h["start"]), float(h["end"]), float(h["score"]),
                        self.n)

    def where(self) -> str:
        h = self.hit
        return f"{h['video_id']} {clock(h['start'])}-{clock(h['end'])} (scene {h['index']})"

    def text(self) -> str:
        """What the scene says and shows, labelled, for the prompt."""
        f = fields_of(self.record)
        parts = [("Said", f["transcript"]), ("On screen", f["screen_text"]),
                 ("Picture", plain_caption(self.record)), ("Sounds", f["sounds"]), ("Objects", f["objects"])]
        text = "; ".join(f"{label}: {value}" for label, value in parts if value.strip())
        return text[:SOURCE_CHARS] or "(nothing said or seen)"


def parse_citations(text: str, sources: list[Source]) -> tuple[str, list[int], int]:
    """The model's answer with its citations checked against the sources: (the text with every citation of a scene
    not retrieved taken out and `video:index` keys written as their [n], the source numbers cited in order of first
    citation, how many citations were dropped)."""
    by_key = {s.key: s.n for s in sources}
    numbers = {s.n for s in sources}
    cited: list[int] = []
    dropped = 0

    def one(m: re.Match) -> str:
        nonlocal dropped
        tokens = [t.strip() for t in re.split(r"[,;]|\band\b", m.group(1)) if t.strip()]
        refs = []
        for t in tokens:
            num, key = _NUMBER.match(t), _KEY.match(t)
            if num:
                refs.append(int(num.group(1)))
            elif key:
                refs.append(by_key.get(f"{key.group(1)}:{int(key.group(2))}", -1))
            else:
                return m.group(0)  # "[music]", "[1 minute]": not a citation, the text stays as written
        kept = [n for n in refs if n in numbers]
        dropped += len(refs) - len(kept)
        for n in kept:
            if n not in cited:
                cited.append(n)
        return f"[{', '.join(map(str, dict.fromkeys(kept)))}]" if kept else ""

    out = _BRACKET.sub(one, text)
    out = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", out)).strip()
    return out, cited, dropped


class Asker:
    """Answers questions from one SceneIndex; thread-safe as the index is (serve shares one)."""

    def __init__(self, index: SceneIndex, settings: AskSettings | None = None, client=None):
        self.index = index
        self.s = (settings or AskSettings()).checked()
        self.client = client if client is not None else self.s.client()

    def retrieve(self, question: str, video_id: str | None = None, top: int | None = None) -> list[Source]:
        hits = self.index.search(question, top or self.s.top, video_id=video_id)
        out = []
        for h in hits:
            rec = self.index.record(h["video_id"], h["index"])
            if rec is not None:
                out.append(Source(len(out) + 1, h, rec))
        return out

    def ask(self, question: str, video_id: str | None = None, top: int | None = None) -> Answer:
        question = check_question(question)
        if top is not None and not 1 <= top <= MAX_TOP:
            raise ConfigError(f"top must be 1..{MAX_TOP}, not {top}")
        sources = self.retrieve(question, video_id, top)
        if not sources:
            if video_id is not None and not self._has_video(video_id):
                raise ConfigError(f"the index holds no scenes of video {video_id}")
            return Answer(question, "No scene matches the question.", [], RETRIEVAL if self.client is None else
                          self.client.model or "", 0, 0)
        if self.client is None:
            return self._quoted(question, sources)
        return self._generated(question, sources)

    def _has_video(self, video_id: str) -> bool:
        with self.index._lock:
            return self.index.db.execute("SELECT 1 FROM scenes WHERE video_id = ? LIMIT 1",
                                         (video_id,)).fetchone() is not None

    # -- offline: the best sentences of the best scenes

    def quote(self, question: str, source: Source) -> str:
        """The sentence of the scene nearest the question (its whole text if it has no sentence)."""
        f = fields_of(source.record)
        candidates = [s for part in (f["transcript"], f["screen_text"].replace(" / ", ". "),
                                     plain_caption(source.record)) for s in sentences(part)]
        if len(candidates) > 1:
            vecs = self.index.embedder.encode([question, *candidates], normalize_embeddings=True,
                                              convert_to_numpy=True, show_progress_bar=False)
            best = candidates[int(np.argmax(vecs[1:] @ vecs[0]))]
        elif candidates:
            best = candidates[0]
        else:
            best = " ".join(p for p in (f["transcript"], f["screen_text"], plain_caption(source.record),
                                        f["sounds"], f["objects"]) if p.strip()) or source.hit.get("snippet", "")
        best = " ".join(best.split())
        return best if len(best) <= QUOTE_CHARS else best[:QUOTE_CHARS - 1] + "…"

    def _quoted(self, question: str, sources: list[Source]) -> Answer:
        quoted = sources[:QUOTED]
        lines = [f"[{s.n}] {s.where()}: \u201c{self.quote(question, s)}\u201d" for s in quoted]
        return Answer(question, "\n".join(lines), [s.citation() for s in quoted], RETRIEVAL, len(sources), 0)

    # -- with a model: numbered sources in, checked citations out

    def prompt(self, question: str, sources: list[Source]) -> str:
        listed = "\n".join(f"[{s.n}] {s.where()}: {s.text()}" for s in sources)
        return ("Answer the question about the videos using only the numbered sources below. Each source is one "
                "scene with its video and time. After each statement cite the sources that support it as [n], "
                "e.g. [2] or [1, 3]. If the sources do not answer the question, say so.\n\n"
                f"Sources:\n{listed}\n\nQuestion: {question}\nAnswer:")

    def _generated(self, question: str, sources: list[Source]) -> Answer:
        from scenestream.agents.chat import user_message

        reply = self.client.complete([user_message(self.prompt(question, sources))], max_tokens=self.s.max_tokens)
        text, cited, dropped = parse_citations(reply.text, sources)
        by_n = {s.n: s for s in sources}
        # Best first: the cited scenes in the search's order (their numbers), whatever order the text cites them in.
        citations = [by_n[n].citation() for n in sorted(cited)]
        return Answer(question, text, citations, reply.model or self.client.model, len(sources), dropped)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


__all__ = ["Answer", "AskSettings", "Asker", "Citation", "MAX_QUESTION", "Source", "check_question", "clock",
           "open_index", "parse_citations"]
