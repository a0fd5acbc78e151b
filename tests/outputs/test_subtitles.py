"""Subtitles: the captions.vtt / captions.srt that `scenestream run` writes, read back with pysubs2 and checked against
the records they were made from; the cue rules on hand-made words; `scenestream export`."""
import pysubs2
import pytest

from scenestream.streams.cli.main import main
from scenestream.streams.outputs import subtitles
from tests.outputs.conftest import records
from tests.outputs.corpus import SEGMENTS

FORMATS = ("vtt", "srt")


def words_of(recs):
    return [w for r in recs for w in sorted(r["transcript"]["words"], key=lambda w: w["start"]) if w["word"].strip()]


def flat(text: str) -> str:
    return " ".join(text.split())


def check_speech_cues(subs: pysubs2.SSAFile, recs: list[dict]) -> int:
    """Every speech cue holds consecutive words of the records, in order, none lost; its times lie within them."""
    words = words_of(recs)
    speech = [e for e in subs if not e.plaintext.startswith("[")]
    i = 0
    for cue in speech:
        text, held = flat(cue.plaintext), []
        while flat(subtitles._join_words(held)) != text:
            assert i < len(words), f"cue {text!r} holds words the records do not have"
            held.append(words[i])
            i += 1
            assert len(flat(subtitles._join_words(held))) <= len(text), f"cue {text!r} is not the next words"
        first, last = round(held[0]["start"] * 1000), round(max(w["end"] for w in held) * 1000)
        # The cue spans exactly its words (ms precision of VTT and SRT).
        assert first - 1 <= cue.start and cue.end <= last + 1, (text, cue.start, cue.end, first, last)
        for w in held:
            assert cue.start - 1 <= round(w["start"] * 1000) and round(w["end"] * 1000) <= cue.end + 1, (text, w)
        if len(held) > 1:
            assert cue.end - cue.start <= subtitles.MAX_CUE_SECONDS * 1000 + 1
    assert i == len(words), "words missing from the subtitles"
    return len(speech)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_run_writes_subtitles_of_the_synthetic_clip(synth_run, fmt):
    recs = records(synth_run)
    subs = pysubs2.load(str(synth_run / f"captions.{fmt}"))
    assert subs.format == fmt  # pysubs2 recognised the file as what it claims to be
    n_speech = check_speech_cues(subs, recs)
    assert n_speech >= 1
    spoken = " ".join(e.plaintext for e in subs if not e.plaintext.startswith("["))
    assert "quick brown fox" in flat(spoken).lower()
    fox = next(e for e in subs if "fox" in e.plaintext.lower())
    assert 19_000 <= fox.start <= 21_000 and fox.end <= 25_000  # the sentence is spoken from 20.0 s
    assert not any(e.plaintext.startswith("[Speech") for e in subs)  # the transcript says it already
    # Every cue is one of the records' things, at its time, in time order.
    assert [e.start for e in subs] == sorted(e.start for e in subs)
    assert len(subs) == len(subtitles.cues_of(recs))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_run_writes_subtitles_of_bikes(bikes_run, fmt):
    recs = records(bikes_run)
    assert len(recs) == 6
    # Named, as pysubs2 cannot guess the format of an SRT without cues (an empty file).
    subs = pysubs2.load(str(bikes_run / f"captions.{fmt}"), format_=fmt)
    assert check_speech_cues(subs, recs) == 0  # bikes.mp4 has no audio: no speech, no sounds
    assert not any(e.plaintext.startswith("[") and not e.plaintext.startswith("[On screen:") for e in subs)
    seen = [(t["text"], r) for r in recs for t in r.get("text", [])]
    shown = [flat(e.plaintext) for e in subs if e.plaintext.startswith("[On screen:")]
    assert len(shown) == len(seen)
    for (text, rec), cue in zip(sorted(seen, key=lambda x: x[1]["index"]), shown):
        assert flat(text) in cue


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_sound_and_on_screen_cues_of_the_corpus(corpus_run, fmt):
    recs = records(corpus_run)
    assert len(recs) == len(SEGMENTS)
    subs = pysubs2.load(str(corpus_run / f"captions.{fmt}"))
    check_speech_cues(subs, recs)
    sounds = [e for e in subs if e.plaintext.startswith("[") and not e.plaintext.startswith("[On screen:")]
    # Every sound the tagger heard (speech aside) is in a sound cue that covers its time.
    for r in recs:
        for ev in r["audio_events"]:
            if subtitles.is_speech_label(ev["label"]):
                continue
            t0, t1 = round(ev["start"] * 1000), round(ev["end"] * 1000)
            assert any(c.start <= t0 and t1 <= c.end for c in sounds), (r["index"], ev)
    # The tagged sounds of the media: the alarm clock and the ringing phone, each in its scene.
    def cue_in(scene):  # the cues heard well inside the scene (a tagger window may reach over a cut)
        seg = [c for c in sounds if c.start < (scene + 1) * 8000 - 1000 and c.end > scene * 8000 + 1000]
        return " ".join(c.plaintext for c in seg).lower()

    alarm = [s.name for s in SEGMENTS].index("alarm")
    phone = [s.name for s in SEGMENTS].index("phone")
    assert "alarm" in cue_in(alarm) or "beep" in cue_in(alarm), cue_in(alarm)
    assert "telephone" in cue_in(phone) or "ringtone" in cue_in(phone), cue_in(phone)
    # Title cards become on-screen text cues, not speech.
    written = " ".join(flat(e.plaintext) for e in subs if e.plaintext.startswith("[On screen:")).lower()
    assert "weather forecast" in written and "river bridge" in written


