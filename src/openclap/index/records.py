"""The index's result types and its error: what a search returns and what a build reports."""

from __future__ import annotations

from dataclasses import dataclass, field


class SoundIndexError(ValueError):
    """A one-line, user-facing problem with an index (missing, foreign, locked, another model, a bad
    query); the message names the index path or the file."""


@dataclass(frozen=True)
class Hit:
    """One ranked search result: a window of an indexed file and its cosine similarity to the query."""

    item_id: int  # stable id of one indexed (file, window) row
    path: str  # the file's path as indexed (absolute)
    start_seconds: float  # window start inside the file
    end_seconds: float
    score: float  # cosine similarity, higher is better


@dataclass(frozen=True)
class IndexedItem:
    """One indexed window with its file's duration and content hash."""

    item_id: int
    path: str
    start_seconds: float
    end_seconds: float
    duration_seconds: float  # whole file
    sha256: str


@dataclass
class BuildReport:
    """What one ``build_index`` / ``update_index`` run did.

    ``errors``: (path, problem) of files that could not be read this run (skipped, not retried until they
    change); ``changed``: files modified while being embedded (skipped; the next update embeds them);
    ``resumed_files``: files embedded by an interrupted earlier run and merged now.
    """

    index: str
    files_seen: int = 0
    embedded_files: int = 0
    embedded_windows: int = 0
    resumed_files: int = 0
    unchanged_files: int = 0
    removed_files: int = 0
    failed_before: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    total_windows: int = 0
    kind: str = "exact"
    recall_at_10: float | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        recall = f", recall@10 {self.recall_at_10:.3f} vs exact" if self.recall_at_10 is not None else ""
        return (
            f"{self.index}: {self.files_seen} files seen; embedded {self.embedded_files} "
            f"({self.embedded_windows} windows), {self.unchanged_files} unchanged, "
            f"{self.removed_files} removed, {len(self.errors)} skipped, {len(self.changed)} changed while "
            f"indexing"
            + (f", {self.resumed_files} resumed" if self.resumed_files else "")
            + (f", {self.failed_before} unreadable as before" if self.failed_before else "")
            + f"; {self.total_windows} windows in the index ({self.kind}{recall}) in {self.seconds:.1f} s"
        )
