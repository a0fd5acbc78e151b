"""Title cards with known text, made with ffmpeg's `drawtext` and Debian's DejaVu fonts: a 640x360 25 fps video of
2-second scenes, each on its own background (plain colours; noise, fractals, colour bars, cellular automata and a
test pattern as busy ones) so that every cut is a hard cut the scene detector finds. Shared by tests/agents/
test_ocr.py and bench/bench_ocr.py."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

FONTS = Path("/usr/share/fonts/truetype/dejavu")
SIZE, RATE, SECONDS = "640x360", 25, 2.0


@dataclass(frozen=True)
class Line:
    text: str
    size: int  # font size in the 360 px video (keyframes are scaled to 336 px: x 0.93)
    y: int
    style: str = "plain"  # plain, border (black outline), box (half-transparent black box), dark (black text)
    font: str = "DejaVuSans.ttf"
    color: str = "white"
    x: int | None = None  # None = centred
    appears: float = 0.0  # seconds into the scene (0 = the whole scene)


@dataclass(frozen=True)
class Card:
    background: str  # a lavfi source (size/rate are added)
    lines: tuple[Line, ...] = field(default_factory=tuple)
    busy: bool = False

    def truth(self) -> str:
        """The text of the scene as the agent lists it: by first time shown, then top to bottom."""
        return " ".join(l.text for l in sorted(self.lines, key=lambda l: (l.appears, l.y)))


COVER_TIMECODE = "drawbox=x=0:y=0:w=120:h=48:color=0x336699:t=fill"  # testsrc2 draws its own clock there

# Every random source and filter has a fixed seed (ffmpeg's default, -1, is a new seed each run): with some seeds
# the cut from the noisy gradient card to the next was not detected, so the video must be the same every time.
CARDS: tuple[Card, ...] = (
    Card("color=c=navy", (Line("Breaking News", 48, 60), Line("Quarterly results 2024", 32, 160),
                          Line("Live from Berlin", 20, 280, color="yellow"))),
    Card("mandelbrot", (Line("Chapter 3: The Return", 40, 120, "border"),
                        Line("Directed by Ana Lima", 24, 250, "border", "DejaVuSerif.ttf")), busy=True),
    Card("color=c=0x303030,noise=alls=70:allf=t:all_seed=7", (Line("Press START to continue", 28, 90, "box"),
                                                    Line("Slide 7 of 20", 36, 200, "box", "DejaVuSans-Bold.ttf")),
         busy=True),
    Card("smptebars", (Line("Season Finale", 44, 70, "border", "DejaVuSerif-Bold.ttf"),
                       Line("Previously on Harbor City", 22, 300, "box"))), 
    Card("color=c=white", (Line("Welcome to the conference", 30, 100, "dark", color="black"),
                           Line("Call 555-0199 today", 24, 190, "dark", "DejaVuSansMono.ttf", color="black"),
                           Line("www.example.org", 18, 300, "dark", color="black"))),
    Card("cellauto=rule=110:seed=7,scale=640:360:flags=neighbor", (Line("Road closed ahead", 40, 120, "box"),
                                                             Line("Exit 42 Main Street", 26, 230, "box")),
         busy=True),
    Card("testsrc2," + COVER_TIMECODE, (Line("Final score 3 - 2", 38, 150, "border", "DejaVuSans-Bold.ttf"),
                                        Line("Thank you for watching", 24, 300, "border")), busy=True),
    Card("color=c=darkgreen", (Line("Weather update", 36, 80), Line("High 18 Low 9", 28, 170),
                               Line("Open 9am to 5pm", 20, 280, font="DejaVuSansCondensed.ttf",
                                    appears=0.4))),
    Card("life=mold=10:ratio=0.3:seed=7:death_color=#203040:life_color=#80a0c0,scale=640:360:flags=neighbor",
         (Line("Sale ends Friday!", 40, 140, "box", "DejaVuSerif-Bold.ttf"),
          Line("Subscribe for more", 22, 260, "box")), busy=True),
    Card("color=c=maroon"),  # no text, plain
    Card("gradients=c0=0x2040a0:c1=0xa04020:speed=0.02:seed=7,noise=alls=30:allf=t:all_seed=7", busy=True),  # no text, busy
    Card("color=c=0x404080", (Line("Q&A session at 3 pm", 30, 120, font="DejaVuSans-Oblique.ttf"),
                              Line("The End", 48, 220, font="DejaVuSerif.ttf"))),
)


def have_tools() -> str | None:
    """Why the cards cannot be made here, or None."""
    if shutil.which("ffmpeg") is None:
        return "ffmpeg is not installed (make sysdeps)"
    if not (FONTS / "DejaVuSans.ttf").exists():
        return f"DejaVu fonts missing in {FONTS} (apt-get install fonts-dejavu-core)"
    return None


def _drawtext(line: Line, textfile: Path) -> str:
    opts = [f"fontfile={FONTS / line.font}", f"textfile={textfile}", f"fontsize={line.size}",
            f"fontcolor={line.color}", f"x={line.x if line.x is not None else '(w-tw)/2'}", f"y={line.y}"]
    if line.style == "border":
        opts += ["borderw=2", "bordercolor=black"]
    elif line.style == "box":
        opts += ["box=1", "boxcolor=black@0.6", "boxborderw=6"]
    if line.appears:
        opts.append(f"enable='gte(t\\,{line.appears})'")
    return "drawtext=" + ":".join(opts)


def make_video(folder: Path, cards: tuple[Card, ...] = CARDS) -> Path:
    """The cards as one H.264 video in `folder` (about 2 s of ffmpeg time), scene i = card i."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs, chains = [], []
    for i, card in enumerate(cards):
        src, _, rest = card.background.partition(",")
        inputs += ["-f", "lavfi", "-i", f"{src}{':' if '=' in src else '='}size={SIZE}:rate={RATE}"]
        steps = [rest] if rest else []
        steps += ["scale=640:360", "setsar=1", f"trim=duration={SECONDS}", "setpts=PTS-STARTPTS"]
        for j, line in enumerate(card.lines):
            path = folder / f"card{i}-line{j}.txt"
            path.write_text(line.text)
            steps.append(_drawtext(line, path))
        chains.append(f"[{i}:v]{','.join(steps)},format=yuv420p[v{i}]")
    graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(len(cards))) + \
        f"concat=n={len(cards)}:v=1:a=0[out]"
    out = folder / "title-cards.mp4"
    keys = ",".join(str(i * SECONDS) for i in range(len(cards)))
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[out]",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-force_key_frames", keys,
                    str(out)], check=True)
    return out
