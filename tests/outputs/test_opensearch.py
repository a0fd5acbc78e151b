"""`scenestream index --opensearch` on a real OpenSearch 2.19.6 node (deploy/opensearch/start): the template and the
alias, real runs indexed and found, indexing again and replaying from Kafka change nothing, a node stopped in the
middle of a stream loses nothing, a document the mapping refuses goes to the dead letter. The settings' own checks
are pure functions at the end."""
import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading

import orjson
import pytest

from scenestream.agents.errors import ConfigError
from scenestream.streams.cli.main import main
from scenestream.streams.outputs import search_template as st
from scenestream.streams.outputs.opensearch import SearchSettings, read_chapters
from scenestream.streams.runtimes.kafka.admin import ensure_topics
from scenestream.streams.runtimes.kafka.settings import KafkaSettings
from tests import opensearch_node
from tests.outputs.conftest import records
from tests.outputs.test_kafka_outputs import publish


def client(url):
    from opensearchpy import OpenSearch

    return OpenSearch(hosts=[url], timeout=60)


def name() -> str:
    return f"test-{secrets.token_hex(4)}"


def all_docs(os_client, index: str) -> dict[str, dict]:
    """Every document of the alias: _id -> (_source, _version)."""
    os_client.indices.refresh(index=index)
    res = os_client.search(index=index, body={"query": {"match_all": {}}, "size": 1000, "version": True})
    assert res["hits"]["total"]["value"] < 1000
    return {h["_id"]: {"source": h["_source"], "version": h["_version"]} for h in res["hits"]["hits"]}


def top(os_client, index: str, query: dict) -> list[str]:
    return [h["_id"] for h in os_client.search(index=index, body={"query": query, "size": 3})["hits"]["hits"]]


def unique_caption_word(recs: list[dict]) -> tuple[str, str]:
    """A word (4+ letters) that the caption of exactly one scene has: (word, that scene's key)."""
    seen: dict[str, set[str]] = {}
    for r in recs:
        for w in {w.strip(".,").lower() for w in r["caption"].split()}:
            if w.isalpha() and len(w) > 3:
                seen.setdefault(w, set()).add(f"{r['video_id']}:{r['index']}")
    word, keys = sorted((w, k) for w, k in seen.items() if len(k) == 1)[0]
    return word, next(iter(keys))


