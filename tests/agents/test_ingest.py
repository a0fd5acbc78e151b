"""The ingest agent on real media, decoded for real with PyAV (tests/media fetches it from package registries)."""
import struct

import pytest

from scenestream.agents.ingest import IngestAgent, IngestSettings
from scenestream.agents.ingest.source import resolve
from scenestream.agents.errors import InputError
from scenestream.schemas import AudioChunk, FrameBatch, Scene, VideoEvent, VideoRequest
from tests import media

FPS = 25.0
ONE_FRAME = 1 / FPS + 1e-6


def run(uri, **options):
    records = list(IngestAgent().process(VideoRequest("v", str(uri), options)))
    by = lambda t: [r for r in records if isinstance(r, t)]  # noqa: E731
    return records, by(Scene), by(AudioChunk), by(FrameBatch), by(VideoEvent)


@pytest.fixture(scope="module")
def bikes():
    return run(media.bikes())


@pytest.fixture(scope="module")
def synth():
    return run(media.synth_clip())


def test_bikes_gives_exactly_six_scenes_at_the_true_cuts(bikes):
    _, scenes, audio, _, events = bikes
    assert len(scenes) == 6
    cuts = [s.start for s in scenes[1:]]
    for got, want in zip(cuts, [1.20, 3.04, 5.48, 7.48, 9.68]):
        assert abs(got - want) <= ONE_FRAME, (cuts, want)
    assert scenes[0].start == 0.0 and abs(scenes[-1].end - 10.0) <= ONE_FRAME
    assert all(a.end == b.start for a, b in zip(scenes, scenes[1:]))  # scenes tile the video
    assert [s.last for s in scenes] == [False] * 5 + [True]
    assert audio == []
    accepted, ingested = events[0], events[-1]
    assert accepted.kind == "accepted" and accepted.has_audio is False and accepted.has_video is True
    assert ingested.kind == "ingested" and ingested.counts["scenes"] == 6 and ingested.counts["frames"] == 250


def test_keyframes_are_start_and_middle_jpegs_with_short_side_336(bikes):
    _, scenes, _, _, _ = bikes
    for s in scenes:
        assert len(s.keyframes) == 2
        start, middle = s.keyframes
        assert start.time == pytest.approx(s.start, abs=ONE_FRAME)
        # candidates are taken 8 per second, so the middle is within an eighth of a second of the true middle
        assert abs(middle.time - (s.start + s.end) / 2) <= 0.125 + ONE_FRAME
        assert start.jpeg[:2] == b"\xff\xd8"
        assert min(start.width, start.height) == 272  # 640x272: not upscaled to 336


def test_keyframes_scale_the_short_side_to_336():
    _, scenes, _, _, _ = run(media.bigbuckbunny())
    [scene] = scenes
    assert (scene.keyframes[0].width, scene.keyframes[0].height) == (597, 336)


def test_frame_batches_tile_the_video_at_two_fps(bikes):
    _, _, _, batches, _ = bikes
    assert batches[0].start == 0.0 and batches[-1].end == pytest.approx(10.0, abs=ONE_FRAME)
    assert all(a.end == b.start for a, b in zip(batches, batches[1:]))
    times = [f.time for b in batches for f in b.frames]
    assert len(times) == 20  # 10 s at 2 fps
    assert all(b.start <= f.time < b.end for b in batches for f in b.frames)
    assert max(f.width for b in batches for f in b.frames) == 640
    assert batches[-1].last and not any(b.last for b in batches[:-1])


def test_synthetic_clip_four_scenes_and_gapless_audio(synth):
    _, scenes, audio, _, events = synth
    assert len(scenes) == 4
    for got, want in zip([s.start for s in scenes[1:]], [15.0, 30.0, 45.0]):
        assert abs(got - want) <= ONE_FRAME
    assert audio[0].start == 0.0
    assert all(a.end == b.start for a, b in zip(audio, audio[1:]))  # no gap, no overlap
    assert audio[-1].end == pytest.approx(60.0, abs=0.05)
    assert [c.index for c in audio] == list(range(len(audio)))
    assert audio[-1].last and not any(c.last for c in audio[:-1])
    for c in audio:
        assert len(c.pcm) == round((c.end - c.start) * 16000) * 2
        assert len(c.pcm) < 1_000_000 * 3 / 4  # under 1 MB once base64-encoded
    # The speech starts at 20.0 s: the chunk [20, 30) is loud, [0, 10) is silent.
    assert rms(audio[2].pcm) > 20 * max(rms(audio[0].pcm), 1.0)
    assert events[-1].kind == "ingested" and events[-1].has_audio


