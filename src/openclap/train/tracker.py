"""Metrics logging on rank 0: ``metrics.jsonl`` (the record), ``train_metrics.csv`` /
``eval_metrics.csv``, TensorBoard scalars, and ``curves.png`` at the end.

On resume, rows logged after the checkpoint's step (by the run that was killed) are dropped from the
files and TensorBoard is purged from that step, so the logs read like one uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from openclap.checkpoint import atomic_write

KINDS = ("train", "eval")


class MetricsTracker:
    """``log(kind, step, metrics)``; a disabled tracker (non-zero ranks) does nothing."""

    def __init__(
        self, output_dir: str | Path, enabled: bool = True, tensorboard: bool = True, resume_step: int = 0
    ) -> None:
        self.enabled = enabled
        self.folder = Path(output_dir)
        self.records: list[dict[str, Any]] = []
        self.writer: Any = None
        if not enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.folder / "metrics.jsonl"
        self.records = [r for r in _read_jsonl(self.jsonl) if r["step"] <= resume_step]
        self._rewrite_all()
        if tensorboard:
            self.writer = _summary_writer(self.folder / "tensorboard", resume_step)

    def log(self, kind: str, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"kind": kind, "step": step, **{k: _number(v) for k, v in metrics.items()}}
        self.records.append(record)
        with open(self.jsonl, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        self._write_csv(kind)
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(f"{kind}/{key}", float(value), step)

    def _rows(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == kind]

    def _write_csv(self, kind: str) -> None:
        rows = self._rows(kind)
        if not rows:
            return
        columns = ["step", *sorted({k for r in rows for k in r} - {"kind", "step"})]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in columns})
        atomic_write(self.folder / f"{kind}_metrics.csv", lambda p: p.write_text(buffer.getvalue()))

    def _rewrite_all(self) -> None:
        text = "".join(json.dumps(r) + "\n" for r in self.records)
        atomic_write(self.jsonl, lambda p: p.write_text(text))
        for kind in KINDS:
            self._write_csv(kind)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def plot(self, path: str | Path | None = None) -> Path | None:
        """Draw the logged curves into a PNG (default ``OUTPUT/curves.png``)."""
        if not self.enabled or not self.records:
            return None
        target = Path(path) if path else self.folder / "curves.png"
        plot_curves(self.records, target)
        return target


def _number(value: Any) -> float | int:
    return value if isinstance(value, int) else float(value)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
    return out


def _summary_writer(folder: Path, resume_step: int) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    return SummaryWriter(str(folder), purge_step=resume_step + 1 if resume_step else None)


def _panels(records: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """(title, kind, metric names) of each subplot."""
    train_keys = sorted({k for r in records if r["kind"] == "train" for k in r} - {"kind", "step"})
    eval_keys = sorted({k for r in records if r["kind"] == "eval" for k in r} - {"kind", "step"})
    panels = [("train loss", "train", [k for k in train_keys if k == "loss"])]
    panels.append(("learning rate", "train", [k for k in train_keys if k == "lr"]))
    panels.append(
        ("retrieval R@1 / zero-shot accuracy", "eval", [k for k in eval_keys if k.endswith(("r1", "acc"))])
    )
    panels.append(("retrieval R@10", "eval", [k for k in eval_keys if k.endswith("r10")]))
    return [p for p in panels if p[2]]


def plot_curves(records: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(records)
    if not panels:
        return
    cols = 2
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.5 * rows), squeeze=False)
    for ax, (title, kind, keys) in zip(axes.flat, panels, strict=False):
        for key in keys:
            points = [(r["step"], r[key]) for r in records if r["kind"] == kind and key in r]
            ax.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                marker="." if kind == "eval" else None,
                label=key,
            )
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)
