"""The embedded runtime's wiring, with the real ingest agent on real media and small stand-in model agents (the
model agents have tests of their own; here we test routing, batching, error handling and back-pressure)."""
import threading

import orjson

from scenestream.agents.base import Agent
from scenestream.agents.ingest import IngestAgent
from scenestream.schemas import Detections, FrameBatch, Scene, SceneCaption, VideoRequest, VlmCaption, loads
from scenestream.streams.outputs.sinks import Collect
from scenestream.streams.runtimes.embedded import EmbeddedPipeline
from tests import media


class CountingDetector(Agent):
    name, model_id = "detector", "stand-in"

    def __init__(self, fail_on=None):
        self.fail_on = fail_on
        self.seen = []
        self.in_flight = 0

    def process(self, batch: FrameBatch):
        self.seen.append(batch.index)
        if batch.index == self.fail_on:
            raise RuntimeError("model exploded\non two lines")
        return [Detections(batch.video_id, batch.index, batch.start, batch.end, self.model_id, [], last=batch.last)]


class HandOffIngest(IngestAgent):
    """The real ingest agent that sets `handed` once it has handed `n` scenes to the runtime (its generator is
    resumed only after the runtime took the record), or when it ends."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.handed = n, threading.Event()

    def process(self, request):
        count = 0
        try:
            for record in super().process(request):
                yield record
                count += isinstance(record, Scene)
                if count >= self.n:
                    self.handed.set()
        finally:
            self.handed.set()


class BatchingCaptioner(Agent):
    """Its first call is held until `hold` is set: scenes arriving meanwhile wait in its queue, so the next call
    gets a batch of several, however fast or slow decoding is on this machine."""
    name, model_id = "captioner", "stand-in-vlm"
    max_batch, batch_wait = 4, 0.5

    def __init__(self, hold: threading.Event | None = None):
        self.batches = []
        self.threads = set()
        self.hold = hold
        self.held = None

    def setup(self): ...
    def close(self): ...

    def process_batch(self, scenes: list[Scene]):
        if self.hold is not None and self.held is None:
            self.held = self.hold.wait(timeout=60)  # a guard: a runtime that never queues fails the test, not hangs
        self.batches.append([s.index for s in scenes])
        self.threads.add(threading.current_thread().name)
        return [VlmCaption(s.video_id, s.index, s.start, s.end, self.model_id,
                           f"scene {s.index} with {len(s.keyframes)} frames", 0.01, keyframe_times=[k.time for k in s.keyframes], last=s.last)
                for s in scenes]


def run(processors, uri=None, ingest=None):
    pipe = EmbeddedPipeline(ingest or IngestAgent(), processors, queue_size=2)
    pipe.setup()
    out = Collect()
    try:
        result = pipe.run(VideoRequest("v", str(uri or media.bikes())), [out])
    finally:
        pipe.close()
    return result, [loads(SceneCaption, orjson.dumps(r)) for r in out.records]


def test_captions_are_batched_and_joined_in_order():
    # While the first call is held, ingest hands over scenes 0-2: one is in the call, the rest wait in the
    # captioner's queue (size 2), so a later call (or the first) has more than one.
    ingest = HandOffIngest(3)
    cap = BatchingCaptioner(hold=ingest.handed)
    result, out = run({"captioner": cap}, ingest=ingest)
    assert cap.held
    assert [c.index for c in out] == list(range(6))
    assert all(c.caption == f"scene {c.index} with 2 frames" and c.captioner == "stand-in-vlm" for c in out)
    assert sorted(i for b in cap.batches for i in b) == list(range(6)) and max(len(b) for b in cap.batches) > 1
    assert all(len(b) <= cap.max_batch for b in cap.batches)
    assert cap.threads and all(t.startswith("captioner") for t in cap.threads)  # off the event loop
    assert result.calls["captioner"] == 6 and result.scenes == 6 and result.duration == 10.0
    summary = result.summary()
    assert summary["captioner"]["seconds"] == 0.06 and summary["captioner"]["real_time_factor"] == 0.006


def test_an_agent_exception_becomes_a_missing_field_not_a_crash():
    det = CountingDetector(fail_on=1)
    result, out = run({"detector": det})
    assert len(out) == 6 and result.failed is None
    broken = [c for c in out if "detector" in c.missing]
    assert broken and all(c.missing["detector"] == "RuntimeError: model exploded on two lines" for c in broken)
    assert {c.index for c in broken} == {c.index for c in out if c.start < 8.0 and c.end > 4.0}  # batch 1 = [4, 8)


def test_failed_ingest_is_reported_and_the_run_ends():
    result, out = run({"detector": CountingDetector()}, uri="/no/such/video.mp4")
    assert result.failed is not None and result.failed.code == "not_found" and out == []


class RecordingReader(CountingDetector):
    """Notes what kind of frames it was given and how many JPEG bytes they held."""

    def __init__(self):
        super().__init__()
        self.kinds, self.jpeg_bytes = set(), 0

    def process(self, batch: FrameBatch):
        self.kinds |= {type(f).__name__ for f in batch.frames}
        self.jpeg_bytes += sum(len(f.jpeg) for f in batch.frames)
        return super().process(batch)


class PixelReader(RecordingReader):
    accepts_pixels = True


def test_frames_skip_jpeg_only_when_every_reader_takes_pixels():
    """Ingest encodes no JPEG for frame batches when every agent that reads them is in this process and says it
    takes decoded pictures (the detector does); an agent that does not say so gets JPEGs."""
    for reader, kinds in ((PixelReader(), {"PixelFrame"}), (RecordingReader(), {"Frame"})):
        result, out = run({"detector": reader})
        assert result.failed is None and len(out) == 6
        assert reader.kinds == kinds and (reader.jpeg_bytes > 0) == (kinds == {"Frame"})
