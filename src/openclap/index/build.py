"""Build and update an index: scan, embed what changed, merge, rebuild the vector index.

One run (``build_index`` / ``update_index``) goes:

1. rank 0 takes the writer lock, checks (or records) the model, merges part stores left by an
   interrupted run, scans the roots (``scan.plan_update``) and removes deleted files;
2. every rank embeds its share of the sorted list of files to embed (``plan.todo[rank::world]``) into
   its own part store ``parts/part-RANK.sqlite``, committing every ``commit_every`` files, so a killed
   run loses at most one batch per rank;
3. after a barrier rank 0 merges the parts into ``index.sqlite`` (one transaction per part, files in path
   order, so item ids do not depend on the number of ranks), rebuilds ``vectors.faiss`` from the stored
   vectors and replaces it atomically.

Under ``torchrun`` the ranks talk through ``openclap.distributed`` (the caller joins the process group);
without it the same code runs as one rank. Parts are merged automatically, by rank 0 at the end or by the
next run when a run was killed: there is no separate merge command to forget.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from openclap import distributed
from openclap.index import store, vectors
from openclap.index.identity import ModelIdentity, identify, load_model, reload_source
from openclap.index.lock import WriterLock
from openclap.index.records import BuildReport, SoundIndexError
from openclap.index.scan import Plan, PlanItem, absolute_roots, content_after, plan_update
from openclap.index.store import FileRecord, WindowRows
from openclap.index.windows import FileWindows, embed_windows
from openclap.model import ClapModel


@dataclass(frozen=True)
class BuildOptions:
    """How to embed and index. ``hop_seconds`` (None: the model's clip length) is fixed when an index is
    created; ``kind``: ``auto`` (exact up to ``vectors.EXACT_MAX_VECTORS`` windows, else IVF), ``exact``
    or ``ivf``."""

    batch_size: int = 16
    workers: int | None = None
    commit_every: int = 32
    kind: str = "auto"
    progress: bool = False


def build_index(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    model: ClapModel,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    hop_seconds: float | None = None,
    options: BuildOptions | None = None,
    fingerprint: str | None = None,
) -> BuildReport:
    """Index the audio files under ``paths`` into the folder ``out`` with ``model``.

    ``checkpoint``: where ``model``'s weights came from (recorded so ``SoundIndex.open`` can load the
    model again; not needed for a registered model with bundled weights). ``model.precision`` is recorded
    too: loading the model again restores it. Building into an existing index
    of the same model continues it: only new or changed files are embedded (an interrupted build resumes),
    and the roots become ``paths``. ``fingerprint``: the model's (``model_fingerprint``), when the caller
    knows it; required for a model built without its text tower, which building does not use.
    """
    roots = absolute_roots(paths)
    hop = hop_seconds if hop_seconds is not None else model.config.audio.clip_seconds
    if hop <= 0:
        raise SoundIndexError(f"hop_seconds must be positive, got {hop}")
    ident = identify(model, checkpoint, fingerprint)
    return _run(Path(out), model, ident, options or BuildOptions(), roots, hop, create=True)


def update_index(
    index: str | os.PathLike[str],
    model: ClapModel | None = None,
    *,
    options: BuildOptions | None = None,
    device: str = "cpu",
    precision: str | None = None,
    fingerprint: str | None = None,
) -> BuildReport:
    """Bring an index up to date with its roots: embed new and changed files, drop removed ones.

    ``model`` None loads the model the index records (on ``device``, in its recorded precision); a given
    model must be that model, in that precision. ``precision`` (None: the index's) another than the
    index's is refused. ``fingerprint``: a given model's, as for ``build_index``.
    """
    root = Path(index)
    meta, recorded, model = index_model(root, model, device, precision)
    return _run(
        root,
        model,
        identify(model, recorded.checkpoint, fingerprint),
        options or BuildOptions(),
        json.loads(meta["roots"]),
        float(meta["hop_seconds"]),
    )


def open_meta(root: Path) -> dict[str, str]:
    """The index's meta table; a missing or foreign folder is a ``SoundIndexError``."""
    if not root.exists():
        raise SoundIndexError(f"{root}: no such index")
    if not store.is_index(root):
        raise SoundIndexError(f"{root}: not an openclap index (no {store.STORE_NAME})")
    conn = store.connect(root / store.STORE_NAME, readonly=True)
    try:
        meta = store.read_meta(conn)
    finally:
        conn.close()
    if meta.get("format") != store.FORMAT:
        raise SoundIndexError(
            f"{root}: not an openclap index of format {store.FORMAT} ({meta.get('format')})"
        )
    return meta


def index_model(
    root: Path, model: ClapModel | None, device: str = "cpu", precision: str | None = None
) -> tuple[dict[str, str], ModelIdentity, ClapModel]:
    """The index's meta, its recorded model identity, and ``model`` or (None) the recorded model loaded
    again in its recorded precision; a ``precision`` other than the recorded one is refused; the caller
    checks a given model's fingerprint."""
    meta = open_meta(root)
    recorded = recorded_identity(root, meta)
    if precision is not None:
        _check_precision(root, recorded, precision)
    if model is None:
        model = load_model(recorded, device)
        if model is None:
            raise SoundIndexError(
                f"{root}: the index was made by model {recorded.describe()}, which cannot be loaded again "
                "from what the index records; pass that model (--model / --checkpoint)"
            )
    return meta, recorded, model


def recorded_identity(root: Path, meta: dict[str, str]) -> ModelIdentity:
    """The model identity in an index's meta; an index made before precision was recorded is fp32."""
    return ModelIdentity(
        meta["model_name"],
        meta["model_fingerprint"],
        int(meta["dim"]),
        meta.get("model_checkpoint") or None,
        meta.get("model_precision") or "fp32",
    )


def index_precision(root: str | os.PathLike[str]) -> str | None:
    """The precision an existing index was embedded in (``fp32`` for an index that predates the field);
    None when ``root`` holds no index with a recorded model (a new index, a store not yet written)."""
    path = Path(root)
    if not store.is_index(path):
        return None
    try:
        conn = store.connect(path / store.STORE_NAME, readonly=True)
        try:
            meta = store.read_meta(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None  # a damaged store: the build or open that follows reports it
    return recorded_identity(path, meta).precision if "model_fingerprint" in meta else None


def recorded_source(root: str | os.PathLike[str]) -> tuple[str | None, str | None] | None:
    """(registered name, checkpoint) the model an index records is loaded from again
    (``identity.reload_source``); None for a folder without a recorded model or a model that cannot be
    loaded again (``update_index`` then explains)."""
    path = Path(root)
    try:
        meta = open_meta(path)
    except (SoundIndexError, sqlite3.DatabaseError):
        return None
    return reload_source(recorded_identity(path, meta)) if "model_fingerprint" in meta else None


def check_model(root: Path, recorded: ModelIdentity, given: ModelIdentity) -> None:
    """Refuse a model (``given``) other than the one that made the index, naming a precision that
    differs first."""
    _check_precision(root, recorded, given.precision)
    if recorded.fingerprint != given.fingerprint:
        raise SoundIndexError(
            f"{root}: the index was made by model {recorded.describe()}, not by the model given "
            f"({given.name!r}, weights {given.fingerprint[:12]}); use the same model or build a new index"
        )


def _check_precision(root: Path, recorded: ModelIdentity, precision: str) -> None:
    if precision != recorded.precision:
        raise SoundIndexError(
            f"{root}: the index was embedded in {recorded.precision} precision, not {precision}; use "
            f"{recorded.precision} (leave --precision out to get the index's) or build a new index"
        )


def _run(
    root: Path,
    model: ClapModel,
    ident: ModelIdentity,
    opts: BuildOptions,
    roots: list[str],
    hop: float,
    create: bool = False,
) -> BuildReport:
    started = time.perf_counter()
    info = distributed.current_info()
    lock = WriterLock(root)
    report = BuildReport(str(root))
    outcome: Plan | str | None = None
    if info.is_main:
        try:
            if create:
                _make_folder(root)
            lock.acquire()
            outcome = _prepare(root, ident, roots, hop, report)
        except (SoundIndexError, OSError) as err:
            lock.release()
            outcome = str(err)
        except sqlite3.DatabaseError as err:
            lock.release()
            outcome = f"{root}: {store.STORE_NAME} is damaged or not an index store ({err})"
    outcome = distributed.broadcast_object(outcome)
    if isinstance(outcome, str):
        raise SoundIndexError(outcome)
    mine = distributed.broadcast_object(ident.fingerprint)
    if mine != ident.fingerprint:
        raise SoundIndexError(f"{root}: rank {info.rank} loaded another model than rank 0")
    try:
        part = root / store.PARTS_DIR / f"part-{info.rank:05d}.sqlite"
        shown = replace(opts, progress=opts.progress and info.is_main)  # one progress bar, rank 0's
        _embed_share(part, outcome.todo[info.rank :: info.world_size], model, hop, shown)
        distributed.barrier()
        if info.is_main:
            _finish(root, report, ident, opts)
    finally:
        if info.is_main:
            lock.release()
    report.seconds = time.perf_counter() - started
    return distributed.broadcast_object(report)


def _make_folder(root: Path) -> None:
    """Rank 0: the folder of a new index (or an existing index to continue); anything else is refused."""
    if root.exists() and not store.is_index(root) and (not root.is_dir() or any(root.iterdir())):
        raise SoundIndexError(f"{root}: exists and is not an openclap index; choose a new or empty folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        problem = (err.strerror or str(err)).lower()
        raise SoundIndexError(f"{root}: cannot create the index folder ({problem})") from None


def _prepare(root: Path, ident: ModelIdentity, roots: list[str], hop: float, report: BuildReport) -> Plan:
    """Rank 0, holding the lock: record or check the model, merge leftover parts, scan, drop removed."""
    conn = store.connect(root / store.STORE_NAME)
    try:
        meta = store.read_meta(conn)
        if meta:
            if meta.get("format") != store.FORMAT:
                raise SoundIndexError(f"{root}: not an openclap index of format {store.FORMAT}")
            check_model(root, recorded_identity(root, meta), ident)
            if abs(float(meta["hop_seconds"]) - hop) > 1e-9:
                raise SoundIndexError(
                    f"{root}: the index uses windows every {meta['hop_seconds']} s, not {hop} s"
                )
        with conn:
            store.write_meta(
                conn,
                {
                    "format": store.FORMAT,
                    "model_name": ident.name,
                    "model_fingerprint": ident.fingerprint,
                    "model_checkpoint": ident.checkpoint or "",
                    "model_precision": ident.precision,
                    "dim": ident.dim,
                    "hop_seconds": hop,
                    "roots": roots,
                    "dirty": 1,
                },
            )
        _merge_parts(root, conn, report, resumed=True)
        plan = plan_update(roots, store.files(conn))
        with conn:
            store.remove_files(conn, plan.removed)
            for path, size, mtime_ns in plan.touched:
                store.set_stat(conn, path, size, mtime_ns)
    finally:
        conn.close()
    report.files_seen, report.unchanged_files = plan.seen, plan.unchanged
    report.removed_files, report.failed_before = len(plan.removed), plan.failed_before
    report.errors += plan.unreadable
    return plan


def _embed_share(part: Path, share: list[PlanItem], model: ClapModel, hop: float, opts: BuildOptions) -> None:
    """Embed this rank's files into its part store, committing every ``opts.commit_every`` files."""
    if not share:
        return
    part.parent.mkdir(exist_ok=True)
    conn = store.connect(part)
    by_path = {item.path: item for item in share}
    results = embed_windows(model, list(by_path), hop, opts.batch_size, opts.workers)
    if opts.progress:
        from tqdm import tqdm

        results = tqdm(results, total=len(share), desc="indexing", unit="file")
    try:
        for count, (path, result) in enumerate(results, start=1):
            record, windows = _record(by_path[path], result)
            store.add_file(conn, record, windows)
            if count % opts.commit_every == 0:
                conn.commit()
        conn.commit()
    finally:
        conn.close()


def _record(item: PlanItem, result: FileWindows | Exception) -> tuple[FileRecord, WindowRows | None]:
    base = dict(path=item.path, sha256=item.sha256, size=item.size, mtime_ns=item.mtime_ns)
    if content_after(item) != item.sha256:
        return FileRecord(**base, status="changed", error="the file changed while it was being indexed"), None
    if isinstance(result, Exception):
        problem = getattr(result, "problem", str(result))
        return FileRecord(**base, error=problem, status="error"), None
    return FileRecord(**base, duration=result.duration), WindowRows(
        result.starts, result.ends, result.matrix()
    )


def _merge_parts(root: Path, conn: sqlite3.Connection, report: BuildReport, resumed: bool = False) -> None:
    parts = store.part_paths(root)
    if not parts:
        return
    records, windows = store.merge_parts(conn, parts)
    for part in parts:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{part}{suffix}").unlink(missing_ok=True)
    ok = [r for r in records if r.status == "ok"]
    if resumed:
        report.resumed_files += len(ok)
    else:
        report.embedded_files += len(ok)
        report.embedded_windows += windows
    report.errors += [(r.path, r.error or "") for r in records if r.status == "error"]
    report.changed += [r.path for r in records if r.status == "changed"]


def _finish(root: Path, report: BuildReport, ident: ModelIdentity, opts: BuildOptions) -> None:
    """Rank 0: merge this run's parts, rebuild the vector index from the store, mark the index clean."""
    conn = store.connect(root / store.STORE_NAME)
    try:
        _merge_parts(root, conn, report)
        ids, vecs = store.all_vectors(conn, ident.dim)
        index, kind = vectors.build(ids, vecs, opts.kind)
        recall = vectors.tune_nprobe(index, ids, vecs) if kind == "ivf" else None
        vectors.write(index, root / store.VECTORS_NAME)
        with conn:
            store.write_meta(
                conn,
                {
                    "dirty": 0,
                    "kind": kind,
                    "windows": len(ids),
                    "recall_at_10": recall if recall is not None else "",
                },
            )
    finally:
        conn.close()
    report.total_windows, report.kind, report.recall_at_10 = len(ids), kind, recall