def rms(pcm: bytes) -> float:
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    return (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


def test_six_channel_audio_is_downmixed_not_dropped():
    _, _, audio, _, events = run(media.bigbuckbunny())
    assert events[0].has_audio
    total = sum(len(c.pcm) for c in audio) / 2 / 16000
    assert total == pytest.approx(5.31, abs=0.1)
    assert max(rms(c.pcm) for c in audio) > 1.0  # quiet, but not silence: the channels were mixed in


def test_audio_only_gives_one_scene_without_keyframes():
    _, scenes, audio, batches, events = run(media.audio_only())
    [scene] = scenes
    assert scene.start == 0.0 and scene.end == pytest.approx(60.0, abs=0.1) and scene.keyframes == [] and scene.last
    assert batches == [] and audio and events[-1].kind == "ingested" and events[-1].has_video is False


def test_video_only_has_no_audio_chunks():
    _, scenes, audio, _, events = run(media.video_only())
    assert len(scenes) == 4 and audio == [] and events[0].has_audio is False


def test_small_odd_sized_video():
    _, scenes, _, batches, events = run(media.carphone())
    assert len(scenes) >= 1 and events[-1].kind == "ingested"
    assert events[-1].duration == pytest.approx(4.0, abs=0.1)


def test_adaptive_detector_and_keyframe_count_by_option():
    _, scenes, _, _, _ = run(media.bikes(), detector="adaptive", keyframes=3)
    assert len(scenes) == 6
    for got, want in zip([s.start for s in scenes[1:]], [1.20, 3.04, 5.48, 7.48, 9.68]):
        assert abs(got - want) <= ONE_FRAME
    assert all(len(s.keyframes) == 3 for s in scenes)


def test_bad_option_is_a_failed_event():
    records, *_ = run(media.bikes(), detector="magic")
    [event] = records
    assert event.kind == "failed" and event.code == "bad_option"


def test_long_scene_keeps_a_bounded_number_of_candidates():
    s = IngestSettings(keyframe_candidate_limit=8)
    records = list(IngestAgent(s).process(VideoRequest("v", str(media.bigbuckbunny()))))
    [scene] = [r for r in records if isinstance(r, Scene)]
    assert len(scene.keyframes) == 2 and scene.keyframes[0].time == 0.0
    assert abs(scene.keyframes[1].time - 5.31 / 2) <= 5.31 / 8


def test_bad_inputs_each_give_one_failed_event(tmp_path):
    for name, uri in media.bad_inputs(tmp_path).items():
        records = list(IngestAgent().process(VideoRequest("v", str(uri))))
        failed = [r for r in records if isinstance(r, VideoEvent) and r.kind == "failed"]
        assert len(failed) == 1, (name, records[-1:])
        assert failed[0].code and failed[0].message and "\n" not in failed[0].message, name
        assert not any(isinstance(r, VideoEvent) and r.kind == "ingested" for r in records), name


@pytest.mark.parametrize("uri,code", [
    ("", "bad_uri"), ("http://[::1", "bad_uri"), ("gopher://x/y.mp4", "unsupported_scheme"),
    ("http:///nohost.mp4", "bad_uri"), ("file://remotehost/x.mp4", "bad_uri"), ("/no/such/file.mp4", "not_found"),
])
def test_resolve_rejects(uri, code):
    with pytest.raises(InputError) as err:
        resolve(uri)
    assert err.value.code == code


def test_file_uri_and_plain_path_are_the_same(tmp_path):
    path = media.bikes()
    assert resolve(f"file://{path}") == resolve(str(path)) == ("file", str(path))


def test_pixel_frames_are_the_jpeg_frames_decoded(bikes):
    """In one process (`pixel_frames`), frames carry the BGR picture the JPEG would have held: same times, same
    sizes, and pixels within JPEG's error of the JPEG's, never a JPEG."""
    import numpy as np
    from PIL import Image
    import io
    from scenestream.schemas import PixelFrame

    agent = IngestAgent()
    agent.pixel_frames = True
    raw = [r for r in agent.process(VideoRequest("v", str(media.bikes()))) if isinstance(r, FrameBatch)]
    jpeg = bikes[3]
    assert [(b.index, b.start, b.end, b.last) for b in raw] == [(b.index, b.start, b.end, b.last) for b in jpeg]
    for a, b in zip((f for x in raw for f in x.frames), (f for x in jpeg for f in x.frames)):
        assert isinstance(a, PixelFrame) and a.jpeg == b""
        assert (a.time, a.width, a.height) == (b.time, b.width, b.height)
        assert a.pixels.shape == (b.height, b.width, 3) and a.pixels.dtype == np.uint8
        decoded = np.asarray(Image.open(io.BytesIO(b.jpeg)).convert("RGB"))[:, :, ::-1]
        assert np.abs(a.pixels.astype(int) - decoded).mean() < 4  # BGR, as the JPEG decodes (quality 85)


def test_a_decode_stopped_early_leaves_no_thread_behind():
    """The consumer may stop reading (a worker shutting down): the video thread beside the decode loop ends too."""
    import threading

    gen = IngestAgent().process(VideoRequest("v", str(media.bikes())))
    assert any(isinstance(r, Scene) for r in gen)  # read up to the first scene, then drop the rest
    gen.close()
    assert not [t for t in threading.enumerate() if t.name == "ingest-video"]


def test_an_error_in_the_video_thread_reaches_the_caller():
    from scenestream.agents.ingest.offload import Offload

    def work(item):
        if item == 3:
            raise ValueError("bad picture 3")
        return [item * 10]

    off = Offload(work, depth=2)
    got = []
    with pytest.raises(ValueError, match="bad picture 3"):
        for i in range(100):  # the error surfaces at a later put (or at finish), never lost
            got += off.put(i)
        got += off.finish()
    off.close()
    assert got == [0, 10, 20][: len(got)]
    ok = Offload(lambda item: [item, item])
    out = [x for i in range(20) for x in ok.put(i)] + ok.finish()
    assert out == [i for i in range(20) for _ in (0, 1)]  # in order, nothing dropped
