"""A search corpus made at test time from the real test media (tests/media): one video of ten 8-second scenes, each
on its own background so every cut is a hard cut, each with one thing to find: LibriVox read speech, a spoken
card game, a photo of a bus with people, two sounds, two title cards drawn with ffmpeg `drawtext` (Debian's DejaVu
fonts). QUERIES ask for each scene in other words than what is said or shown in it."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests import media

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
SECONDS = 8.0
LEAD = 0.5  # audio starts this far into its scene


@dataclass(frozen=True)
class Segment:
    name: str
    background: str  # a lavfi colour, or "bus" for the bus photo
    audio: str = ""  # "librivox:0870", "cards:005", "sound:NAME", "" (silence)
    lines: tuple[str, ...] = ()  # title card text, top to bottom
    loop: int = 0  # extra plays of the audio


SEGMENTS: tuple[Segment, ...] = (
    Segment("dashwood", "navy", "librivox:0870"),  # "... how much there might be prudently in his power to do for them"
    Segment("ill-disposed", "darkgreen", "librivox:0880"),  # "he was not an ill disposed young man"
    Segment("selfish", "maroon", "librivox:0890"),  # "unless to be rather cold hearted and rather selfish ..."
    Segment("amiable", "purple", "librivox:0920"),  # "had he married a more amiable woman ... more respectable"
    Segment("cards", "darkorange", "cards:005"),  # "eight of spades four of clubs seven of hearts"
    Segment("bus", "bus"),  # ultralytics' bus.jpg: a bus and four people
    Segment("alarm", "0x505050", "sound:alarm-clock-elapsed"),
    Segment("phone", "teal", "sound:phone-incoming-call", loop=3),
    Segment("forecast", "black", lines=("WEATHER FORECAST", "Heavy rain and strong winds tomorrow")),
    Segment("press", "0x7a1f1f", lines=("CITY HALL PRESS CONFERENCE", "Mayor opens the new river bridge")),
)

# (query, scene index): what is said, shown, written or heard, in other words.
QUERIES: tuple[tuple[str, int], ...] = (
    ("a man wondering how much he could reasonably afford to give his relatives", 0),
    ("a young fellow who meant no harm", 1),
    ("is being unkind and self-centred the same as having a bad character", 2),
    ("with a nicer wife he would have been more highly regarded", 3),
    ("someone naming a hand of playing cards", 4),
    ("a public transport vehicle with pedestrians beside it", 5),
    ("a wake-up clock going off", 6),
    ("somebody is getting a call, the telephone rings", 7),
    ("stormy wet conditions expected the next day", 8),
    ("the town's leader speaks to journalists about a crossing over the water", 9),
)


def _audio(spec: str) -> Path | None:
    if not spec:
        return None
    if spec.startswith("librivox:"):
        return next(wav for wav, _ in media.librivox() if wav.stem.endswith(spec.split(":")[1]))
    if spec.startswith("cards:"):
        return next(wav for wav, _ in media.cards() if wav.stem == spec.split(":")[1])
    if spec.startswith("sound:"):
        return media.desktop_sound(spec.split(":")[1])
    raise ValueError(spec)


def make_corpus(out: Path) -> Path:
    """Write the corpus video to `out` (H.264 + AAC mono, 640x360, 25 fps, len(SEGMENTS) * SECONDS long)."""
    if shutil.which("ffmpeg") is None:
        raise media.MediaUnavailable("ffmpeg is not installed here (apt-get install ffmpeg)")
    work = out.parent / f".{out.stem}-parts"
    work.mkdir(parents=True, exist_ok=True)
    inputs: list[str] = []
    chains: list[str] = []
    n_in = 0
    for i, seg in enumerate(SEGMENTS):
        if seg.background == "bus":
            inputs += ["-loop", "1", "-framerate", "25", "-t", str(SECONDS), "-i", str(media.bus_jpg())]
        else:
            inputs += ["-f", "lavfi", "-i", f"color=c={seg.background}:size=640x360:rate=25:duration={SECONDS}"]
        v = f"[{n_in}:v]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1"
        for row, text in enumerate(seg.lines):
            textfile = work / f"{i}-{row}.txt"
            textfile.write_text(text)  # textfile= spares drawtext's escaping of : , '
            size = 30 if row == 0 else 24
            v += (f",drawtext=fontfile={FONT}:textfile={textfile}:fontsize={size}:fontcolor=white:"
                  f"x=(w-text_w)/2:y={110 + 110 * row}")
        chains.append(v + f",fps=25,format=yuv420p,trim=duration={SECONDS},setpts=PTS-STARTPTS[v{i}]")
        n_in += 1
        audio = _audio(seg.audio)
        if audio is None:
            inputs += ["-f", "lavfi", "-i", f"anullsrc=r=48000:cl=mono:d={SECONDS}"]
        else:
            inputs += (["-stream_loop", str(seg.loop)] if seg.loop else []) + ["-i", str(audio)]
        chains.append(f"[{n_in}:a]aresample=48000,aformat=channel_layouts=mono,adelay={int(LEAD * 1000)}:all=1,"
                      f"apad,atrim=0:{SECONDS},asetpts=PTS-STARTPTS[a{i}]")
        n_in += 1
    pairs = "".join(f"[v{i}][a{i}]" for i in range(len(SEGMENTS)))
    graph = ";".join(chains) + f";{pairs}concat=n={len(SEGMENTS)}:v=1:a=1[v][a]"
    cuts = ",".join(str(i * SECONDS) for i in range(len(SEGMENTS)))
    cmd = ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
           "-c:v", "libx264", "-preset", "veryfast", "-force_key_frames", cuts, "-c:a", "aac", "-b:a", "96k",
           "-ac", "1", "-movflags", "+faststart", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise media.MediaUnavailable(f"ffmpeg could not make the corpus: {proc.stderr.strip()[-500:]}")
    shutil.rmtree(work, ignore_errors=True)
    return out