@pytest.mark.slow
def test_real_runs_are_indexed_found_and_indexing_again_changes_nothing(opensearch, bikes_run, corpus_run, tmp_path,
                                                                         capsys):
    alias, oc = name(), client(opensearch)
    bikes, corpus = records(bikes_run), records(corpus_run)
    args = ["index", str(bikes_run), str(corpus_run), "--opensearch", opensearch, "--index", alias,
            "--dead-letter", str(tmp_path / "dead.jsonl")]
    assert main(args) == 0
    assert f"{len(bikes) + len(corpus)} scenes indexed, {len(bikes) + len(corpus)} in all" in capsys.readouterr().out
    assert not (tmp_path / "dead.jsonl").exists()

    # The mapping came from the template; the documents live in ALIAS-v1 behind the alias.
    assert oc.indices.get_alias(name=alias) == {f"{alias}-v1": {"aliases": {alias: {"is_write_index": True}}}}
    props = oc.indices.get_mapping(index=alias)[f"{alias}-v1"]["mappings"]["properties"]
    assert props["video_id"]["type"] == props["speaker_labels"]["type"] == props["object_labels"]["type"] == "keyword"
    assert props["caption"] == {"type": "text", "analyzer": "english"}
    assert props["start"]["type"] == props["duration"]["type"] == "double"
    assert props["emitted_at"] == {"type": "date", "format": "epoch_second"}
    assert props["transcript"]["properties"]["words"]["properties"]["speaker"]["type"] == "keyword"

    # The count equals the scenes, per video too (a terms aggregation: video_id is a keyword, not analysed text).
    assert oc.count(index=alias)["count"] == len(bikes) + len(corpus)
    aggs = oc.search(index=alias, body={"size": 0, "aggs": {"v": {"terms": {"field": "video_id"}}}})
    assert {b["key"]: b["doc_count"] for b in aggs["aggregations"]["v"]["buckets"]} == {
        "bikes": len(bikes), "corpus": len(corpus)}
    docs = all_docs(oc, alias)
    # Each scene with its chapter: the runs made chapters (DIR/chapters.json), and each scene falls in one.
    chaptered = [(r, read_chapters(run)) for run, recs in ((bikes_run, bikes), (corpus_run, corpus)) for r in recs]
    assert all(st.chapter_of(r, chs) for r, chs in chaptered)
    assert {k: d["source"] for k, d in docs.items()} == {f"{r['video_id']}:{r['index']}": st.document(
        r, st.chapter_of(r, chs)) for r, chs in chaptered}

    # Keyword queries find the right scene first: a caption word of one bikes scene; what the corpus says and shows
    # (the English analyser: "forecasts" finds "FORECAST", "winds" finds "winds", "spade" finds "spades").
    word, key = unique_caption_word(bikes)
    assert top(oc, alias, {"match": {"caption": word}})[0] == key
    fields = ["caption", "transcript.text", "on_screen_text", "object_labels.text", "sounds.text"]
    assert top(oc, alias, {"multi_match": {"query": "forecasts", "fields": fields}})[0] == "corpus:8"
    assert top(oc, alias, {"multi_match": {"query": "mayor bridge", "fields": fields}})[0] == "corpus:9"
    assert top(oc, alias, {"multi_match": {"query": "spade", "fields": fields}})[0] == "corpus:4"
    # Labels are exact keywords: a term query on each label finds exactly the scenes that have it ("Alarm" is not
    # "Alarm clock").
    for field, of in (("sounds", lambda r: {e["label"] for e in r["audio_events"]}),
                      ("object_labels", lambda r: set(r["objects"]))):
        labels = set().union(*map(of, bikes + corpus))
        assert labels or field == "object_labels"
        for label in labels:
            hits = oc.search(index=alias, body={"query": {"term": {field: label}}, "size": 100})["hits"]["hits"]
            assert {h["_id"] for h in hits} == {f"{r['video_id']}:{r['index']}" for r in bikes + corpus
                                                if label in of(r)}, (field, label)
    # Numbers and dates: the scene at 40 s of the corpus by a range on start; every scene was emitted in the past.
    assert top(oc, alias, {"bool": {"filter": [{"term": {"video_id": "corpus"}},
                                               {"range": {"start": {"lte": 40.5}}}, {"range": {"end": {"gt": 40.5}}}]}}
               ) == ["corpus:5"]
    assert oc.count(index=alias, body={"query": {"range": {"emitted_at": {"lte": "now"}}}})["count"] == len(docs)

    # Indexing again: the same documents, none added, no content changed (each was replaced by itself).
    assert main(args) == 0
    again = all_docs(oc, alias)
    assert {k: d["source"] for k, d in again.items()} == {k: d["source"] for k, d in docs.items()}
    assert all(d["version"] == 2 for d in again.values())  # written again under the same _id, not added

    # A rebuild writes ALIAS-v2 and moves the alias in one step; readers see the same scenes throughout.
    assert main([*args, "--rebuild"]) == 0
    assert oc.indices.get_alias(name=alias) == {f"{alias}-v2": {"aliases": {alias: {"is_write_index": True}}}}
    assert {k: d["source"] for k, d in all_docs(oc, alias).items()} == {k: d["source"] for k, d in docs.items()}
    assert oc.count(index=f"{alias}-v1")["count"] == len(docs)  # kept until deleted by hand
    oc.indices.delete(index=f"{alias}-v*")


