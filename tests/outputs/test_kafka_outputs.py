"""The outputs fed from the live captions topic, on the real broker: `index --kafka` as a consumer group (a restart
resumes, a replayed scene changes nothing) and `export --kafka`."""
import asyncio
import secrets

import orjson
import pytest

from scenestream.streams.cli.main import main
from scenestream.streams.runtimes.kafka.admin import ensure_topics
from scenestream.streams.runtimes.kafka.settings import KafkaSettings
from scenestream.streams.outputs import bulk, sources
from scenestream.streams.outputs.index import SceneIndex
from tests.outputs.conftest import records


async def publish(settings: KafkaSettings, recs: list[dict]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, acks="all")
    await producer.start()
    try:
        for r in recs:  # as the joiner writes them: key video_id:index, the record as JSON
            await producer.send_and_wait(settings.topic("captions"), orjson.dumps(r),
                                         key=f"{r['video_id']}:{r['index']}".encode())
    finally:
        await producer.stop()


async def drain(settings: KafkaSettings, group: str) -> list[dict]:
    got = []
    async for batch in sources.follow_captions(settings, group, idle_timeout=3):
        got += batch
    return got


@pytest.mark.slow
def test_index_follows_the_captions_topic_as_a_consumer_group(broker, synth_run, corpus_run, tmp_path, capsys):
    settings = KafkaSettings.from_env(broker=broker, prefix=f"scenestream-test-outputs-{secrets.token_hex(3)}.")
    asyncio.run(ensure_topics(settings, ("captions",)))
    first, later = records(synth_run), records(corpus_run)[:2]
    asyncio.run(publish(settings, first))
    db = tmp_path / "live.db"
    common = ["--db", str(db), "--broker", broker, "--prefix", settings.prefix, "--idle-timeout", "3"]
    assert main(["index", "--kafka", *common]) == 0
    err = capsys.readouterr().err
    group = sources.default_group(settings, db)
    assert f"as group {group}" in err
    with SceneIndex(db) as ix:
        assert ix.count() == len(first)
    # New scenes and a replay of one already indexed: the group resumes after what it committed, and the replay
    # changes nothing.
    asyncio.run(publish(settings, later + first[:1]))
    assert main(["index", "--kafka", *common]) == 0
    assert f"indexed {len(later)} new or changed scenes ({len(first) + len(later)} in all)" in capsys.readouterr().err
    with SceneIndex(db) as ix:
        assert ix.count() == len(first) + len(later)
        assert ix.record("corpus", 1) == later[1]
    # Nothing left for this group; a new group reads everything the topic keeps.
    assert asyncio.run(drain(settings, group)) == []
    assert len(asyncio.run(drain(settings, group + "-other"))) == len(first) + len(later) + 1

    out = tmp_path / "topic.ndjson"
    assert main(["export", "--kafka", "--format", "bulk", "--out", str(out), "--broker", broker,
                 "--prefix", settings.prefix]) == 0
    ids = [a["index"]["_id"] for a, _ in bulk.read_bulk(out.read_bytes().splitlines())]
    assert sorted(ids) == sorted({f"{r['video_id']}:{r['index']}" for r in first + later})  # the replay once
    vtt = tmp_path / "synth.vtt"
    assert main(["export", "--kafka", "--format", "vtt", "--video-id", "synth", "--out", str(vtt),
                 "--broker", broker, "--prefix", settings.prefix]) == 0
    assert vtt.read_text() == (synth_run / "captions.vtt").read_text()
