"""Scene records into an OpenSearch (or Elasticsearch 8/9) cluster, with opensearch-py: the index template and the
alias (search_template.py), bulk writes with retries and backoff, rejected documents to a dead letter.

    settings = SearchSettings.from_env(url="http://127.0.0.1:9200", index="scenestream-scenes")
    with SearchIndex(settings) as ix:
        ix.prepare()               # template, NAME-v1 behind alias NAME (or the alias as it is)
        ix.write(records)          # returns once the cluster has acknowledged every document, or raises
        ix.finish()                # refresh (and, after prepare(rebuild=True), move the alias)

Every document is an `index` action with `_id` = video_id:index, so writing a record again (a re-index, a Kafka
replay) replaces the scene's document instead of adding one. `write` is at-least-once and blocking: a cluster that
cannot be reached, or answers 429/5xx, is retried with exponential backoff (1 s doubling to 30 s) for
`retry_for` seconds, then `SearchUnavailable` is raised; only a document the cluster rejects for what it is (a 4xx
such as mapper_parsing_exception) goes to the dead letter, a JSON-lines file, with the reason. So a caller that
commits Kafka offsets after `write` returns never commits a scene that is neither indexed nor in the dead letter.
"""
from __future__ import annotations

import base64
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import orjson

from scenestream.agents.errors import ConfigError
from scenestream.streams.outputs import search_template as st
from scenestream.streams.outputs.sinks import Sink

DEFAULT_DEAD_LETTER = "scenestream-dead-letter.jsonl"
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # seconds between whole-batch retries while the cluster is away


class SearchUnavailable(RuntimeError):
    """The cluster did not take a batch within `retry_for` seconds (down, unreachable, or overloaded)."""


@dataclass
class SearchSettings:
    url: str  # http(s)://host:port[/path]
    index: str = st.DEFAULT_INDEX  # the alias readers query; writes go to INDEX-vN behind it
    user: str | None = None  # basic auth, with the password from SCENESTREAM_OPENSEARCH_PASSWORD
    password: str | None = field(default=None, repr=False)
    # An API key, sent as `Authorization: ApiKey KEY` (Elasticsearch's scheme; OpenSearch's security plugin uses
    # basic auth or its own tokens). KEY is the encoded key the cluster gives, or "id:key", encoded here.
    api_key: str | None = field(default=None, repr=False)
    ca_certs: str | None = None  # PEM bundle that signed the cluster's certificate (default: the system's)
    client_cert: str | None = None  # mutual TLS
    client_key: str | None = None
    insecure: bool = False  # https without certificate checks: development clusters with self-signed certificates
    timeout: float = 30.0  # seconds per request
    batch: int = 500  # documents per _bulk request
    batch_bytes: int = 10 * 1024 * 1024  # and at most this many bytes (clusters refuse bodies over 100 MB)
    retry_for: float = 300.0  # seconds a batch is retried while the cluster is away, before giving up
    dead_letter: str = DEFAULT_DEAD_LETTER  # JSON lines, appended; made only when a document is rejected

    @classmethod
    def from_env(cls, **overrides) -> "SearchSettings":
        """Secrets from the environment (never a flag: a command line is visible to every user of the machine),
        then `overrides` that are not None."""
        env = {"password": os.environ.get("SCENESTREAM_OPENSEARCH_PASSWORD") or None,
               "api_key": os.environ.get("SCENESTREAM_OPENSEARCH_API_KEY") or None}
        values = {**env, **{k: v for k, v in overrides.items() if v is not None}}
        if "url" not in values:
            raise ConfigError("no OpenSearch URL (give --opensearch URL)")
        return cls(**values).checked()

    def checked(self) -> "SearchSettings":
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"OpenSearch URL {self.url!r}: give http://HOST:PORT or https://HOST:PORT")
        try:
            parts.port
        except ValueError:
            raise ConfigError(f"OpenSearch URL {self.url!r}: the port is not a number") from None
        st.check_name(self.index)
        if self.user and not self.password:
            raise ConfigError("--user needs the password in SCENESTREAM_OPENSEARCH_PASSWORD")
        if self.password and not self.user and not parts.username:
            raise ConfigError("SCENESTREAM_OPENSEARCH_PASSWORD is set but no --user is given")
        if self.user and self.api_key:
            raise ConfigError("give basic auth (--user) or an API key (SCENESTREAM_OPENSEARCH_API_KEY), not both")
        if parts.scheme == "http" and (self.ca_certs or self.client_cert or self.insecure):
            raise ConfigError("TLS options (--ca-certs, --client-cert, --insecure) need an https:// URL")
        if self.client_key and not self.client_cert:
            raise ConfigError("--client-key needs --client-cert")
        for path in (self.ca_certs, self.client_cert, self.client_key):
            if path and not Path(path).expanduser().is_file():
                raise ConfigError(f"{path}: no such file")
        if self.batch < 1 or self.batch_bytes < 1024 or self.timeout <= 0 or self.retry_for < 0:
            raise ConfigError("batch must be at least 1, batch_bytes at least 1024, timeout above 0, retry_for >= 0")
        return self

    def with_(self, **changes) -> "SearchSettings":
        return replace(self, **changes).checked()

    def client_kwargs(self) -> dict:
        """Keyword arguments of opensearchpy.OpenSearch for these settings."""
        kwargs: dict = {
            "hosts": [self.url],
            "timeout": self.timeout,
            # No retries in the transport: it retries at once, without waiting; `write` retries whole batches
            # with backoff instead, and tells the caller when it gives up.
            "max_retries": 0,
            "retry_on_timeout": False,
            "http_compress": True,  # _bulk bodies are repetitive JSON: gzip makes them several times smaller
        }
        if self.user:
            kwargs["http_auth"] = (self.user, self.password)
        if self.api_key:
            key = self.api_key
            if ":" in key:  # "id:key" as Elasticsearch's create-API-key answer lists them; the header wants it encoded
                key = base64.b64encode(key.encode()).decode()
            kwargs["headers"] = {"Authorization": f"ApiKey {key}"}
        if self.url.startswith("https://"):
            kwargs["use_ssl"] = True
            kwargs["verify_certs"] = not self.insecure
            kwargs["ssl_show_warn"] = not self.insecure  # --insecure is a choice, not news on every request
            if self.ca_certs:
                kwargs["ca_certs"] = str(Path(self.ca_certs).expanduser())
            if self.client_cert:
                kwargs["client_cert"] = str(Path(self.client_cert).expanduser())
                if self.client_key:
                    kwargs["client_key"] = str(Path(self.client_key).expanduser())
        return kwargs