@pytest.mark.slow
def test_a_document_the_mapping_refuses_goes_to_the_dead_letter(opensearch, bikes_run, tmp_path, capsys):
    alias, oc = name(), client(opensearch)
    run = tmp_path / "run"
    shutil.copytree(bikes_run, run)
    recs = records(run)
    bad_time = dict(recs[1], index=101, start="soon")
    bad_date = dict(recs[2], index=102, emitted_at="yesterday at noon")
    with open(run / "captions.jsonl", "ab") as f:
        f.write(orjson.dumps(bad_time) + b"\n" + orjson.dumps(bad_date) + b"\n")
    # The run made chapters: each scene's document carries its chapter.
    last = recs[-1]["index"]
    chapters = [{"video_id": "bikes", "index": 0, "start": recs[0]["start"], "end": recs[2]["end"],
                 "title": "Riders at the start", "scenes": [0, 2]},
                {"video_id": "bikes", "index": 1, "start": recs[3]["start"], "end": recs[-1]["end"],
                 "title": "The finish line", "scenes": [3, last]}]
    (run / "chapters.json").write_bytes(orjson.dumps(chapters))
    dead = tmp_path / "dead.jsonl"
    assert main(["index", str(run), "--opensearch", opensearch, "--index", alias, "--dead-letter", str(dead)]) == 0
    out = capsys.readouterr()
    assert f"{len(recs)} scenes indexed, 2 rejected (in {dead}), {len(recs)} in all" in out.out
    assert "rejected bikes:101: mapper_parsing_exception" in out.err

    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(d["key"], d["status"]) for d in letters] == [("bikes:101", 400), ("bikes:102", 400)]
    assert "[start]" in letters[0]["reason"] and "[emitted_at]" in letters[1]["reason"]
    assert [d["record"] for d in letters] == [bad_time, bad_date]  # the record whole, to fix and send again
    docs = all_docs(oc, alias)
    assert sorted(docs) == sorted(f"bikes:{r['index']}" for r in recs)
    assert docs["bikes:1"]["source"]["chapter"] == {"index": 0, "title": "Riders at the start",
                                                     "start": recs[0]["start"], "end": recs[2]["end"]}
    assert docs[f"bikes:{last}"]["source"]["chapter"]["index"] == 1
    assert top(oc, alias, {"match": {"chapter.title": "finishing"}})[0] in {f"bikes:{i}" for i in range(3, last + 1)}
    oc.indices.delete(index=f"{alias}-v*")


@pytest.mark.slow
def test_kafka_replay_changes_no_document(opensearch, broker, bikes_run, corpus_run, tmp_path, capsys):
    alias, oc = name(), client(opensearch)
    settings = KafkaSettings.from_env(broker=broker, prefix=f"scenestream-test-search-{secrets.token_hex(3)}.")
    asyncio.run(ensure_topics(settings, ("captions",)))
    recs = records(bikes_run) + records(corpus_run)
    asyncio.run(publish(settings, recs))
    common = ["index", "--kafka", "--opensearch", opensearch, "--index", alias, "--broker", broker,
              "--prefix", settings.prefix, "--idle-timeout", "3", "--dead-letter", str(tmp_path / "dead.jsonl")]
    assert main(common) == 0
    assert f"{len(recs)} scenes indexed, {len(recs)} in all" in capsys.readouterr().out
    first = all_docs(oc, alias)
    assert {k: d["source"] for k, d in first.items()} == {f"{r['video_id']}:{r['index']}": st.document(r)
                                                          for r in recs}
    # The pipeline replays (the same records again): the group reads only those, the documents stay as they were.
    asyncio.run(publish(settings, recs[:4]))
    assert main(common) == 0
    assert f"4 scenes indexed, {len(recs)} in all" in capsys.readouterr().out
    # A new group reads the whole topic again: still the same documents.
    assert main([*common, "--group", f"{settings.prefix}other"]) == 0
    assert f"{len(recs) + 4} scenes indexed, {len(recs)} in all" in capsys.readouterr().out
    again = all_docs(oc, alias)
    assert {k: d["source"] for k, d in again.items()} == {k: d["source"] for k, d in first.items()}
    assert not (tmp_path / "dead.jsonl").exists()
    oc.indices.delete(index=f"{alias}-v*")


async def publish_chapters(settings: KafkaSettings, chapters: list[dict]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, acks="all")
    await producer.start()
    try:
        for c in chapters:  # as the joiner writes them: key video_id:index
            await producer.send_and_wait(settings.topic("chapters"), orjson.dumps(c),
                                         key=f"{c['video_id']}:{c['index']}".encode())
    finally:
        await producer.stop()


