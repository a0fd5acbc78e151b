"""The speech agent on real speech with the offline Whisper models, and its OpenAI-compatible client against a local
stand-in server (a fake of the remote service only: the client code under test is real)."""
from __future__ import annotations

import email.parser
import email.policy
import io
import json
import re
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pytest

from scenestream.agents.asr import AsrAgent, AsrSettings
from scenestream.agents.asr.speech import RATE, choose_cut, chunk_starts, pack, speech_segments
from scenestream.agents.errors import ConfigError
from scenestream.agents.ingest import IngestAgent
from scenestream.schemas import AudioChunk, Scene, SceneCaption, Transcript, VideoEvent, VideoRequest
from scenestream.streams.core.joiner import Joiner
from tests import media


# ---------------------------------------------------------------- helpers


def pcm16k(path) -> bytes:
    """Any audio file (or headerless s16le 16 kHz .raw) as 16 kHz mono s16le, decoded by FFmpeg through PyAV."""
    path = Path(path)
    if path.suffix == ".raw":
        return path.read_bytes()
    out = bytearray()
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            for f in resampler.resample(frame):
                out += f.to_ndarray().tobytes()
        for f in resampler.resample(None):
            out += f.to_ndarray().tobytes()
    return bytes(out)


def chunks(pcm: bytes, seconds: float, video_id: str = "v") -> list[AudioChunk]:
    """Chunks that tile the audio on a sample grid, as ingest makes them."""
    step = 2 * int(round(seconds * RATE))
    out = []
    for i, off in enumerate(range(0, len(pcm), step)):
        piece = pcm[off:off + step]
        out.append(AudioChunk(video_id, i, off / 2 / RATE, (off + len(piece)) / 2 / RATE, piece,
                              last=off + step >= len(pcm)))
    return out


def transcribe(agent: AsrAgent, pieces: list[AudioChunk]) -> list[Transcript]:
    return [t for c in pieces for t in agent.process(c)]


def words(transcripts) -> list[str]:
    return normalise(" ".join(w.word for t in transcripts for w in t.words))


SPELLED_OUT = {"mr": "mister", "mrs": "missus", "dr": "doctor"}  # as Whisper's own English text normaliser does


def normalise(text: str) -> list[str]:
    """Lower case, no punctuation, no sentence markers (<s>, </s> in the LibriVox references), titles spelled
    out."""
    text = re.sub(r"</?s>|<sil>", " ", text.lower()).replace("-", " ")
    return [SPELLED_OUT.get(w, w) for w in re.sub(r"[^a-z0-9' ]+", " ", text).split()]