@dataclass
class Written:
    """What one `write` did: documents the cluster acknowledged, and documents sent to the dead letter."""

    indexed: int = 0
    rejected: int = 0


def _stderr(line: str) -> None:
    print(f"scenestream: {line}", file=sys.stderr, flush=True)


def _reason(error) -> str:
    """One line from a bulk item's error: its type and reason, and what caused it."""
    if not isinstance(error, dict):
        return str(error)
    text = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    cause = error.get("caused_by")
    if isinstance(cause, dict):
        text += f" (caused by {cause.get('type', '')}: {cause.get('reason', '')})"
    return text


class SearchIndex:
    """One alias of one cluster: prepared once, then written to in batches."""

    def __init__(self, settings: SearchSettings, log: Callable[[str], None] | None = _stderr,
                 warn: Callable[[str], None] = _stderr):
        """`log` says what is made and moved (None: nothing); `warn` says what goes wrong: a cluster away, a
        document rejected."""
        try:
            from opensearchpy import OpenSearch
        except ImportError:
            raise ConfigError("the OpenSearch sink needs opensearch-py: pip install opensearch-py") from None
        self.s = settings
        self.log = log or (lambda line: None)
        self.warn = warn
        self.client = OpenSearch(**settings.client_kwargs())
        self.alias = settings.index
        self.target = settings.index  # where writes go: the alias, or the new version during a rebuild
        self.replaces: str | None = None  # the version a rebuild replaces
        self.dead_letter = Path(settings.dead_letter).expanduser()
        self.dead_letters = 0

    def __enter__(self) -> "SearchIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ the template, the index and the alias

    def _call(self, what: str, fn: Callable, *args, **kwargs):
        """One request, retried with backoff while the cluster is away (see `_retrying`)."""
        return self._retrying(what, lambda: fn(*args, **kwargs))

    def _retrying(self, what: str, attempt: Callable):
        # By hand: opensearch-py's transport retries without waiting and its bulk helper backs off only on 429; a
        # cluster that restarts needs seconds to minutes, and the caller must learn when we give up.
        from opensearchpy.exceptions import ConnectionError as ConnError, TransportError

        deadline = time.monotonic() + self.s.retry_for
        delay = BACKOFF_FIRST
        waiting = False
        while True:
            try:
                result = attempt()
                if waiting:
                    self.warn(f"OpenSearch at {self.s.url} answers again")
                return result
            except TransportError as exc:
                status = exc.status_code if isinstance(exc.status_code, int) else None
                if not (isinstance(exc, ConnError) or status in (429, 502, 503, 504)):
                    raise
                if time.monotonic() + delay > deadline:
                    raise SearchUnavailable(f"OpenSearch at {self.s.url} did not take {what} within "
                                            f"{self.s.retry_for:g} s ({type(exc).__name__}: {exc})") from None
                if not waiting:
                    self.warn(f"waiting for OpenSearch at {self.s.url} ({what}: {type(exc).__name__}); "
                             f"retrying for up to {self.s.retry_for:g} s")
                    waiting = True
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    def prepare(self, rebuild: bool = False) -> str:
        """Put the template (every time: it is idempotent, and a newer TEMPLATE_VERSION replaces the old), then
        make ALIAS-v1 behind the alias if there is no alias yet. With `rebuild`, make the next version beside the
        current one and write there; `finish` moves the alias. Returns the index written to."""
        from opensearchpy.exceptions import NotFoundError, RequestError

        ic = self.client.indices
        self._call("the index template", ic.put_index_template, name=self.alias, body=st.template(self.alias))
        try:
            current = self._call("the alias", ic.get_alias, name=self.alias)
        except NotFoundError:
            current = {}
        if not current and self._call("the index", ic.exists, index=self.alias):
            raise ConfigError(f"{self.alias} is an index, not an alias (loaded by hand, e.g. from `export --format "
                              "bulk`?): delete it, or choose another --index")
        versions = [v for name in self._call("the index list", ic.get, index=f"{self.alias}-v*",
                                             expand_wildcards="open,closed")
                    if (v := st.version_of(name, self.alias)) is not None]
        if current and not rebuild:
            return self.target
        new = st.version_name(self.alias, max(versions, default=0) + 1)
        body: dict = {}  # settings and mappings come from the template
        if not current:
            body["aliases"] = {self.alias: {"is_write_index": True}}
        try:
            self._call("a new index", ic.create, index=new, body=body)
        except RequestError as exc:
            if exc.error != "resource_already_exists_exception":
                raise
            if not current:  # another process made it first: put the alias, as it would have
                self._call("the alias", ic.put_alias, index=new, name=self.alias, body={"is_write_index": True})
        if current:
            self.target, self.replaces = new, self._write_index(current)
            self.log(f"rebuilding {self.alias} in {new} (it now points at {self.replaces})")
        else:
            self.log(f"made {new} behind the alias {self.alias}")
        return self.target

    def _write_index(self, aliases: dict) -> str:
        names = sorted(aliases)
        for name in names:
            if aliases[name].get("aliases", {}).get(self.alias, {}).get("is_write_index"):
                return name
        return names[-1]

    def finish(self) -> None:
        """Make what was written searchable now (not within the refresh interval) and, after a rebuild, point the
        alias at the new version in one atomic `_aliases` call. The old version stays until deleted by hand."""
        ic = self.client.indices
        self._call("a refresh", ic.refresh, index=self.target)
        if self.replaces is not None:
            actions = [{"remove": {"index": self.replaces, "alias": self.alias}},
                       {"add": {"index": self.target, "alias": self.alias, "is_write_index": True}}]
            self._call("the alias swap", ic.update_aliases, body={"actions": actions})
            self.log(f"{self.alias} now points at {self.target}; {self.replaces} is kept (delete it when done: "
                     f"curl -X DELETE {self.s.url.rstrip('/')}/{self.replaces})")
            self.replaces = None
            self.target = self.alias

    def count(self) -> int:
        return int(self._call("a count", self.client.count, index=self.alias)["count"])

    # ------------------------------------------------------------------ writing

    def write(self, records: Iterable[dict], chapters: list[dict] | None = None,
              unreadable: Iterable[tuple[str, str, str]] = ()) -> Written:
        """Index the records (each with its chapter, if `chapters` has one) and return once every document is
        acknowledged or in the dead letter. `unreadable` are (where, reason, raw) of inputs that are no record at
        all: they go to the dead letter as they are."""
        from opensearchpy.helpers import streaming_bulk

        done = Written()
        dead: list[dict] = [{"source": where, "reason": reason, "record": raw} for where, reason, raw in unreadable]
        by_id: dict[str, dict] = {}
        actions: list[dict] = []
        for rec in records:
            try:
                key = f"{rec['video_id']}:{rec['index']}"
                doc = st.document(rec, st.chapter_of(rec, chapters) if chapters else None)
            except Exception as exc:  # noqa: BLE001 - a record we cannot even shape must not stop the others
                dead.append({"key": _key_or_none(rec), "reason": f"not a scene record ({type(exc).__name__}: "
                                                                   f"{exc})", "record": rec})
                continue
            by_id[key] = rec
            actions.append({"_op_type": "index", "_index": self.target, "_id": key, "_source": doc})

        deadline = time.monotonic() + self.s.retry_for
        pending = actions
        while pending:
            retry: list[dict] = []

            def attempt():
                # Each attempt counts afresh: a batch cut off half-way is sent whole again (same _ids: no copies).
                ok, again, refused = 0, [], []
                for success, item in streaming_bulk(
                        self.client, pending, chunk_size=self.s.batch, max_chunk_bytes=self.s.batch_bytes,
                        raise_on_error=False, raise_on_exception=True, max_retries=3,
                        initial_backoff=1, max_backoff=int(BACKOFF_MAX)):
                    result = item.get("index", item)
                    if success:
                        ok += 1
                    elif result.get("status") in (429, 502, 503, 504):
                        again.append(result["_id"])  # the cluster is busy, not the document wrong
                    else:
                        refused.append(result)
                return ok, again, refused

            ok, again, refused = self._retrying(f"a batch of {len(pending)} scenes", attempt)
            done.indexed += ok
            for result in refused:
                key = result.get("_id")
                dead.append({"key": key, "status": result.get("status"), "reason": _reason(result.get("error")),
                             "record": by_id.get(key)})
            if again:
                if time.monotonic() > deadline:
                    raise SearchUnavailable(f"OpenSearch at {self.s.url} kept refusing {len(again)} scenes as busy "
                                            f"for {self.s.retry_for:g} s")
                retry = [a for a in pending if a["_id"] in set(again)]
                self.warn(f"{len(retry)} scenes refused as busy (429/5xx) after the helper's retries: sending again")
                time.sleep(BACKOFF_FIRST)
            pending = retry
        if dead:
            self._dead_letter(dead)
            done.rejected = len(dead)
        return done

    # ------------------------------------------------------------------ chapters from the Kafka topic

    @property
    def chapters_index(self) -> str:
        return st.chapters_index(self.alias)

    def prepare_chapters(self) -> None:
        """Make ALIAS-chapters (its own mapping, search_template.CHAPTER_MAPPINGS) unless it is there."""
        from opensearchpy.exceptions import RequestError

        ic = self.client.indices
        if self._call("the chapters index", ic.exists, index=self.chapters_index):
            return
        try:
            self._call("the chapters index", ic.create, index=self.chapters_index,
                       body={"mappings": st.CHAPTER_MAPPINGS})
            self.log(f"made {self.chapters_index} for the chapters topic")
        except RequestError as exc:
            if exc.error != "resource_already_exists_exception":  # another sink made it first: as good
                raise

    def write_chapters(self, chapters: list[dict]) -> int:
        """Keep the chapters (schemas.Chapter dicts) in ALIAS-chapters, searchable at once, and put each on the
        scenes of its range that are indexed already; a scene indexed later finds its chapter with `chapters_for`.
        Returns the number of scene documents updated. Raises SearchUnavailable like `write`."""
        from opensearchpy.helpers import bulk as bulk_helper

        if not chapters:
            return 0
        docs = [{"_op_type": "index", "_index": self.chapters_index, "_id": f"{c['video_id']}:{c['index']}",
                 "_source": c} for c in chapters]
        # refresh=wait_for: the next batch of scenes searches for these chapters and must see them.
        _, refused = self._retrying(f"{len(docs)} chapters", lambda: bulk_helper(
            self.client, docs, refresh="wait_for", raise_on_error=False))
        if refused:
            by_id = {d["_id"]: d["_source"] for d in docs}
            self._dead_letter([{"key": r.get("_id"), "status": r.get("status"), "reason": _reason(r.get("error")),
                                "record": by_id.get(r.get("_id"))} for r in (e.get("index", e) for e in refused)])
        # Each scene of the range that is indexed already is read and written back whole with its chapter, guarded
        # by its sequence number. Not a partial `update`: the node re-parses the merged source, which it prints
        # with floats in E notation (emitted_at 1.79E9), and the epoch_second date parser refuses that.
        wanted = {f"{c['video_id']}:{i}": st.chapter_of({"video_id": c["video_id"], "index": i}, [c])
                  for c in chapters for i in range(int(c["scenes"][0]), int(c["scenes"][-1]) + 1)}
        ids, updated = sorted(wanted), 0
        for _ in range(3):  # a 409 means the scene was written meanwhile: read it again
            conflicts: list[str] = []
            for start in range(0, len(ids), self.s.batch):
                part = ids[start:start + self.s.batch]
                found = self._call(f"the {len(part)} scenes of new chapters", self.client.mget, index=self.target,
                                   body={"ids": part})["docs"]
                actions = [{"_op_type": "index", "_index": d["_index"], "_id": d["_id"],
                            "if_seq_no": d["_seq_no"], "if_primary_term": d["_primary_term"],
                            "_source": {**d["_source"], "chapter": wanted[d["_id"]]}}
                           for d in found if d.get("found") and d["_source"].get("chapter") != wanted[d["_id"]]]
                if not actions:
                    continue  # none indexed yet (each looks its chapter up when it is), or all set already
                ok, errors = self._retrying(f"the chapters of {len(actions)} scenes",
                                            lambda: bulk_helper(self.client, actions, raise_on_error=False))
                updated += ok
                for r in (e.get("index", e) for e in errors):
                    if r.get("status") == 409:
                        conflicts.append(r.get("_id"))
                    else:
                        self.warn(f"chapter not set on {r.get('_id')}: {_reason(r.get('error'))[:200]}")
            if not conflicts:
                break
            ids = sorted(conflicts)
        else:
            self.warn(f"chapter not set on {len(ids)} scenes written again and again meanwhile: {ids[:3]}")
        return updated

    def chapters_for(self, video_ids: Iterable[str]) -> list[dict]:
        """The chapters kept in ALIAS-chapters for these videos (none where the index is not there)."""
        from opensearchpy.exceptions import NotFoundError

        ids = sorted(set(video_ids))
        if not ids:
            return []
        body = {"query": {"terms": {"video_id": ids}}, "size": 10000, "sort": [{"index": "asc"}]}
        try:
            hits = self._call("a chapter lookup", self.client.search, index=self.chapters_index, body=body)
        except NotFoundError:
            return []
        return [h["_source"] for h in hits["hits"]["hits"]]

    def _dead_letter(self, entries: list[dict]) -> None:
        """Append to the dead-letter file and sync it: after `write` returns, a caller may commit these away."""
        now = time.time()
        self.dead_letter.parent.mkdir(parents=True, exist_ok=True)
        with open(self.dead_letter, "ab") as f:
            for e in entries:
                line = {"time": now, "index": self.target, **e}
                f.write(orjson.dumps(line, default=str) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        self.dead_letters += len(entries)
        for e in entries[:3]:
            self.warn(f"rejected {e.get('key') or e.get('source')}: {e['reason'][:200]} (in {self.dead_letter})")
        if len(entries) > 3:
            self.warn(f"... and {len(entries) - 3} more rejected (in {self.dead_letter})")


def _key_or_none(rec) -> str | None:
    try:
        return f"{rec['video_id']}:{rec['index']}"
    except Exception:  # noqa: BLE001
        return None


class SearchSink(Sink):
    """SearchIndex as a sink: records are buffered and written a batch at a time; `close` writes the rest and
    finishes (refresh, alias swap)."""

    def __init__(self, index: SearchIndex, chapters: list[dict] | None = None):
        self.index = index
        self.chapters = chapters
        self.buffer: list[dict] = []
        self.written = Written()

    def take(self, record: dict) -> None:
        self.buffer.append(record)
        if len(self.buffer) >= self.index.s.batch:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            w = self.index.write(self.buffer, self.chapters)
            self.written.indexed += w.indexed
            self.written.rejected += w.rejected
            self.buffer = []

    def close(self, summary: dict | None = None) -> list[Path]:
        self.flush()
        self.index.finish()
        return []


def read_chapters(source: str | Path) -> list[dict]:
    """The chapters of a run folder (DIR, or DIR/captions.jsonl named as a file), or [] where it made none."""
    from scenestream.streams.outputs import chapters

    path = Path(source).expanduser()
    if path.is_file() and path.name == "captions.jsonl":
        path = path.parent
    if not path.is_dir():
        return []
    return chapters.read(path, warn=lambda m: _stderr(f"{m}, scenes indexed without chapters"))


__all__ = ["DEFAULT_DEAD_LETTER", "SearchIndex", "SearchSettings", "SearchSink", "SearchUnavailable", "Written",
           "read_chapters"]