def w(word, start, end):
    return {"word": word, "start": start, "end": end, "probability": 0.9}


def test_speech_cues_split_at_sentences_pauses_and_length():
    words = [w(" And", 0.0, 0.2), w(" Mr.", 0.2, 0.5), w(" Smith", 0.5, 0.9), w(" came.", 0.9, 1.3),
             w(" Then", 1.5, 1.7), w(" he", 1.7, 1.8), w(" left", 1.8, 2.0),  # no full stop, then a pause
             w(" Later", 4.0, 4.3)] + [w(f" w{i}", 4.3 + 0.5 * i, 4.8 + 0.5 * i) for i in range(14)]
    cues = subtitles.speech_cues(words)
    assert [c.text for c in cues[:3]] == ["And Mr. Smith came.", "Then he left", "Later w0 w1 w2 w3 w4 w5 w6 w7 w8"]
    assert (cues[0].start, cues[0].end) == (0.0, 1.3)
    assert all(c.end - c.start <= subtitles.MAX_CUE_SECONDS for c in cues)
    assert " ".join(c.text for c in cues).split() == [x["word"].strip() for x in words]


def test_words_without_leading_spaces_are_joined_with_spaces():
    assert subtitles.speech_cues([w("hello", 0, 0.4), w("there.", 0.5, 0.9)])[0].text == "hello there."


def test_a_v1_record_and_speech_labels():
    v1 = {"video_id": "v", "index": 0, "start": 0.0, "end": 5.0, "caption": "c",
          "transcript": {"text": "", "language": "", "words": []},
          "audio_events": [{"label": "Speech", "score": 0.9, "start": 0, "end": 5},
                           {"label": "Male speech, man speaking", "score": 0.5, "start": 0, "end": 5},
                           {"label": "Applause", "score": 0.8, "start": 1.0, "end": 3.0},
                           {"label": "Music", "score": 0.6, "start": 2.0, "end": 4.0}],
          "objects": {}, "schema_version": 1}
    subs = pysubs2.SSAFile.from_string(subtitles.to_string([v1], "srt"))
    assert [(e.start, e.end, e.plaintext) for e in subs] == [(1000, 4000, "[Applause / Music]")]


def test_export_cli_writes_vtt_and_srt(corpus_run, tmp_path, capsys):
    out = tmp_path / "c.vtt"
    assert main(["export", str(corpus_run), "--format", "vtt", "--out", str(out)]) == 0
    assert pysubs2.load(str(out)).to_string("vtt") == (corpus_run / "captions.vtt").read_text()
    assert main(["export", str(corpus_run / "captions.jsonl"), "--format", "srt"]) == 0
    assert capsys.readouterr().out == (corpus_run / "captions.srt").read_text()


def test_export_of_two_videos_needs_a_video_id(synth_run, bikes_run, tmp_path, capsys):
    both = tmp_path / "both.jsonl"
    both.write_bytes((synth_run / "captions.jsonl").read_bytes() + (bikes_run / "captions.jsonl").read_bytes())
    assert main(["export", str(both), "--format", "srt"]) == 1
    assert "--video-id" in capsys.readouterr().err
    assert main(["export", str(both), "--format", "srt", "--video-id", "synth"]) == 0
    assert capsys.readouterr().out == (synth_run / "captions.srt").read_text()


def test_export_of_a_missing_source_is_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "--format", "vtt"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]


@pytest.mark.slow
def test_export_translation_writes_english_subtitles_of_french_speech(tmp_path, capsys):
    from tests import media

    run = tmp_path / "fr"
    assert main(["run", str(media.french_speech()), "--out", str(run), "-q", "--agents", "asr",
                 "-o", "asr.model=whisper-base", "-o", "asr.translate=en"]) == 0
    out = tmp_path / "en.srt"
    assert main(["export", str(run), "--format", "srt", "--translation", "--out", str(out)]) == 0
    english = pysubs2.load(str(out))
    french = pysubs2.load(str(run / "captions.srt"))
    assert len(english) >= 1 and len(french) >= 1
    en_words = {w.strip(".,!?").lower() for e in english for w in e.plaintext.split()}
    fr_words = {w.strip(".,!?").lower() for e in french for w in e.plaintext.split()}
    assert en_words & {"the", "your", "you", "to", "press", "number", "please"} and en_words != fr_words
    capsys.readouterr()
    # Records without a translation: one line that says how to get one.
    assert main(["export", str(run), "--format", "srt", "--translation", "--out", str(out)]) == 0
    plain = tmp_path / "plain"
    assert main(["run", str(media.french_speech()), "--out", str(plain), "-q", "--agents", "asr",
                 "-o", "asr.model=whisper-base"]) == 0
    assert main(["export", str(plain), "--format", "srt", "--translation"]) == 1
    assert "asr.translate=en" in capsys.readouterr().err