def run_chapters(run) -> list[dict]:
    """The run folder's chapters as the `chapters` topic carries them (schemas.Chapter: with the video id)."""
    video = records(run)[0]["video_id"]
    found = [{"video_id": video, **c} for c in read_chapters(run)]
    assert found, f"{run} made no chapters"
    return found


def test_kafka_chapters_reach_their_scenes_whichever_comes_first_and_after_a_restart(opensearch, broker, bikes_run,
                                                                                      corpus_run, tmp_path, capsys):
    alias, oc = name(), client(opensearch)
    settings = KafkaSettings.from_env(broker=broker, prefix=f"scenestream-test-search-{secrets.token_hex(3)}.")
    asyncio.run(ensure_topics(settings, ("captions", "chapters")))
    bikes, corpus = records(bikes_run), records(corpus_run)
    bikes_chapters, corpus_chapters = run_chapters(bikes_run), run_chapters(corpus_run)
    half = len(corpus) // 2
    common = ["index", "--kafka", "--opensearch", opensearch, "--index", alias, "--broker", broker,
              "--prefix", settings.prefix, "--idle-timeout", "3", "--dead-letter", str(tmp_path / "dead.jsonl")]
    # First the corpus video's chapters, before any of its scenes (a sink catching up reads them so), and half of
    # its scenes; bikes' scenes without their chapter yet.
    asyncio.run(publish_chapters(settings, corpus_chapters))
    asyncio.run(publish(settings, corpus[:half] + bikes))
    assert main(common) == 0
    capsys.readouterr()
    # The sink is gone and started again: the rest of the corpus video's scenes, whose chapters it read before it
    # stopped, and bikes' chapter, after its scenes.
    asyncio.run(publish(settings, corpus[half:]))
    broken = {**bikes_chapters[0], "index": 99, "scenes": []}  # no scene range: a chapter of nothing
    asyncio.run(publish_chapters(settings, [*bikes_chapters, broken]))
    assert main(common) == 0
    out = capsys.readouterr().out
    assert f"{len(corpus) - half} scenes indexed, 1 rejected" in out and f"{len(corpus) + len(bikes)} in all" in out
    docs = all_docs(oc, alias)
    want = {f"{r['video_id']}:{r['index']}": st.document(r, st.chapter_of(r, chs))
            for recs, chs in ((bikes, bikes_chapters), (corpus, corpus_chapters)) for r in recs}
    assert all(w["chapter"] is not None for w in want.values())
    assert {k: d["source"] for k, d in docs.items()} == want
    # The chapters are searchable in their own index.
    oc.indices.refresh(index=f"{alias}-chapters")
    kept = oc.search(index=f"{alias}-chapters", body={"query": {"match_all": {}}, "size": 100})["hits"]["hits"]
    assert sorted(h["_id"] for h in kept) == sorted(f"{c['video_id']}:{c['index']}"
                                                      for c in bikes_chapters + corpus_chapters)
    title = corpus_chapters[-1]["title"].split()[0]
    assert top(oc, f"{alias}-chapters", {"match": {"title": title}})[0].startswith(corpus[0]["video_id"])
    (dead,) = [orjson.loads(x) for x in (tmp_path / "dead.jsonl").read_bytes().splitlines()]
    assert dead["source"].startswith(settings.topic("chapters")) and "scenes must be [first, last]" in dead["reason"]
    oc.indices.delete(index=f"{alias}-v*,{alias}-chapters")


