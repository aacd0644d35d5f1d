"""Results table (Markdown + JSON) with published figures beside ours, and PNG plots.

Everything here reads ``EvalResult`` (``openclap.eval.results``): the table its headline ``value`` and
``metrics``, the plots its ``confusion_matrix`` / ``per_class_accuracy`` / ``retrieval``, the JSON its
``to_dict()``. Values are fractions in [0, 1]; percentages appear only in the rendered table. Plots use
the Agg canvas directly (no pyplot state).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from openclap.atomic import atomic_write
from openclap.eval.results import EvalResult


@dataclass(frozen=True)
class PublishedFigure:
    """A number from the literature (percent), its source and what it was measured on."""

    source: str
    value: float
    scope: str
    approximate: bool = False

    def render(self) -> str:
        return f"{'~' if self.approximate else ''}{self.value:g} ({self.source})"


_FULL_ESC50 = "full ESC-50, 2000 clips, 5 folds"
_FULL_US8K = "full UrbanSound8K, 8732 clips"
PUBLISHED: dict[tuple[str, str], tuple[PublishedFigure, ...]] = {
    ("esc50", "zeroshot"): (
        PublishedFigure("msclap 2022", 82.6, _FULL_ESC50),
        PublishedFigure("msclap 2023", 93.9, _FULL_ESC50),
        PublishedFigure("LAION CLAP", 91.0, _FULL_ESC50, approximate=True),
        PublishedFigure("HF laion/clap-htsat-unfused", 91.55, _FULL_ESC50),
    ),
    ("urbansound8k", "zeroshot"): (
        PublishedFigure("LAION CLAP", 77.0, _FULL_US8K, approximate=True),
        PublishedFigure("HF laion/clap-htsat-unfused", 75.16, _FULL_US8K),
    ),
}


def published_for(dataset: str, protocol: str) -> tuple[PublishedFigure, ...]:
    return PUBLISHED.get((dataset, protocol), ())


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, EvalResult):
        return _jsonable(value.to_dict())
    return value


def to_json(payload: Any) -> str:
    """JSON text of a result (or list of results, or a mapping holding them): numpy values converted,
    NaN as null."""
    return json.dumps(_jsonable(payload), indent=2)


def write_json(results: Sequence[EvalResult], path: Path, header: Mapping[str, Any] | None = None) -> Path:
    """All results (and a header such as the model and run time) as JSON, written atomically; NaN
    becomes null."""
    payload = {**(header or {}), "results": list(results)}
    atomic_write(path, lambda tmp: tmp.write_text(to_json(payload) + "\n"))
    return path


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.2f}"


def _details(result: EvalResult) -> str:
    if result.error is not None:
        return f"error: {result.error}".replace("|", "/").replace("\n", " ")
    if result.retrieval is not None:
        parts = []
        for direction, label in (("text_to_audio", "T2A"), ("audio_to_text", "A2T")):
            m = result.retrieval[direction]
            parts.append(
                f"{label} R@1/5/10 {_pct(m['r1'])}/{_pct(m['r5'])}/{_pct(m['r10'])}, "
                f"mAP@10 {_pct(m['map10'])}, medR {m['median_rank']:g}"
            )
        return "; ".join(parts)
    if "accuracy_std" in result.metrics:
        return f"± {_pct(result.metrics['accuracy_std'])} over {len(result.fold_accuracy or {})} splits"
    extra = {k: v for k, v in result.metrics.items() if k != result.metric}
    return ", ".join(f"{k} {_pct(v)}" for k, v in extra.items() if isinstance(v, float))


def markdown_table(results: Sequence[EvalResult]) -> str:
    """One row per task: headline metric (percent), published figures, details, size, time."""
    lines = [
        "| Task | Protocol | Metric | Result (%) | Published (%) | Details | Items | Time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes: dict[str, int] = {}
    for r in results:
        published = published_for(r.dataset, r.protocol)
        cell = "; ".join(p.render() for p in published) or "-"
        if published:
            scope = published[0].scope
            notes.setdefault(scope, len(notes) + 1)
            cell += f" [{notes[scope]}]"
        lines.append(
            f"| {r.task} | {r.protocol} | {r.metric} | {_pct(r.value)} | {cell} | "
            f"{_details(r)} | {r.n_items} | {r.seconds:.1f} |"
        )
    lines += ["", *[f"[{n}] Published figure measured on the {scope}." for scope, n in notes.items()]]
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(
    results: Sequence[EvalResult],
    path: Path,
    title: str = "openclap benchmark",
    preamble: Sequence[str] = (),
    plots: Sequence[Path] = (),
) -> Path:
    """A Markdown report (written atomically): title, preamble lines (model, time), the table, then
    links to the plots."""
    body = [f"# {title}", "", *preamble, *([""] if preamble else []), markdown_table(results)]
    if plots:
        body += [
            "## Plots",
            "",
            *[f"- [{p.name}]({p.relative_to(path.parent).as_posix()})" for p in plots],
            "",
        ]
    atomic_write(path, lambda tmp: tmp.write_text("\n".join(body)))
    return path


def _canvas(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_confusion_matrix(cm: ArrayLike, class_names: Sequence[str], path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (true class per row) as a PNG."""
    counts = np.asarray(cm, dtype=np.float64)
    rows = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.22 * len(class_names) + 2)
    fig = _canvas(size + 1, size)
    ax = fig.add_subplot()
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(class_names))
    font = 8 if len(class_names) <= 20 else 6
    ax.set_xticks(ticks, list(class_names), rotation=90, fontsize=font)
    ax.set_yticks(ticks, list(class_names), fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (row-normalised)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path


def plot_per_class_accuracy(
    accuracy: ArrayLike, class_names: Sequence[str], path: Path, title: str = ""
) -> Path:
    """Horizontal bars of per-class accuracy (percent), worst class at the top."""
    acc = np.nan_to_num(np.asarray(accuracy, dtype=np.float64), nan=0.0)
    order = np.argsort(acc, kind="stable")
    fig = _canvas(7.0, max(3.0, 0.2 * len(class_names) + 1))
    ax = fig.add_subplot()
    ax.barh(np.arange(len(order)), 100 * acc[order], color="tab:blue")
    ax.set_yticks(np.arange(len(order)), [class_names[i] for i in order], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    ax.set_title(title or "per-class accuracy")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path


def plot_recall_at_k(retrieval: Mapping[str, Mapping[str, float]], path: Path, title: str = "") -> Path:
    """Grouped bars of R@1/5/10 (percent) for each retrieval direction."""
    ks = ("r1", "r5", "r10")
    fig = _canvas(6.0, 4.0)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(retrieval))
    for j, (direction, metrics) in enumerate(retrieval.items()):
        xs = np.arange(len(ks)) + j * width
        values = [100 * metrics[k] for k in ks]
        ax.bar(xs, values, width, label=direction.replace("_", " "))
        for x, v in zip(xs, values, strict=True):
            ax.annotate(f"{v:.1f}", (x, v), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(len(ks)) + width * (len(retrieval) - 1) / 2, ["R@1", "R@5", "R@10"])
    ax.set_ylim(0, 105)
    ax.set_ylabel("recall (%)")
    ax.set_title(title or "retrieval recall@k")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path


def plot_result(result: EvalResult, folder: Path, stem: str) -> list[Path]:
    """Every plot that fits one result: confusion matrix, per-class accuracy, retrieval recall."""
    written = []
    names = result.class_names or []
    if result.confusion_matrix is not None:
        written.append(
            plot_confusion_matrix(
                result.confusion_matrix, names, folder / f"{stem}-confusion.png", f"{result.task}: confusion"
            )
        )
    if result.per_class_accuracy is not None:
        written.append(
            plot_per_class_accuracy(
                result.per_class_accuracy,
                names,
                folder / f"{stem}-per-class.png",
                f"{result.task}: per class",
            )
        )
    if result.retrieval is not None:
        written.append(
            plot_recall_at_k(result.retrieval, folder / f"{stem}-recall.png", f"{result.task}: recall@k")
        )
    return written
