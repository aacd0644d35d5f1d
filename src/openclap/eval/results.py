"""Evaluation results as data: one schema that the runners write and the table, plots and JSON read.

``EvalResult`` holds what every protocol reports (task, dataset, protocol, headline metric and value,
size, time, all metrics, embedding bookkeeping), the optional per-class and retrieval parts the plots
draw, and ``details``: the protocol's own facts (templates, split description, fine-tuning config, ...).
``to_dict`` is the JSON form: the typed fields and ``details`` flattened into one object, with the
keys the untyped dicts of earlier versions had. ``SuiteResult`` is one ``openclap bench`` run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

# Keys of the JSON form in their order; ``details`` go after ``n_items`` (before ``seconds``).
_HEAD = ("task", "dataset", "protocol", "metric", "value", "n_items")


@dataclass
class EvalResult:
    """One protocol run on one dataset. ``value`` and ``metrics`` are fractions in [0, 1] (NaN where
    undefined; ``None`` for a failed task, which carries ``error``)."""

    task: str
    dataset: str
    protocol: str
    metric: str
    value: float | None
    n_items: int
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    class_names: list[str] | None = None
    confusion_matrix: list[list[int]] | None = None
    per_class_accuracy: list[float] | None = None
    fold_accuracy: dict[str, float] | None = None
    retrieval: dict[str, dict[str, float]] | None = None
    n_failed: int = 0
    errors: list[str] = field(default_factory=list)
    n_cached: int = 0
    embed_seconds: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        dataset: str,
        protocol: str,
        metric: str,
        n_items: int,
        start: float,
        task: str,
        *parts: Mapping[str, Any],
        value: float | None = None,
        **details: Any,
    ) -> EvalResult:
        """A result from a runner's parts (metric bodies, embedding summary): keys that are fields fill
        them, the rest (and ``details``) go to ``details``. ``value`` defaults to ``metrics[metric]``;
        ``seconds`` runs from ``start`` (a ``time.perf_counter()`` reading) to now."""
        merged: dict[str, Any] = {}
        for part in parts:
            merged.update(part)
        merged.update(details)
        return cls.from_dict(
            {
                "task": task,
                "dataset": dataset,
                "protocol": protocol,
                "metric": metric,
                "value": merged["metrics"][metric] if value is None else value,
                "n_items": n_items,
                "seconds": time.perf_counter() - start,
                **merged,
            }
        )

    @classmethod
    def failed(cls, task: str, dataset: str, protocol: str, error: str, seconds: float) -> EvalResult:
        """The row of a task that raised (``openclap bench`` goes on with the next task)."""
        return cls(task, dataset, protocol, "-", None, 0, seconds, error=error)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalResult:
        """The inverse of ``to_dict`` (e.g. reading a ``results.json``)."""
        names = {f.name for f in fields(cls)} - {"details"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k != "details"}
        return cls(**known, details={**dict(data.get("details") or {}), **extra})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field that is set, ``details`` flattened in (see the module docstring)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _HEAD}
        out.update(self.details)
        out["seconds"] = self.seconds
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in out or f.name == "details" or value is None:
                continue
            if f.name in ("metrics", "errors", "n_failed", "n_cached") and self.error is not None:
                continue  # a failed task has no embedding bookkeeping
            out[f.name] = value
        return out

    def __getattr__(self, name: str) -> Any:
        """A protocol's own fact as an attribute: ``result.templates`` is ``result.details["templates"]``."""
        if name.startswith("__") or name == "details":  # copy / pickle probe before __init__ ran
            raise AttributeError(name)
        try:
            return self.details[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field or detail {name!r}") from None

    def __getitem__(self, key: str) -> Any:
        """``result["value"]``: the JSON form's field ``key`` (as the dict results of earlier versions)."""
        return self.to_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()


@dataclass
class SuiteResult:
    """One ``run_suite``: its results, where the report was written, and how many tasks failed."""

    suite: str
    model: str
    results: list[EvalResult]
    json: Path
    markdown: Path
    plots: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(r.error is not None for r in self.results)