class Sink:
    """`scenestream index --kafka --opensearch` as its own process, its stderr read line by line: the test waits
    for what it says (indexed N, waiting for OpenSearch), not for time to pass."""

    def __init__(self, args: list[str], cwd):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "scenestream.streams.cli.main", "index", *args], cwd=cwd,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.lines.append("<exit>")
            self.changed.notify_all()

    def wait_for(self, text: str, timeout: float = 180) -> None:
        with self.changed:
            ok = self.changed.wait_for(lambda: any(text in line for line in self.lines) or "<exit>" in self.lines,
                                       timeout)
        found = any(text in line for line in self.lines)
        assert ok and found, f"the sink never said {text!r}; it said:\n" + "\n".join(self.lines[-30:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


def committed(settings: KafkaSettings, group: str) -> int:
    """The group's committed offsets on the captions topic, summed over its partitions."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def ask() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
            return sum(o.offset for tp, o in offsets.items() if tp.topic == settings.topic("captions") and o.offset > 0)
        finally:
            await admin.close()

    return asyncio.run(ask())


def renamed(recs: list[dict], prefix: str) -> list[dict]:
    """The real records as another video each (bikes and corpus share scene indexes: their ids stay apart)."""
    return [dict(r, video_id=f"{prefix}-{r['video_id']}") for r in recs]


@pytest.mark.slow
def test_a_node_stopped_mid_stream_loses_nothing_and_the_sink_resumes_from_its_commit(broker, bikes_run, corpus_run,
                                                                                       tmp_path):
    data = tmp_path / "node"
    url = opensearch_node.start(data)  # a node of this test's own: it is stopped and started again
    sink = None
    try:
        alias, oc = name(), client(url)
        settings = KafkaSettings.from_env(broker=broker, prefix=f"scenestream-test-search-{secrets.token_hex(3)}.")
        asyncio.run(ensure_topics(settings, ("captions",)))
        real = records(bikes_run) + records(corpus_run)
        phases = [renamed(real, f"p{p}-{i}") for p in range(3) for i in range(3)]  # 9 videos of the real scenes
        one, two, three = (sum(phases[3 * p:3 * p + 3], []) for p in range(3))
        group = f"{settings.prefix}search-sink"
        args = ["--kafka", "--opensearch", url, "--index", alias, "--broker", broker, "--prefix", settings.prefix,
                "--group", group, "--retry-for", "300", "--dead-letter", str(tmp_path / "dead.jsonl")]

        asyncio.run(publish(settings, one))
        sink = Sink([*args, "--idle-timeout", "600"], tmp_path)
        sink.wait_for(f"indexed {len(one)} scenes")
        assert committed(settings, group) == len(one)

        # The node goes away while the stream goes on: the sink waits, commits nothing it could not write...
        opensearch_node.stop(data)
        asyncio.run(publish(settings, two))
        sink.wait_for("waiting for OpenSearch")
        assert committed(settings, group) == len(one)
        # ...and once the node is back (same data dir, same URL), writes and commits the rest.
        assert opensearch_node.start(data) == url
        sink.wait_for(f"indexed {len(one) + len(two)} scenes")
        assert committed(settings, group) == len(one) + len(two)

        # Away again, and this time the sink is killed while it waits: a new sink resumes from the committed offset.
        with sink.changed:
            sink.lines.clear()  # before the stop: the sink may say it waits before publish returns
        opensearch_node.stop(data)
        asyncio.run(publish(settings, three))
        sink.wait_for("waiting for OpenSearch")
        sink.proc.send_signal(signal.SIGKILL)
        sink.close()
        assert committed(settings, group) == len(one) + len(two)
        assert opensearch_node.start(data) == url
        again = Sink([*args, "--idle-timeout", "5"], tmp_path)
        assert again.proc.wait(300) == 0
        out = again.proc.stdout.read()
        again.close()
        assert f"{len(three)} scenes indexed, {len(one) + len(two) + len(three)} in all" in out  # only the rest

        docs = all_docs(oc, alias)
        assert {k: d["source"] for k, d in docs.items()} == {f"{r['video_id']}:{r['index']}": st.document(r)
                                                             for r in one + two + three}
        assert {d["version"] for d in docs.values()} == {1}  # each written once: nothing acknowledged was re-read
        assert committed(settings, group) == len(one) + len(two) + len(three)
    finally:
        if sink is not None:
            sink.close()
        opensearch_node.stop(data, purge=True)


# ------------------------------------------------------------------ settings, names, chapters: pure functions


def test_settings_make_the_client_arguments(tmp_path, monkeypatch):
    monkeypatch.delenv("SCENESTREAM_OPENSEARCH_API_KEY", raising=False)
    monkeypatch.setenv("SCENESTREAM_OPENSEARCH_PASSWORD", "s3cret")
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    kw = SearchSettings.from_env(url="https://search.example:9200", user="ingest", ca_certs=str(ca)).client_kwargs()
    assert kw["http_auth"] == ("ingest", "s3cret") and kw["use_ssl"] and kw["verify_certs"]
    assert kw["ca_certs"] == str(ca) and kw["max_retries"] == 0 and "headers" not in kw
    assert "s3cret" not in repr(SearchSettings.from_env(url="http://127.0.0.1:9200", user="ingest"))
    monkeypatch.delenv("SCENESTREAM_OPENSEARCH_PASSWORD")
    monkeypatch.setenv("SCENESTREAM_OPENSEARCH_API_KEY", "id1:key1")
    kw = SearchSettings.from_env(url="https://search.example:9200", insecure=True).client_kwargs()
    assert kw["headers"] == {"Authorization": "ApiKey aWQxOmtleTE="} and kw["verify_certs"] is False
    assert "http_auth" not in kw
    monkeypatch.setenv("SCENESTREAM_OPENSEARCH_API_KEY", "aWQxOmtleTE=")  # already encoded: sent as it is
    assert SearchSettings.from_env(url="http://127.0.0.1:9200").client_kwargs()["headers"] == {
        "Authorization": "ApiKey aWQxOmtleTE="}
    assert "verify_certs" not in SearchSettings.from_env(url="http://127.0.0.1:9200").client_kwargs()


@pytest.mark.parametrize("overrides, message", [
    ({"url": "127.0.0.1:9200"}, "give http://HOST:PORT"),
    ({"url": "ftp://127.0.0.1"}, "give http://HOST:PORT"),
    ({"url": "http://127.0.0.1:x"}, "port is not a number"),
    ({"url": "http://127.0.0.1:9200", "index": "Scenes"}, "lowercase"),
    ({"url": "http://127.0.0.1:9200", "index": "scenes-v3"}, "without -vN"),
    ({"url": "http://127.0.0.1:9200", "user": "ingest"}, "SCENESTREAM_OPENSEARCH_PASSWORD"),
    ({"url": "http://127.0.0.1:9200", "insecure": True}, "need an https:// URL"),
    ({"url": "https://127.0.0.1:9200", "ca_certs": "/no/such/ca.pem"}, "no such file"),
    ({"url": "https://127.0.0.1:9200", "batch": 0}, "batch must be at least 1"),
])
def test_bad_settings_are_one_line(overrides, message, monkeypatch):
    monkeypatch.delenv("SCENESTREAM_OPENSEARCH_PASSWORD", raising=False)
    monkeypatch.delenv("SCENESTREAM_OPENSEARCH_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=message):
        SearchSettings.from_env(**overrides)


def test_index_versions_and_chapters():
    assert st.version_name("scenes", 3) == "scenes-v3" and st.version_of("scenes-v12", "scenes") == 12
    assert st.version_of("scenes-v1-old", "scenes") is None and st.version_of("other-v1", "scenes") is None
    assert st.template("scenes")["index_patterns"] == ["scenes-v*"] and "aliases" not in st.template("scenes")
    chapters = [{"video_id": "a", "index": 0, "start": 0.0, "end": 10.0, "title": "One", "scenes": [0, 1]},
                {"video_id": "a", "index": 1, "start": 10.0, "end": 30.0, "title": "Two"},  # no scene range: times
                {"video_id": "a", "index": 2, "start": "broken"}]
    assert st.chapter_of({"video_id": "a", "index": 1, "start": 9.0}, chapters)["title"] == "One"
    assert st.chapter_of({"video_id": "a", "index": 5, "start": 12.0}, chapters)["title"] == "Two"
    assert st.chapter_of({"video_id": "b", "index": 1, "start": 9.0}, chapters) is None  # another video's
    assert st.chapter_of({"video_id": "a", "index": 9, "start": 99.0}, chapters) is None
