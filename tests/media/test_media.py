"""Each test medium fetched (or made) and checked with PyAV against the facts its docstring and MEDIA.md promise."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tests import media
from tests.media import fetch

ROOT = Path(__file__).resolve().parents[2]


def info(path):
    """{"duration": s, "video": [(w, h, fps, codec)], "audio": [(channels, rate, codec, seconds)]}."""
    with av.open(str(path)) as c:
        return {
            "duration": c.duration / 1e6,
            "video": [(s.codec_context.width, s.codec_context.height, float(s.average_rate or 0), s.codec_context.name)
                      for s in c.streams.video],
            "audio": [(s.codec_context.channels, s.codec_context.sample_rate, s.codec_context.name,
                       float(s.duration * s.time_base) if s.duration else None) for s in c.streams.audio],
        }


def video_frames(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def keyframe_times(path) -> list[float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return sorted(round(float(p.pts * s.time_base), 2) for p in c.demux(s) if p.pts is not None and p.is_keyframe)


def mono(path, rate=16000) -> np.ndarray:
    """The whole audio track as float32 mono at `rate`."""
    with av.open(str(path)) as c:
        rs = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts = [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in rs.resample(fr)]
        parts += [f.to_ndarray().reshape(-1) for f in rs.resample(None)]
    return np.concatenate(parts)


def loud(x: np.ndarray, rate=16000, win=0.05, thresh=0.01) -> np.ndarray:
    """Start times (s) of the `win`-second windows whose RMS is above `thresh`."""
    n = int(rate * win)
    w = x[: len(x) // n * n].reshape(-1, n)
    return np.nonzero(np.sqrt((w ** 2).mean(axis=1)) > thresh)[0] * win


# ------------------------------------------------------------------ from registries


def test_bikes():
    i = info(media.bikes())
    assert i["video"] == [(640, 272, 25.0, "h264")] and i["audio"] == []
    assert i["duration"] == pytest.approx(10.0, abs=0.01)
    assert video_frames(media.bikes()) == 250


def test_bigbuckbunny_has_six_channel_audio():
    i = info(media.bigbuckbunny())
    assert i["video"] == [(1280, 720, 25.0, "h264")]
    [(channels, rate, codec, seconds)] = i["audio"]
    assert (channels, rate, codec) == (6, 48000, "aac") and seconds == pytest.approx(5.31, abs=0.02)


def test_carphone():
    i = info(media.carphone())
    [(w, h, fps, _)] = i["video"]
    assert (w, h) == (176, 144) and fps == pytest.approx(29.97, abs=0.01) and i["audio"] == []
    assert i["duration"] == pytest.approx(4.0, abs=0.01) and video_frames(media.carphone()) == 120


def test_librivox_five_transcribed_recordings():
    items = media.librivox()
    assert len(items) == 5
    total = 0.0
    for wav, text in items:
        i = info(wav)
        [(channels, rate, codec, seconds)] = i["audio"]
        assert (channels, rate, codec) == (1, 16000, "pcm_s16le") and 2.9 <= seconds <= 7.2
        assert text == text.lower() and "<s>" not in text and "(" not in text and len(text.split()) >= 7
        total += seconds
    assert total == pytest.approx(24.73, abs=0.05)
    assert items[1][1] == "he was not an ill disposed young man"


def test_cards():
    items = media.cards()
    assert [w.name for w, _ in items] == [f"00{i}.wav" for i in range(1, 6)]
    assert items[0][1] == "ten of clubs" and items[4][1] == "eight of spades four of clubs seven of hearts"
    for wav, _ in items:
        [(channels, rate, _, seconds)] = info(wav)["audio"]
        assert (channels, rate) == (1, 16000) and 1.0 <= seconds <= 3.6


def test_goforward_is_a_proper_wav():
    wav, text = media.goforward()
    assert wav.suffix == ".wav" and text == "go forward ten meters"
    [(channels, rate, codec, seconds)] = info(wav)["audio"]
    assert (channels, rate, codec) == (1, 16000, "pcm_s16le") and seconds == pytest.approx(2.79, abs=0.01)
    assert len(loud(mono(wav))) > 10  # speech, not noise from a wrong byte order


def test_desktop_sounds():
    sounds = media.desktop_sounds()
    assert len(sounds) >= 30 and {"bell", "alarm-clock-elapsed", "phone-incoming-call", "camera-shutter"} <= set(sounds)
    assert media.desktop_sound("bell") == media.desktop_sound("bell.oga") == sounds["bell"]
    for name in ("bell", "phone-incoming-call", "audio-channel-front-left"):
        [(_, _, codec, seconds)] = info(sounds[name])["audio"]
        assert codec == "vorbis" and 0.1 <= seconds <= 7
        assert len(mono(sounds[name])) > 1000
    with pytest.raises(KeyError):
        media.desktop_sound("no-such-sound")


@pytest.mark.parametrize("get,size", [(media.bus_jpg, (810, 1080)), (media.zidane_jpg, (1280, 720))])
def test_photos(get, size):
    with av.open(str(get())) as c:
        frame = next(c.decode(video=0))
    assert (frame.width, frame.height) == size


# ------------------------------------------------------------------ made here


def test_synth_clip_cuts_and_speech():
    path = media.synth_clip()
    i = info(path)
    assert i["video"] == [(640, 360, 25.0, "h264")] and i["duration"] == pytest.approx(60.0, abs=0.05)
    [(channels, rate, codec, seconds)] = i["audio"]
    assert (channels, rate, codec) == (1, 48000, "aac") and seconds == pytest.approx(60.0, abs=0.05)
    assert video_frames(path) == 1500
    assert {0.0, 15.0, 30.0, 45.0} <= set(keyframe_times(path))
    speech = loud(mono(path))
    assert speech[0] == pytest.approx(20.0, abs=0.15) and speech[-1] < 24.0  # one sentence, silence elsewhere


def test_audio_only_and_video_only():
    a, v = info(media.audio_only()), info(media.video_only())
    assert a["video"] == [] and len(a["audio"]) == 1 and a["duration"] == pytest.approx(60.0, abs=0.05)
    assert v["audio"] == [] and v["video"] == [(640, 360, 25.0, "h264")] and v["duration"] == pytest.approx(60, abs=0.05)


@pytest.mark.parametrize("get,low,high", [(media.speech_wav, 3.0, 7.0), (media.german_speech, 5.0, 12.0)])
def test_espeak_speech(get, low, high):
    [(channels, rate, codec, seconds)] = info(get())["audio"]
    assert (channels, rate, codec) == (1, 16000, "pcm_s16le") and low <= seconds <= high
    assert len(loud(mono(get()))) * 0.05 > seconds / 2  # mostly voiced


def test_silence_wav():
    for seconds, path in ((5, media.silence_wav()), (1.5, media.silence_wav(1.5))):
        [(channels, rate, _, dur)] = info(path)["audio"]
        assert (channels, rate) == (1, 16000) and dur == pytest.approx(seconds, abs=0.01)
        assert not np.any(mono(path))
    assert media.silence_wav(5) == media.silence_wav()


def test_bus_pan_clip_moves_two_pixels_a_frame():
    path = media.bus_pan_clip()
    assert info(path)["video"] == [(710, 1040, 25.0, "h264")] and video_frames(path) == 50
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="gray").astype(np.float32) for f in c.decode(video=0)]
    a, b = frames[0], frames[10]  # 20 px of pan: b[:, x] shows a[:, x + 20]
    assert np.abs(b[:, :-20] - a[:, 20:]).mean() < 4 < np.abs(b - a).mean()


def test_long_video_loops_cuts_and_audio_through():
    one, two = media.long_video(1), media.long_video(2)
    assert media.long_video(2) == two and two.stat().st_mtime == media.long_video(2).stat().st_mtime
    i = info(two)
    assert i["video"] == [(640, 360, 25.0, "h264")] and i["duration"] == pytest.approx(120.0, abs=0.05)
    [(channels, _, codec, seconds)] = i["audio"]
    assert channels == 1 and codec == "aac" and seconds == pytest.approx(120.0, abs=0.05)
    assert info(one)["duration"] == pytest.approx(60.0, abs=0.05)
    cuts = [0.0, *fetch.LONG_UNIT_CUTS]
    expected = {round(m * 60 + t, 2) for m in (0, 1) for t in cuts}
    assert expected <= set(keyframe_times(two))
    speech = loud(mono(two))
    assert speech[0] == pytest.approx(20.0, abs=0.15)
    assert any(abs(t - 80.0) < 0.15 for t in speech) and not any(24 < t < 80 for t in speech)


@pytest.mark.slow
def test_film_is_720p_real_footage_with_speech_all_through():
    """The throughput benchmark's film: 1280x720 25 fps H.264 + AAC, real footage and recorded speech, every minute
    the same; its 60 s unit takes about a minute to encode on 2 cores, the rest is stream copy."""
    two = media.film(2)
    i = info(two)
    assert i["video"] == [(1280, 720, 25.0, "h264")] and i["duration"] == pytest.approx(120.0, abs=0.1)
    [(channels, _, codec, seconds)] = i["audio"]
    assert channels == 1 and codec == "aac" and seconds == pytest.approx(120.0, abs=0.1)
    assert video_frames(two) == 3000
    sound = loud(mono(two))
    assert len(sound) and sound[0] < 1.0 and any(60 < t < 61 for t in sound)  # speech from the start of each minute
    assert sum(s for _, s, _ in fetch.FILM_UNIT) == 60.0
    with pytest.raises(ValueError):
        media.film(0)


def test_long_video_rejects_nonsense():
    with pytest.raises(ValueError):
        media.long_video(0)


# ------------------------------------------------------------------ bad input


def test_bad_inputs(tmp_path):
    bad = media.bad_inputs(tmp_path)
    assert set(bad) == {"empty", "random bytes", "truncated bikes", "truncated synth", "text file", "directory",
                        "missing path", "closed port", "malformed URI", "unsupported scheme"}
    assert os.path.getsize(bad["empty"]) == 0 and os.path.isdir(bad["directory"])
    assert not os.path.exists(bad["missing path"])
    assert os.path.getsize(bad["truncated bikes"]) == int(media.bikes().stat().st_size * 0.3)
    for name in ("empty", "random bytes", "text file", "truncated bikes"):  # bikes.mp4's moov is at its end
        with pytest.raises(av.error.InvalidDataError):
            av.open(bad[name])
    # synth.mp4 has its moov first (faststart): the truncated copy opens, claims 60 s, decodes ~14 s, then fails.
    with av.open(bad["truncated synth"]) as c:
        assert c.duration / 1e6 == pytest.approx(60.0, abs=0.1)
        decoded = []
        with pytest.raises(av.error.FFmpegError):
            for f in c.decode(video=0):
                decoded.append(f.time)
    assert 10 < decoded[-1] < 20
    port = int(bad["closed port"].split(":")[2].split("/")[0])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert bad["unsupported scheme"].split(":")[0] not in ("http", "https", "file")
    assert media.bad_inputs(tmp_path).keys() == bad.keys()  # idempotent in the same directory


# ------------------------------------------------------------------ the cache itself


def test_concurrent_processes_share_one_cache(tmp_path):
    """Two cold processes making the same media at once: both succeed, one file each, no leftovers."""
    env = dict(os.environ, SCENESTREAM_MEDIA=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "tests.media", "speech_wav", "silence_wav=1.5", "goforward", "--print-path"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len({o for o, _ in outs}) == 1
    made = sorted(p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".") or p.name.startswith(".tmp"))
    assert "goforward.wav" in made and "speech-en.wav" in made and "silence-1.5s.wav" in made
    assert not [m for m in made if m.startswith(".tmp")]


def test_missing_tool_raises_media_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENESTREAM_MEDIA", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(media.MediaUnavailable, match="espeak-ng is not installed"):
        media.speech_wav()
    with pytest.raises(media.MediaUnavailable, match="ffmpeg is not installed"):
        media.silence_wav(2)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENESTREAM_MEDIA", str(tmp_path / "x"))
    assert media.cache() == tmp_path / "x" and (tmp_path / "x").is_dir()
    monkeypatch.setenv("SCENESTREAM_MEDIA", "")
    assert media.cache() == Path.home() / ".cache" / "scenestream-media"