def edits(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def timed_words(transcripts) -> list[tuple[str, float, float]]:
    """Normalised words with the times of the recognised word each came from."""
    return [(n, w.start, w.end) for t in transcripts for w in t.words for n in normalise(w.word)]


def gaps_and_extras(ref: list[tuple[str, float, float]], hyp: list[tuple[str, float, float]]):
    """A minimal word alignment of `hyp` to `ref`: the reference words it lacks and the words it has in addition
    (substitutions, which kernels on another CPU may cause anywhere, are neither)."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 or j == 0:
                cost[i][j] = i + j
            else:
                cost[i][j] = min(cost[i - 1][j] + 1, cost[i][j - 1] + 1,
                                 cost[i - 1][j - 1] + (ref[i - 1][0] != hyp[j - 1][0]))
    lacks, extra, i, j = [], [], n, m
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1][0] != hyp[j - 1][0]):
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            lacks.append(ref[i - 1])
            i -= 1
        else:
            extra.append(hyp[j - 1])
            j -= 1
    return lacks, extra


def make_agent(**settings) -> AsrAgent:
    settings.setdefault("model", "whisper-tiny.en")
    agent = AsrAgent(AsrSettings(**settings))
    agent.setup()
    return agent


@pytest.fixture(scope="module")
def libri():
    """The five LibriVox recordings with their reference texts, and all five back to back (24.7 s)."""
    items = [(pcm16k(wav), text) for wav, text in media.librivox()]
    return items, b"".join(p for p, _ in items)


@pytest.fixture(scope="module")
def tiny():
    """tiny.en with the defaults (10 s chunks give one region per video: the last chunk flushes it)."""
    agent = make_agent()
    yield agent
    agent.close()


def assert_tiles(transcripts, pieces, duration):
    """One Transcript per chunk, same index and window, in order; words inside their window and the audio, in
    order."""
    assert [(t.index, t.start, t.end, t.last) for t in transcripts] == [(c.index, c.start, c.end, c.last)
                                                                       for c in pieces]
    starts = [w.start for t in transcripts for w in t.words]
    assert starts == sorted(starts)
    for t in transcripts:
        assert t.error is None
        for w in t.words:
            assert t.start <= w.start < t.end, (t.index, w)
            assert w.start <= w.end <= duration + 1e-6


# ---------------------------------------------------------------- accuracy and times


def test_librivox_word_error_rate_with_tiny_en_is_at_most_20_percent(tiny, libri):
    items, _ = libri
    errors = total = 0
    for i, (pcm, text) in enumerate(items):
        pieces = chunks(pcm, 10.0, f"libri{i}")
        out = transcribe(tiny, pieces)
        assert_tiles(out, pieces, len(pcm) / 2 / RATE)
        ref = normalise(text)
        errors += edits(ref, words(out))
        total += len(ref)
    assert errors / total <= 0.20, errors / total
    assert tiny.videos == {}  # each video's state went with its last chunk


def test_words_cut_by_chunk_edges_are_neither_lost_nor_doubled(libri):
    """All five recordings as one 24.7 s stream in 2 s and 3 s chunks, transcribed as soon as each chunk comes
    (window = chunk length), against 30 s chunks (a single region)."""
    _, pcm = libri
    duration = len(pcm) / 2 / RATE
    whole = transcribe(make_agent(window=30), chunks(pcm, 30.0))
    runs = {}
    for size in (2.0, 3.0):
        pieces = chunks(pcm, size)
        out = transcribe(make_agent(window=size), pieces)
        assert_tiles(out, pieces, duration)
        edges = [c.end for c in pieces[:-1]]
        straddling = [w for t in out for w in t.words if any(w.start < e < w.end for e in edges)]
        assert straddling, "no word crosses a chunk edge: the test would prove nothing"
        runs[size] = timed_words(out), edges
    # Against one region the model hears different context, and int8 kernels differ by instruction set, so a word
    # or two may be recognised differently (or split, merged) anywhere: a small tolerance on the whole. What must
    # not happen is the failure under test: a word lost or doubled where a chunk ends. Such a word shows up as a
    # reference word missing, or an extra word, within half a second of an edge.
    ref = timed_words(whole)
    for size, (hyp, edges) in runs.items():
        assert edits([w for w, *_ in ref], [w for w, *_ in hyp]) <= max(3, len(ref) // 20), (size, ref, hyp)
        lacks, extra = gaps_and_extras(ref, hyp)
        at_edges = [(w, e) for w in lacks + extra for e in edges if w[1] - 0.5 < e < w[2] + 0.5]
        assert not at_edges, (size, at_edges)


def test_speech_at_20_s_of_the_synthetic_clip_lands_in_scene_15_to_30():
    records = list(IngestAgent().process(VideoRequest("synth", str(media.synth_clip()))))
    audio = [r for r in records if isinstance(r, AudioChunk)]
    agent = make_agent()
    out = transcribe(agent, audio)
    assert_tiles(out, audio, audio[-1].end)
    spoken = [w for t in out for w in t.words]
    assert spoken and abs(spoken[0].start - 20.0) <= 0.5, spoken[:2]
    assert all(20.0 - 0.5 <= w.start and w.end <= 24.0 for w in spoken)
    # Through the real joiner: every word in scene 1 [15, 30), none elsewhere.
    joiner = Joiner(["asr"])
    captions = []
    for r in [*records, *out]:
        if isinstance(r, (Scene, VideoEvent, Transcript)):
            captions += [c for c in joiner.add(r) if isinstance(c, SceneCaption)]
    assert [(c.start, c.end) for c in captions][1] == pytest.approx((15.0, 30.0), abs=0.05)
    assert [len(c.transcript.words) for c in captions] == [0, len(spoken), 0, 0]
    assert "fox" in captions[1].transcript.text.lower() or "dog" in captions[1].transcript.text.lower()
    assert captions[1].transcript.language == "en"


def test_language_is_detected_per_region_with_the_multilingual_model(libri):
    """German (espeak-ng) then English (LibriVox) in one stream, in 2 s chunks: the first region is cut in the
    silence between them, and whisper-base finds de for the German windows and en for the English ones."""
    german = pcm16k(media.german_speech())
    english = libri[0][0][0]
    pcm = german + bytes(4 * RATE) + english  # two seconds of silence between them, where the region can end
    split = len(german) / 2 / RATE
    # Short regions (single phrases) give the language detector too little to go on: gather the German first.
    agent = make_agent(model="whisper-base", window=split + 1.0)
    pieces = chunks(pcm, 2.0)
    out = transcribe(agent, pieces)
    assert_tiles(out, pieces, len(pcm) / 2 / RATE)
    de = {t.language for t in out if t.words and t.end <= split}
    en = {t.language for t in out if t.words and t.start >= split + 2.0}
    assert de == {"de"} and en == {"en"}, [(t.index, t.language, t.text) for t in out]
    assert agent.model_id == "pack:whisper-base"


ENGLISH = {"the", "a", "to", "you", "your", "is", "please", "of", "and", "this", "not", "for", "are", "in", "number",
           "press", "enter", "call", "be", "it", "that", "have", "will", "with"}


@pytest.mark.slow
def test_french_speech_is_translated_into_english_beside_the_original():
    """Real French (June, the Asterisk fr_CA voice) through whisper-base with translate=en: the transcript stays
    French, the translation is English (its words are English words, not the French ones), in timed segments,
    each in the window it starts in."""
    pcm = pcm16k(media.french_speech())
    agent = make_agent(model="whisper-base", translate="en")
    pieces = chunks(pcm, 10.0)
    out = transcribe(agent, pieces)
    assert_tiles(out, pieces, len(pcm) / 2 / RATE)
    said = " ".join(t.text for t in out)
    english = " ".join(t.translation.text for t in out)
    print("fr:", said, "\nen:", english)
    assert {t.language for t in out if t.words} == {"fr"}
    words = [w.strip(".,!?'\"").lower() for w in english.split()]
    assert len(words) >= 10 and sum(w in ENGLISH for w in words) >= len(words) // 5
    assert set(words) != {w.strip(".,!?'\"").lower() for w in said.split()}
    total = len(pcm) / 2 / RATE
    for t in out:  # a segment belongs to the window it starts in (it may run on: Whisper times whole segments)
        assert t.translation is not None and all(t.start <= s.start < t.end and s.start <= s.end <= total + 0.01
                                                 for s in t.translation.segments)


def test_translation_needs_whisper_and_english():
    from scenestream.agents.asr.settings import AsrSettings
    from scenestream.agents.errors import ConfigError

    with pytest.raises(ConfigError, match="English only"):
        AsrSettings.from_options({"translate": "de"})
    with pytest.raises(ConfigError, match="faster-whisper"):
        AsrSettings.from_options({"translate": "en", "backend": "openai"})
    with pytest.raises(ConfigError, match="multilingual"):
        make_agent(translate="en")  # the pack's tiny.en cannot translate


# ---------------------------------------------------------------- bad input


def test_bad_pcm_gives_error_records_and_the_video_goes_on(tiny, libri):
    good = libri[0][1][0]  # "he was not an ill disposed young man", 3.1 s
    g = len(good) / 2 / RATE
    pieces = [
        AudioChunk("bad", 0, 0.0, 1.0, b"\x00" * 3201),  # odd byte count
        AudioChunk("bad", 1, 1.0, 2.0, b""),  # no PCM for a 1 s window
        AudioChunk("bad", 2, 2.0, 3.0, bytes(2 * 8000), sample_rate=8000),
        AudioChunk("bad", 3, 3.0, 3.0 + g, good),
        AudioChunk("bad", 4, 3.0 + g, 3.0 + g, b"", last=True),  # an empty final window is fine
    ]
    out = transcribe(tiny, pieces)
    assert [t.index for t in out] == [0, 1, 2, 3, 4]
    assert "odd PCM byte count" in out[0].error and "no PCM" in out[1].error and "8000 Hz" in out[2].error
    assert all("\n" not in t.error for t in out[:3])
    assert out[3].error is None and "young man" in out[3].text.lower()
    assert all(3.0 <= w.start for w in out[3].words)
    assert out[4].error is None and out[4].words == [] and out[4].last
    assert tiny.videos == {}


def test_nonsense_records_never_raise(tiny):
    out = tiny.process(AudioChunk("nan", 0, float("nan"), 1.0, b"\x00\x00", last=True))
    assert len(out) == 1 and "bad window times" in out[0].error
    out = tiny.process(AudioChunk("str", 0, 0.0, 1.0, "not bytes", last=True))  # type: ignore[arg-type]
    assert len(out) == 1 and "not bytes" in out[0].error
    assert tiny.videos == {}


def test_a_replayed_chunk_is_ignored_and_late_chunks_are_put_in_order(tiny, libri):
    pcm = libri[0][0][0]
    pieces = chunks(pcm, 2.0, "order")
    shuffled = [pieces[1], pieces[0], pieces[0], *pieces[2:]]  # one early, one replayed
    out = transcribe(tiny, shuffled)
    assert_tiles(out, pieces, len(pcm) / 2 / RATE)
    assert edits(normalise(libri[0][0][1]), words(out)) <= 3


# ---------------------------------------------------------------- cut selection (pure)


def test_cuts_fall_in_silence_and_keep_clear_of_the_newest_audio():
    # speech (samples): [1000, 5000) touching [5000, 9000), then [12000, 15000); buffer of 20000, guard 500
    speech = [(1000, 5000), (5000, 9000), (12000, 15000)]
    assert choose_cut(speech, 20000, 10**9, 500) == 19500  # trailing silence, short of the guard
    assert choose_cut(speech, 15200, 10**9, 500) == 12000  # the last speech reaches the guard: before it
    assert choose_cut(speech, 20000, 10000, 500) == 10000  # limited: inside the silence [9000, 12000)
    assert choose_cut(speech, 20000, 8000, 500) == 5000  # where two segments touch
    assert choose_cut([(0, 20000)], 20000, 10**9, 500) is None  # no silence at all
    assert choose_cut([], 20000, 10**9, 500) == 19500


def test_long_regions_end_where_the_pipeline_would_start_a_new_30_s_chunk():
    second = RATE
    speech = [(0, 12 * second), (13 * second, 25 * second), (26 * second, 38 * second), (40 * second, 52 * second)]
    assert chunk_starts(speech) == [26 * second]  # 12 + 12 fit in 30 s, a third 12 s segment does not
    assert chunk_starts(speech[:2]) == []


def test_packing_keeps_only_speech_and_maps_times_back(libri):
    pcm = libri[0][0][0]
    audio = np.frombuffer(bytes(RATE) + pcm, "<i2").astype(np.float32) / 32768  # half a second of silence first
    speech = speech_segments(audio)
    assert speech and speech[0][0] >= 0.1 * RATE
    packed = pack(audio, speech)
    assert len(packed.audio) == sum(e - s for s, e in speech) < len(audio)
    assert all(b - a <= 30.0 for a, b in packed.clips)
    start, _ = packed.restore(0.0, 0.1)
    assert start == pytest.approx(speech[0][0] / RATE, abs=1e-3)


# ---------------------------------------------------------------- settings


def test_options_from_strings_and_defaults():
    s = AsrSettings.from_options({"window": "10", "vad": "false", "language": "none", "batch_size": "4"})
    assert (s.window, s.vad, s.language, s.batch_size) == (10.0, False, None, 4)
    assert s.model_spec() == "whisper-tiny.en"  # offline (tests set HF_HUB_OFFLINE): the pack
    assert AsrSettings(backend="openai").model_spec() == "whisper-1"
    with pytest.raises(ConfigError):
        AsrSettings.from_options({"backend": "nope"})
    with pytest.raises(ConfigError):
        AsrSettings.from_options({"batch_size": "many"})
    with pytest.raises(ConfigError, match="unknown"):
        AsrSettings.from_options({"unknown": 1})
    assert "api_key" not in repr(AsrSettings(api_key="secret"))


def test_model_id_names_the_model_that_made_the_output(tiny):
    out = tiny.process(AudioChunk("id", 0, 0.0, 0.5, bytes(RATE), last=True))
    assert tiny.model_id == "pack:whisper-tiny.en" and out[0].model == "pack:whisper-tiny.en"


# ---------------------------------------------------------------- the OpenAI-compatible backend


class StandIn:
    """A local /audio/transcriptions: canned verbose_json (one word spanning each received file), the first
    `fail_first` requests answered 503, every request's form fields and audio kept, concurrency measured.

    With `gather=N` the server holds the first requests until N are in flight at once (then it answers everything
    at once): a client that pipelines reaches N whatever the machine's speed, one that does not is held until
    `gather_timeout` and never gets there."""

    def __init__(self, fail_first=0, status=None, gather=0, gather_timeout=20.0, language="english"):
        self.fail_first, self.status, self.language = fail_first, status, language
        self.gather, self.gather_timeout = gather, gather_timeout
        self.requests: list[dict] = []
        self.lock = threading.Condition()
        self.active = self.max_active = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                stand_in.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers["Content-Length"]))
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            n = len(self.requests)
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + h.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
            form = {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                    for p in msg.iter_parts()}
            headers = {k.lower(): v for k, v in h.headers.items()}
            self.requests.append({"path": h.path, "headers": headers, "form": form})
            self.lock.notify_all()
            # Held until enough are in flight; once they were (or after one timeout), nothing more is held.
            if not self.lock.wait_for(lambda: self.max_active >= self.gather, timeout=self.gather_timeout):
                self.gather = 0
        try:
            if self.status or n < self.fail_first:
                code = self.status or 503
                h.send_response(code)
                if code == 503:
                    h.send_header("Retry-After", "0")
                h.end_headers()
                h.wfile.write(b'{"error": {"message": "busy"}}')
                return
            with wave.open(io.BytesIO(form["file"])) as w:
                duration = w.getnframes() / w.getframerate()
            reply = {"task": "transcribe", "language": self.language, "duration": duration, "text": f"w{n}",
                     "words": [{"word": f"w{n}", "start": 0.0, "end": duration}], "segments": []}
            data = json.dumps(reply).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        finally:
            with self.lock:
                self.active -= 1

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in():
    servers = []

    def start(**kw):
        servers.append(StandIn(**kw))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def openai_agent(url, **kw) -> AsrAgent:
    kw = {"backend": "openai", "base_url": url, "api_key": "test-key", **kw}
    agent = AsrAgent(AsrSettings(**kw))
    agent.setup()
    return agent


def test_openai_backend_retries_pipelines_with_a_bound_and_tiles_the_audio(stand_in, libri):
    _, pcm = libri
    server = stand_in(fail_first=2, gather=2)
    # VAD off: each request carries its whole region, so the received files must add up to the audio exactly.
    agent = openai_agent(server.url, window=2.0, vad=False, max_concurrency=2)
    pieces = chunks(pcm, 2.0)
    out = transcribe(agent, pieces)
    agent.close()
    assert_tiles(out, pieces, len(pcm) / 2 / RATE)
    ok = server.requests[2:]  # the two 503s were retried
    received = []
    for r in ok:
        with wave.open(io.BytesIO(r["form"]["file"])) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
            received.append(w.getnframes())
    assert sum(received) == len(pcm) // 2  # regions tile the audio: no sample sent twice or never
    assert len(ok) >= 4  # several regions, so several could be in flight
    assert server.max_active == 2  # pipelined (two gathered at the server), and never beyond max_concurrency
    first = server.requests[0]
    assert first["path"] == "/v1/audio/transcriptions"
    assert first["headers"]["authorization"] == "Bearer test-key"
    assert first["form"]["model"] == b"whisper-1"
    assert first["form"]["response_format"] == b"verbose_json"
    assert first["form"]["timestamp_granularities[]"] == b"word"
    # One word per region, starting where the region starts: absolute times, in the window where they start.
    starts = [w.start for t in out for w in t.words]
    assert len(starts) == len(ok) and starts[0] == 0.0
    assert all(t.language == "en" for t in out if t.words)
    assert all(t.model == "openai:whisper-1" for t in out)


def test_openai_backend_gives_error_records_when_retries_run_out(stand_in, libri):
    pcm = libri[0][1][0]
    server = stand_in(status=500)
    agent = openai_agent(server.url, retries=2)
    out = transcribe(agent, chunks(pcm, 10.0))
    assert len(server.requests) == 3  # the first try and two retries
    assert len(out) == 1 and "HTTP 500" in out[0].error and "\n" not in out[0].error

    server = stand_in(status=400)
    agent = openai_agent(server.url, retries=2)
    out = transcribe(agent, chunks(pcm, 10.0))
    assert len(server.requests) == 1 and "HTTP 400" in out[0].error  # a client error is not retried


def test_openai_backend_retries_connection_errors_then_reports(libri):
    agent = openai_agent("http://127.0.0.1:9/v1", retries=1)  # port 9 (discard): refused here
    out = transcribe(agent, chunks(libri[0][1][0], 10.0))
    assert len(out) == 1 and "after 2 attempts" in out[0].error


def test_openai_backend_speaks_azure(stand_in, libri):
    server = stand_in(language="de")
    agent = openai_agent(server.url + "/openai/deployments/whisper", api_version="2024-06-01", language="de")
    out = transcribe(agent, chunks(libri[0][1][0], 10.0))
    [req] = server.requests
    assert req["path"] == "/v1/openai/deployments/whisper/audio/transcriptions?api-version=2024-06-01"
    assert req["headers"]["api-key"] == "test-key" and "authorization" not in req["headers"]
    assert req["form"]["language"] == b"de" and out[0].language == "de" and out[0].error is None


def test_openai_backend_needs_a_key(monkeypatch):
    monkeypatch.delenv("SCENESTREAM_ASR_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="SCENESTREAM_ASR_API_KEY"):
        AsrAgent(AsrSettings(backend="openai")).setup()
    monkeypatch.setenv("SCENESTREAM_ASR_API_KEY", "from-env")
    assert AsrSettings(backend="openai").key() == "from-env"
