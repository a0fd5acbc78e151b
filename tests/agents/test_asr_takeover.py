"""A worker that takes a video over mid-way (Kafka rebalance, crash) sees only its later audio chunks: it must
transcribe them and finish the video instead of waiting for earlier chunks that will never come."""
from tests.agents.test_asr import chunks, make_agent, pcm16k
from tests import media


def test_a_late_start_finishes_when_the_last_chunk_arrives():
    wav, _ = media.librivox()[0]
    pieces = chunks(pcm16k(wav), 1.0)
    agent = make_agent()
    late = pieces[3:]  # chunks 0-2 went to a worker that died
    out = [t for c in late for t in agent.process(c)]
    assert [t.index for t in out] == list(range(len(pieces)))  # every window is covered, ending with the last
    assert out[-1].last
    assert all(t.error and "never arrived" in t.error for t in out[:3])
    assert any(w for t in out[3:] for w in t.words)  # the audio it did get was transcribed
