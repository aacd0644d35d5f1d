"""``SoundIndex``: a read-only view of an index that answers text, audio and embedding queries.

It is safe to share between threads: FAISS searches run concurrently, the SQLite reads and the model's
query encoding (the fast tokenizer is not re-entrant) are serialised by locks. ``refresh`` picks up a
vector index that an update has replaced since the view was opened.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from openclap.audio.io import load_mono
from openclap.index import store, vectors
from openclap.index.build import check_model, index_model
from openclap.index.identity import identify
from openclap.index.records import Hit, IndexedItem, SoundIndexError
from openclap.inference import embed_audio, embed_texts
from openclap.model import ClapModel


class SoundIndex:
    """Search an index built by ``build_index``; open it with ``SoundIndex.open``.

    ``search_threads``: FAISS threads per query (default 1: for one query at a time, a second OpenMP
    thread made IVF searches of 1M vectors 20x slower at p50 on a busy 2-core machine; concurrent queries
    run in parallel instead). Set it per instance, or None for FAISS's default.
    """

    search_threads: int | None = 1

    def __init__(self, root: Path, model: ClapModel, meta: dict[str, str]) -> None:
        self.root = root
        self.model = model
        self.meta = meta
        self._conn = store.connect(root / store.STORE_NAME, readonly=True)
        self._db_lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._index = None
        self._mtime_ns = -1
        self.refresh()

    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str],
        model: ClapModel | None = None,
        device: str = "cpu",
        precision: str | None = None,
        fingerprint: str | None = None,
    ) -> SoundIndex:
        """Open an index. ``model`` None builds the model the index records, in its recorded precision;
        a model that is not the one that made the index, or not in its precision, is refused
        (``SoundIndexError``), and so is a ``precision`` (None: the index's) other than the index's.
        ``fingerprint``: a given model's, when the caller knows it (``identity.model_fingerprint``); a
        model built without its text tower needs it, and then searches by audio only."""
        path = Path(root)
        meta, recorded, model = index_model(path, model, device, precision)
        check_model(path, recorded, identify(model, fingerprint=fingerprint))
        if not (path / store.VECTORS_NAME).is_file():
            raise SoundIndexError(
                f"{path}: the index has no vectors yet (its first build did not finish); "
                f"run `openclap index update {path}`"
            )
        return cls(path, model, meta)

    def refresh(self) -> bool:
        """Reload the vector index if an update replaced it; True when it did."""
        file = self.root / store.VECTORS_NAME
        mtime = file.stat().st_mtime_ns
        if mtime == self._mtime_ns:
            return False
        index = vectors.read(file)
        with self._db_lock:
            self.meta = store.read_meta(self._conn)
        self._index, self._mtime_ns = index, mtime
        return True

    @property
    def kind(self) -> str:
        """``exact`` or ``ivf``."""
        return vectors.kind_of(self._index)

    @property
    def stale(self) -> bool:
        """True while an update is running or after one was interrupted: some files may be missing from
        the results until ``openclap index update`` finishes."""
        with self._db_lock:
            return store.read_meta(self._conn).get("dirty") == "1"

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search_text(self, query: str, top_k: int = 10, path_prefix: str | None = None) -> list[Hit]:
        if not isinstance(query, str) or not query.strip():
            raise SoundIndexError("the text query is empty")
        with self._model_lock:
            emb = embed_texts(self.model, [query.strip()])
        return self.search_embedding(emb[0], top_k, path_prefix)

    def search_audio(
        self, wave: np.ndarray, sample_rate: int, top_k: int = 10, path_prefix: str | None = None
    ) -> list[Hit]:
        """Hits for an example clip [N] or [C, N] at ``sample_rate``; a clip longer than the model's is
        the mean of its windows' embeddings."""
        with self._model_lock:
            emb = embed_audio(self.model, [wave], sample_rate)
        return self.search_embedding(emb[0], top_k, path_prefix)

    def search_file(
        self, path: str | os.PathLike[str], top_k: int = 10, path_prefix: str | None = None
    ) -> list[Hit]:
        """Hits for an example audio file (``AudioError`` when it is not readable audio)."""
        rate = self.model.config.audio.sample_rate
        return self.search_audio(load_mono(path, rate), rate, top_k, path_prefix)

    def search_embedding(
        self, embedding: np.ndarray, top_k: int = 10, path_prefix: str | None = None
    ) -> list[Hit]:
        """Hits for an embedding [D] (normalised here), best first; ``path_prefix`` keeps only files whose
        indexed path starts with it."""
        query = self._query_vector(embedding)
        if top_k < 1:
            raise SoundIndexError(f"top_k must be at least 1, got {top_k}")
        index = self._index
        allowed = None
        if path_prefix is not None:
            with self._db_lock:
                allowed = store.ids_with_prefix(self._conn, path_prefix)
            if allowed.size == 0:
                return []
        k = min(top_k, int(index.ntotal))
        if k == 0:
            return []
        scores, ids = vectors.search(index, query[None], k, allowed, self.search_threads)
        return self._hits(scores[0], ids[0])

    def _query_vector(self, embedding: np.ndarray) -> np.ndarray:
        vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
        dim = int(self.meta["dim"])
        if vec.shape[0] != dim or not np.isfinite(vec).all() or not vec.any():
            raise SoundIndexError(f"a query embedding must be {dim} finite values, not all zero")
        return vec / np.linalg.norm(vec)

    def _hits(self, scores: np.ndarray, ids: np.ndarray) -> list[Hit]:
        found = [(float(s), int(i)) for s, i in zip(scores, ids, strict=True) if i >= 0]
        with self._db_lock:
            rows = store.item_rows(self._conn, [i for _, i in found])
        # an id missing from the store belongs to a file removed by an update in progress: skip it
        return [Hit(i, rows[i][0], rows[i][1], rows[i][2], s) for s, i in found if i in rows]

    def item(self, item_id: int) -> IndexedItem:
        """The indexed item ``item_id`` (an id from ``search``); SoundIndexError names an unknown id."""
        item_id = int(item_id)
        if not 0 <= item_id < 2**63:  # SQLite integers are signed 64-bit
            raise SoundIndexError(f"{self.root}: no indexed item with id {item_id}")
        with self._db_lock:
            row = store.item_rows(self._conn, [item_id]).get(item_id)
        if row is None:
            raise SoundIndexError(f"{self.root}: no indexed item with id {item_id}")
        return IndexedItem(item_id, row[0], row[1], row[2], row[3], row[4])

    def close(self) -> None:
        with self._db_lock:
            self._conn.close()
        self._index = None

    def __enter__(self) -> SoundIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
