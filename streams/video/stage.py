"""The chapters-and-summary stage: what every runtime runs on the joined caption stream.

`VideoWholes.take(record)` for each final scene record (the captions topic's JSON object), of any number of
videos interleaved, in scene order within each video -> the Chapter and VideoSummary records that closed. A video
has a ChapterMaker and a Summarizer while its scenes pass; they are dropped when its last record passes
(`last: true`), or on `end(video_id)` when its stream stops without one (a failed or interrupted video), so a
stage that runs for months holds only the videos in progress. The embedded runtime calls it from its joiner task,
the Kafka runtime from its joiner (streams/runtimes/kafka/join.py): the same code, the same records.

The MiniLM model loads on the first record (one per process, shared with the search index)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Union

from scenestream.schemas import Chapter, VideoSummary
from scenestream.streams.video.chapters import ChapterMaker, Embedder, Titler
from scenestream.streams.video.settings import ChapterSettings
from scenestream.streams.video.summary import Summarizer

Whole = Union[Chapter, VideoSummary]
ENDED = 10_000  # ids of the videos ended lately: a record of one replayed after its end is not a new video


@dataclass
class _Video:
    maker: ChapterMaker
    summarizer: Summarizer


class VideoWholes:
    def __init__(self, settings: ChapterSettings, embedder: Embedder | None = None):
        self.s = settings
        self._embedder = embedder
        self._client = None
        self.videos: dict[str, _Video] = {}
        self.ended: OrderedDict[str, None] = OrderedDict()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(self.s.model)
        return self._embedder

    def _video(self, video_id: str) -> _Video:
        v = self.videos.get(video_id)
        if v is None:
            if self._client is None:
                self._client = self.s.client()
            summarizer = Summarizer(video_id, self.s, self.embedder, self._client)
            maker = ChapterMaker(video_id, self.s, self.embedder, Titler(self.embedder, self.s, self._client),
                                 on_close=summarizer.take)
            v = self.videos[video_id] = _Video(maker, summarizer)
        return v

    def progress(self, video_id: str) -> dict:
        """The video's progress (ChapterMaker.progress), {} when it is not in progress here: what the Kafka joiner
        keeps in its table, so that a worker taking the video over goes on numbering its chapters."""
        v = self.videos.get(video_id)
        return {**v.maker.progress(), "summarized": v.summarizer.chapters} if v else {}

    def resume(self, video_id: str, progress: dict) -> None:
        """Take a video over from another process's progress(), unless it is in progress here as far as that (a
        video that went to another worker and came back has moved on there: what is held here is stale)."""
        if not progress:
            return
        held = self.videos.get(video_id)
        if held is not None:
            if held.maker.last_index >= int(progress.get("last_index", -1)):
                return
            del self.videos[video_id]
        self.ended.pop(video_id, None)
        v = self._video(video_id)
        v.maker.resume(progress)
        v.summarizer.chapters = int(progress.get("summarized") or 0)

    def take(self, record: dict) -> list[Whole]:
        """One final scene record -> the chapters it closed (and, on the video's last, the rest and the summary)."""
        vid = str(record["video_id"])
        if vid in self.ended:
            if int(record.get("index", 0)) != 0:
                return []  # a replay (a restart re-reading its input) after the video ended: its wholes were sent
            del self.ended[vid]  # the video again from its first scene: a new run (or a full replay, which makes
            # the same chapters under the same keys)
        out: list[Whole] = list(self._video(vid).maker.take(record))
        if record.get("last"):
            out += self.end(vid)
        return out

    def end(self, video_id: str) -> list[Whole]:
        """The video's stream is over: its open chapter closes, its summary is made, its state is dropped."""
        v = self.videos.pop(video_id, None)
        if v is None:
            return []
        self.ended[video_id] = None
        while len(self.ended) > ENDED:
            self.ended.popitem(last=False)
        chapters = v.maker.finish()
        return [*chapters, v.summarizer.finish()]

    def end_all(self) -> list[Whole]:
        return [w for vid in list(self.videos) for w in self.end(vid)]


def topic_of(whole: Whole) -> str:
    from scenestream.schemas.topics import CHAPTERS, SUMMARIES

    return CHAPTERS if isinstance(whole, Chapter) else SUMMARIES


def key_of(whole: Whole) -> str:
    """chapters: `video_id:index`; summaries: the video id."""
    return whole.key if isinstance(whole, Chapter) else whole.video_id


__all__ = ["VideoWholes", "Whole", "key_of", "topic_of"]
