"""A search index of scenes: SQLite with FTS5 for words and sqlite-vec for meaning, in one file.

Each scene (key `video_id:index`) is one row of `scenes` (times, the record as JSON, the searchable fields), one row
of the FTS5 table `scenes_fts` (caption, transcript, on-screen text, sound labels, object labels; porter stemming)
and a few passages in `passages` with their MiniLM vectors in the vec0 table `passage_vec`: the caption with the
labels, then the transcript and the on-screen text in windows of about a sentence or two. A long transcript would
be cut at MiniLM's 256 tokens if embedded whole, and a question about one remark would be diluted by the rest of the
scene; the scene's vector rank is that of its best passage.

`search` fuses the two rankings with reciprocal rank fusion (score = sum of 1/(60 + rank)): words that match
literally and queries that say the same thing in other words both find the scene, and neither scale of score has
to be calibrated against the other.

Adding is idempotent by scene key: the same record again changes nothing (not even a vector), a changed record
replaces the scene's rows. The embedding model is loaded once per process and shared by every SceneIndex."""
from __future__ import annotations

import functools
import re
import sqlite3 as _stdlib_sqlite3
import threading
from pathlib import Path
from typing import Iterable

import orjson

from scenestream.agents.errors import ConfigError
from scenestream.streams.outputs.sources import scene_key

MODEL = "minilm"  # offline pack name (agents/models.py); any sentence-transformers model or directory works
RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al. 2009): damps the weight of the top ranks
PASSAGE_WORDS = 40  # transcript/on-screen text passage length, words (a sentence or two; well under 256 tokens)
BATCH = 64  # records embedded and committed together
SCHEMA = 1
# Words that every scene could contain: left out of the FTS query, which ORs the rest (a question's phrasing must
# not outweigh its content words in bm25).
# NLTK's English stop words plus a few of search phrasing ("scene", "someone", "shows").
STOPWORDS = frozenset("""i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
her hers herself it its itself they them their theirs themselves what which who whom this that these those am is are
was were be been being have has had having do does did doing a an the and but if or because as until while of at by
for with about against between into through during before after above below to from up down in out on off over under
again further then once here there when where why how all any both each few more most other some such no nor not only
own same so than too very s t can will just don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven
isn ma mightn mustn needn shan shouldn wasn weren won wouldn would could might must shall may also
scene scenes video clip someone somebody something thing things one says said say saying shows shown show seen see
""".split())
_WORD = re.compile(r"\w+", re.UNICODE)


def _sqlite():
    """A sqlite3 module that can load extensions: the stdlib's where Python was built with that, else pysqlite3."""
    if hasattr(_stdlib_sqlite3.Connection, "enable_load_extension"):
        return _stdlib_sqlite3
    try:
        from pysqlite3 import dbapi2
    except ImportError:
        raise ConfigError("this Python's sqlite3 cannot load extensions (needed for sqlite-vec): "
                          "pip install pysqlite3-binary") from None
    return dbapi2


