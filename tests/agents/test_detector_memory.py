"""The detector keeps one ByteTrack tracker per video for the whole video: over hours, people come and go by the
thousand. The tracker's pools must stay bounded by what is on screen (and ultralytics' 1000 removed tracks), not
grow with the number of tracks ever seen. Real ultralytics tracker and Boxes; the detections are synthetic."""
import numpy as np

from scenestream.agents.detector import _quiet_offline_ultralytics


def test_one_videos_tracker_stays_bounded_over_many_tracks():
    _quiet_offline_ultralytics()
    from ultralytics.engine.results import Boxes
    from ultralytics.trackers.track import TRACKER_MAP
    from ultralytics.utils import YAML, IterableSimpleNamespace
    from ultralytics.utils.checks import check_yaml

    cfg = IterableSimpleNamespace(**YAML.load(check_yaml("bytetrack.yaml")))
    tracker = TRACKER_MAP[cfg.tracker_type](cfg)
    img = np.zeros((360, 640, 3), np.uint8)
    rng = np.random.default_rng(0)
    sizes, ids = [], set()
    # A new person every 2 frames, on screen for 10 frames, at a random place: 3000 people over 6000 frames;
    # more than 1000 tracks end, so the removed pool fills (by frame ~3500) and must stop there.
    people: list[tuple[int, float, float]] = []
    for frame in range(6000):
        if frame % 2 == 0:
            people.append((frame, rng.uniform(20, 560), rng.uniform(20, 280)))
        people = [p for p in people if frame - p[0] < 10]
        rows = [[x + (frame - t0), y, x + 60 + (frame - t0), y + 80, 0.9, 0] for t0, x, y in people]
        boxes = Boxes(np.asarray(rows, np.float32).reshape(-1, 6), img.shape[:2])
        for row in tracker.update(boxes.cpu().numpy(), img):
            ids.add(int(row[4]))
        sizes.append(len(tracker.tracked_stracks) + len(tracker.lost_stracks) + len(tracker.removed_stracks))
    assert len(ids) > 1500  # the stream did bring that many tracks (some boxes are matched to an old track)
    assert len(tracker.removed_stracks) <= 1000
    assert len(tracker.lost_stracks) <= 2 * cfg.track_buffer  # lost tracks expire after track_buffer frames
    assert max(sizes[-1500:]) <= max(sizes[3500:4500]) + 10  # flat, not growing, once the removed pool is full
