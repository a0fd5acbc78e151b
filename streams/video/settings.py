"""`-o chapters.KEY=VALUE`: the settings of chapters and the summary, checked like an agent's options."""
from __future__ import annotations

from dataclasses import dataclass

from scenestream.agents.errors import ConfigError
from scenestream.agents.options import convert

SECTION = "chapters"


@dataclass
class ChapterSettings:
    # The defaults were chosen on two real texts (tests/video/test_chapters.py): the chaptered test video (five
    # ~20-s segments) and an hour of spoken paragraphs changing subject every 3 to 6 minutes (bench/bench_chapters.py).
    # A 10-s block with a shallow depth (0.12) found every join of the first but cut the second every 16 s (F1 0.10):
    # two sentences a side vary too much within one subject. A 30-s block puts the same subject's gaps above 0.6
    # (1st percentile) and the joins below 0.36, so the sides' similarity decides and depth only adds deep dips.
    window: float = 30.0  # seconds of scenes on each side of a gap whose mean vectors are compared (TextTiling's block)
    depth: float = 0.8  # the least depth score (drop of similarity below both neighbouring peaks) of a boundary
    unrelated: float = 0.4  # a gap whose two sides are less similar than this is a boundary whatever its depth
    min_seconds: float = 10.0  # the shortest chapter (video sites refuse chapters under 10 s)
    title_words: int = 6
    summary_words: int = 120  # the offline summary's length bound
    model: str = "minilm"  # the sentence embedder (the search index's)
    llm_endpoint: str = ""  # an OpenAI-compatible base URL (…/v1): titles and the summary written by the LLM
    llm_model: str = ""
    llm_api_key_env: str = "OPENAI_API_KEY"
    llm_timeout: float = 120.0
    fan_in: int = 6  # map-reduce: this many partial summaries are reduced into one
    enabled: bool = True

    def checked(self) -> "ChapterSettings":
        if self.window <= 0 or self.fan_in < 2:
            raise ConfigError("chapters.window must be > 0, chapters.fan_in >= 2")
        if not 0 < self.depth < 2 or self.min_seconds < 0 or self.summary_words < 10 or self.title_words < 1:
            raise ConfigError("chapters.depth in (0, 2), chapters.min_seconds >= 0, chapters.summary_words >= 10, "
                              "chapters.title_words >= 1")
        if self.llm_endpoint:
            from scenestream.agents.chat import check_endpoint

            self.llm_endpoint = check_endpoint(self.llm_endpoint)
        return self

    @classmethod
    def of(cls, options: dict | None) -> "ChapterSettings":
        return convert(cls, options, SECTION).checked()

    def client(self):
        """The chat client of the LLM endpoint, or None offline."""
        if not self.llm_endpoint:
            return None
        from scenestream.agents.chat import ChatClient

        return ChatClient(self.llm_endpoint, self.llm_model, api_key_env=self.llm_api_key_env,
                          timeout=self.llm_timeout, retries=2)