@functools.lru_cache(maxsize=4)
def _embedder(model: str):
    """One SentenceTransformer per model name and process (loading takes seconds; encoding is thread-safe)."""
    from scenestream.agents.models import pick_device, resolve_model

    source = resolve_model(model)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError("the search index needs sentence-transformers: pip install sentence-transformers") from None
    try:
        return SentenceTransformer(source.location, device=pick_device("auto"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the embedding model {model} ({source}): {exc}") from None


# ------------------------------------------------------------------ what a scene says, as text


def _labels(rec: dict) -> tuple[str, str]:
    sounds = sorted({str(e.get("label", "")) for e in rec.get("audio_events") or [] if e.get("label")})
    objects = sorted(str(k) for k in (rec.get("objects") or {}))
    return ", ".join(sounds), ", ".join(objects)


def _said(rec: dict) -> str:
    """The transcript; with speakers, each change of voice marked `S1:` so a search for a speaker's words finds
    the scene (and a snippet shows who said it)."""
    transcript = rec.get("transcript") or {}
    words = transcript.get("words") or []
    if not any(w.get("speaker") for w in words):
        return str(transcript.get("text") or "").strip()
    out, voice = [], None
    for w in words:
        if w.get("speaker") and w["speaker"] != voice:
            voice = w["speaker"]
            out.append(f" {voice}:")
        out.append(str(w.get("word", "")))
    return " ".join("".join(out).split())


def fields_of(rec: dict) -> dict[str, str]:
    """The searchable text of a record (v1 records: no on-screen text)."""
    sounds, objects = _labels(rec)
    return {
        "caption": str(rec.get("caption") or ""),
        "transcript": _said(rec),
        "screen_text": " / ".join(str(t.get("text", "")).strip() for t in rec.get("text") or [] if t.get("text")),
        "sounds": sounds,
        "objects": objects,
    }


def _windows(text: str, size: int = PASSAGE_WORDS) -> list[str]:
    words = text.split()
    if len(words) <= size:
        return [text] if words else []
    step = size * 3 // 4  # overlapping, so a remark cut at a window edge is whole in the next one
    return [" ".join(words[i:i + size]) for i in range(0, max(len(words) - size, 0) + step, step)
            if words[i:i + size]]


def passages_of(fields: dict[str, str]) -> list[str]:
    """What gets a vector: the picture (caption, objects, sounds), then what is said, then what is written."""
    seen = [fields["caption"]]
    if fields["objects"]:
        seen.append(f"Objects: {fields['objects']}.")
    if fields["sounds"]:
        seen.append(f"Sounds: {fields['sounds']}.")
    out = [" ".join(p for p in seen if p).strip()]
    out += [f"Someone says: {w}" for w in _windows(fields["transcript"])]
    out += [f"Text on screen: {w}" for w in _windows(fields["screen_text"])]
    return [p for p in out if p]


def fts_query(text: str) -> str | None:
    """A safe FTS5 query from free text: its content words, quoted, ORed (bm25 ranks scenes matching more of them,
    and rarer ones, higher). None when nothing is left."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    if not words:
        words = _WORD.findall(text.lower())
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words)) or None


# ------------------------------------------------------------------ the index


class SceneIndex:
    """`SceneIndex(path).add(record)`, `.add_many(records)`, `.search(query, k)`; safe to share between threads."""

    def __init__(self, db_path: str | Path, model: str = MODEL):
        self.path = Path(db_path).expanduser()
        self.model_name = model
        self._lock = threading.RLock()
        sqlite = _sqlite()
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite.connect(str(self.path), check_same_thread=False)
            self.db.enable_load_extension(True)
            import sqlite_vec

            sqlite_vec.load(self.db)
            self.db.enable_load_extension(False)
        except sqlite.Error as exc:
            raise ConfigError(f"cannot open the index {self.path}: {exc}") from None
        self._dim: int | None = None
        self._schema()

    # -- set-up

    def _schema(self) -> None:
        with self._lock, self.db:
            self.db.executescript("""
                PRAGMA journal_mode = WAL;
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS scenes (
                    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, video_id TEXT NOT NULL, idx INTEGER NOT NULL,
                    start REAL NOT NULL, "end" REAL NOT NULL, doc TEXT NOT NULL, record BLOB NOT NULL);
                CREATE INDEX IF NOT EXISTS scenes_video ON scenes (video_id, idx);
                CREATE VIRTUAL TABLE IF NOT EXISTS scenes_fts USING fts5(
                    caption, transcript, screen_text, sounds, objects, tokenize = 'porter unicode61 remove_diacritics 2');
                CREATE TABLE IF NOT EXISTS passages (
                    id INTEGER PRIMARY KEY, scene INTEGER NOT NULL, text TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS passages_scene ON passages (scene);
            """)
            row = self.db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
            if row and row[0] != self.model_name:
                raise ConfigError(f"the index {self.path} holds vectors of model {row[0]!r}, not {self.model_name!r}")
            dim = self.db.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
            self._dim = int(dim[0]) if dim else None

    def _ensure_vec(self, dim: int) -> None:
        if self._dim is not None:
            if dim != self._dim:
                raise ConfigError(f"the index {self.path} holds {self._dim}-d vectors, the model makes {dim}-d")
            return
        with self.db:
            self.db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS passage_vec USING vec0("
                            f"embedding float[{dim}] distance_metric=cosine)")
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                [("model", self.model_name), ("dim", str(dim)), ("schema", str(SCHEMA))])
        self._dim = dim

    @property
    def embedder(self):
        return _embedder(self.model_name)

    def _embed(self, texts: list[str]):
        vecs = self.embedder.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                                    show_progress_bar=False)
        return vecs.astype("float32")

    # -- adding

    def add(self, record: dict) -> bool:
        """Index one SceneCaption dict; True if the index changed."""
        return self.add_many([record]) > 0

    def add_many(self, records: Iterable[dict]) -> int:
        """Index records (streamed, committed every BATCH); returns how many scenes were added or replaced."""
        changed = 0
        batch: list[dict] = []
        for rec in records:
            batch.append(rec)
            if len(batch) >= BATCH:
                changed += self._add_batch(batch)
                batch = []
        if batch:
            changed += self._add_batch(batch)
        return changed

    def _add_batch(self, records: list[dict]) -> int:
        latest: dict[str, dict] = {}
        for rec in records:  # a batch may repeat a key (a replay): the last one wins, as it would one by one
            latest[scene_key(rec)] = rec
        todo = []  # (key, rec, record json, fields, doc json, existing id, existing doc)
        with self._lock:
            for key, rec in latest.items():
                blob = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)
                fields = fields_of(rec)
                doc = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS).decode()
                row = self.db.execute("SELECT id, doc, record FROM scenes WHERE key = ?", (key,)).fetchone()
                if row and bytes(row[2]) == blob:
                    continue  # the same record again: nothing to do
                todo.append((key, rec, blob, fields, doc, row[0] if row else None, row[1] if row else None))
        if not todo:
            return 0
        # Vectors only for scenes whose searchable text is new or changed; computed outside the lock.
        texts: list[str] = []
        spans: dict[str, tuple[int, int]] = {}
        for key, _, _, fields, doc, _, old_doc in todo:
            if doc != old_doc:
                ps = passages_of(fields)
                spans[key] = (len(texts), len(texts) + len(ps))
                texts += ps
        vectors = self._embed(texts) if texts else None
        if vectors is not None:
            self._ensure_vec(int(vectors.shape[1]))
        with self._lock, self.db:
            for key, rec, blob, fields, doc, sid, old_doc in todo:
                values = (rec["video_id"], int(rec["index"]), float(rec.get("start", 0.0)),
                          float(rec.get("end", 0.0)), doc, blob)
                if sid is None:
                    sid = self.db.execute(
                        'INSERT INTO scenes (key, video_id, idx, start, "end", doc, record) VALUES (?, ?, ?, ?, ?, ?, ?)',
                        (key, *values)).lastrowid
                else:
                    self.db.execute('UPDATE scenes SET video_id = ?, idx = ?, start = ?, "end" = ?, doc = ?, record = ? '
                                    'WHERE id = ?', (*values, sid))
                if key not in spans:
                    continue  # same words as before: FTS row and vectors stay
                self.db.execute("DELETE FROM scenes_fts WHERE rowid = ?", (sid,))
                self.db.execute("INSERT INTO scenes_fts (rowid, caption, transcript, screen_text, sounds, objects) "
                                "VALUES (?, ?, ?, ?, ?, ?)", (sid, fields["caption"], fields["transcript"],
                                                              fields["screen_text"], fields["sounds"], fields["objects"]))
                old = [r[0] for r in self.db.execute("SELECT id FROM passages WHERE scene = ?", (sid,))]
                if old:
                    self.db.executemany("DELETE FROM passage_vec WHERE rowid = ?", [(i,) for i in old])
                    self.db.execute("DELETE FROM passages WHERE scene = ?", (sid,))
                a, b = spans[key]
                for text, vec in zip(texts[a:b], vectors[a:b]):
                    pid = self.db.execute("INSERT INTO passages (scene, text) VALUES (?, ?)", (sid, text)).lastrowid
                    self.db.execute("INSERT INTO passage_vec (rowid, embedding) VALUES (?, ?)", (pid, vec.tobytes()))
        return len(todo)

    # -- reading

    def count(self) -> int:
        with self._lock:
            return self.db.execute("SELECT count(*) FROM scenes").fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Rows per table (scenes, FTS rows, passages, vectors): for checks that re-indexing changes nothing."""
        with self._lock:
            out = {t: self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                   for t in ("scenes", "scenes_fts", "passages")}
            out["passage_vec"] = (self.db.execute("SELECT count(*) FROM passage_vec").fetchone()[0]
                                  if self._dim is not None else 0)
            return out

    def record(self, video_id: str, index: int) -> dict | None:
        with self._lock:
            row = self.db.execute("SELECT record FROM scenes WHERE key = ?", (f"{video_id}:{index}",)).fetchone()
        return orjson.loads(row[0]) if row else None

    def _fts(self, query: str, n: int, video_id: str | None = None) -> list[tuple[int, str]]:
        q = fts_query(query)
        if q is None:
            return []
        only = " AND rowid IN (SELECT id FROM scenes WHERE video_id = ?)" if video_id is not None else ""
        rows = self.db.execute(
            "SELECT rowid, snippet(scenes_fts, -1, '[', ']', '…', 16) FROM scenes_fts WHERE scenes_fts MATCH ?"
            f"{only} ORDER BY bm25(scenes_fts) LIMIT ?", (q, *([video_id] if only else []), n)).fetchall()
        return [(r[0], r[1]) for r in rows]

    def _vector(self, query: str, n: int, video_id: str | None = None) -> list[tuple[int, str, float]]:
        if self._dim is None:  # another process (an indexer following Kafka) may have added the first vectors since
            with self._lock:
                row = self.db.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
            if row is None:
                return []
            self._dim = int(row[0])
        vec = self._embed([query])[0]
        # One video: sqlite-vec filters the nearest-neighbour search itself by rowid (its passages), so a video
        # among many still gets its n nearest scenes, not what is left of the whole index's.
        only = (" AND rowid IN (SELECT p.id FROM passages p JOIN scenes s ON s.id = p.scene WHERE s.video_id = ?)"
                if video_id is not None else "")
        # Several passages per scene: ask for more than n so that n distinct scenes come back.
        rows = self.db.execute(
            "SELECT p.scene, p.text, v.distance FROM (SELECT rowid, distance FROM passage_vec "
            f"WHERE embedding MATCH ? AND k = ?{only}) v JOIN passages p ON p.id = v.rowid ORDER BY v.distance",
            (vec.tobytes(), min(4 * n, 4096), *([video_id] if only else []))).fetchall()
        best: dict[int, tuple[str, float]] = {}
        for scene, text, dist in rows:
            best.setdefault(scene, (text, dist))
        return [(s, t, d) for s, (t, d) in best.items()][:n]

    def search(self, query: str, k: int = 10, video_id: str | None = None) -> list[dict]:
        """The k best scenes for `query` (of one video, if `video_id`): dicts with video_id, index, start, end,
        score (fused), snippet, caption, key, and the rank each method gave (fts_rank, vector_rank; None where it
        did not find the scene)."""
        if not query.strip() or k < 1:
            return []
        depth = max(50, 5 * k)
        with self._lock:
            lexical = self._fts(query, depth, video_id)
        semantic = self._vector(query, depth, video_id)  # encoding the query needs no lock
        fused: dict[int, dict] = {}
        for rank, (sid, snip) in enumerate(lexical, 1):
            hit = fused.setdefault(sid, {"score": 0.0, "fts_rank": None, "vector_rank": None, "snippet": ""})
            hit["score"] += 1.0 / (RRF_K + rank)
            hit["fts_rank"], hit["snippet"] = rank, snip
        for rank, (sid, text, dist) in enumerate(semantic, 1):
            hit = fused.setdefault(sid, {"score": 0.0, "fts_rank": None, "vector_rank": None, "snippet": ""})
            hit["score"] += 1.0 / (RRF_K + rank)
            hit["vector_rank"], hit["distance"] = rank, round(float(dist), 4)
            if not hit["snippet"]:
                hit["snippet"] = text if len(text) <= 160 else text[:159] + "…"
        best = sorted(fused.items(), key=lambda kv: (-kv[1]["score"], kv[1]["fts_rank"] or 1e9,
                                                     kv[1]["vector_rank"] or 1e9))[:k]
        out = []
        with self._lock:
            for sid, hit in best:
                row = self.db.execute('SELECT key, video_id, idx, start, "end", doc FROM scenes WHERE id = ?',
                                      (sid,)).fetchone()
                if row is None:
                    continue
                out.append({"video_id": row[1], "index": row[2], "start": row[3], "end": row[4],
                            "score": round(hit["score"], 6), "snippet": hit["snippet"],
                            "caption": orjson.loads(row[5])["caption"], "key": row[0],
                            "fts_rank": hit["fts_rank"], "vector_rank": hit["vector_rank"]})
        return out

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> "SceneIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["MODEL", "RRF_K", "SceneIndex", "fields_of", "fts_query", "passages_of"]
