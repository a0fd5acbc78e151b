"""One way to name a video from its source, for `run`, `submit` and the web UI."""
import re

from scenestream.streams.core.video_ids import video_id

SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def test_run_ids_are_stable_and_safe():
    assert video_id("/videos/my film.mp4") == video_id("/videos/my film.mp4")
    assert video_id("/videos/my film.mp4") != video_id("/other/my film.mp4")  # the hash is of the whole source
    assert video_id("/videos/my film.mp4").startswith("my_film-")
    for source in ("/videos/my film.mp4", "rtsp://cam:554/live?x=1", "http://h/", "/.hidden.mp4", "ä ö.mkv"):
        assert SAFE.match(video_id(source)), source


def test_fresh_ids_differ_for_the_same_source():
    a, b = video_id("rtmp://127.0.0.1/live", fresh=True), video_id("rtmp://127.0.0.1/live", fresh=True)
    assert a != b and a.startswith("live-") and SAFE.match(a) and SAFE.match(b)
