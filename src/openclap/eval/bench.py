"""Run a benchmark suite (YAML) with one model and write the results table and plots.

Suite format::

    name: shared-data                  # optional
    tasks:
      - protocol: zeroshot             # zeroshot | retrieval | linear-probe | finetune
        dataset: esc50                 # a name from openclap.eval.datasets.list_datasets()
        root: ../data/esc50            # relative to the suite file's folder
        label: ESC-50 (2000 clips)     # optional display name
        dataset_options: {}            # optional get_dataset keywords: folds, min_class_count, adapter's
        options: {}                    # optional runner keywords: templates; split, group_key, n_splits;
                                       # finetune: epochs, lr, encoder_lr, batch_size, seed, ...

``run_suite`` writes ``results.json``, ``results.md`` and ``plots/*.png`` into the output folder,
rewriting them after every task so a late failure keeps the earlier rows. A task that raises is
recorded as an error row and the suite goes on.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from openclap.eval.datasets import EvalDataset, get_dataset
from openclap.eval.embedding import EmbedOptions
from openclap.eval.finetune import run_finetune
from openclap.eval.linear_probe import run_linear_probe
from openclap.eval.report import plot_result, write_json, write_markdown
from openclap.eval.results import EvalResult, SuiteResult
from openclap.eval.retrieval import run_retrieval
from openclap.eval.zeroshot import run_zeroshot

if TYPE_CHECKING:
    from openclap.model import ClapModel

log = logging.getLogger(__name__)

PROTOCOLS: dict[str, Callable[..., EvalResult]] = {
    "zeroshot": run_zeroshot,
    "retrieval": run_retrieval,
    "linear-probe": run_linear_probe,
    "finetune": run_finetune,
}
_TASK_KEYS = {"protocol", "dataset", "root", "label", "dataset_options", "options"}


@dataclass(frozen=True)
class TaskSpec:
    """One suite entry, with ``root`` already resolved."""

    protocol: str
    dataset: str
    root: Path
    label: str | None = None
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    tasks: tuple[TaskSpec, ...]
    path: Path


def _task_from_entry(entry: Any, index: int, base: Path, source: Path) -> TaskSpec:
    where = f"{source}: task {index + 1}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(entry).__name__}")
    unknown = sorted(set(entry) - _TASK_KEYS)
    missing = sorted({"protocol", "dataset", "root"} - set(entry))
    if unknown or missing:
        raise ValueError(
            f"{where}: unknown keys {unknown}, missing keys {missing}; allowed: {sorted(_TASK_KEYS)}"
        )
    if entry["protocol"] not in PROTOCOLS:
        raise ValueError(f"{where}: protocol {entry['protocol']!r} is not one of {sorted(PROTOCOLS)}")
    try:
        check_protocol_options(entry["protocol"], dict(entry.get("options") or {}))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    root = Path(str(entry["root"])).expanduser()
    return TaskSpec(
        entry["protocol"],
        str(entry["dataset"]),
        root if root.is_absolute() else (base / root).resolve(),
        entry.get("label"),
        dict(entry.get("dataset_options") or {}),
        dict(entry.get("options") or {}),
    )


def load_suite(path: str | Path) -> Suite:
    """Parse and check a suite file (task keys, protocols); roots are resolved, not yet opened."""
    source = Path(path)
    data = yaml.safe_load(source.read_text())
    if not isinstance(data, Mapping) or not isinstance(data.get("tasks"), list) or not data["tasks"]:
        raise ValueError(f"{source}: a suite needs a non-empty 'tasks' list")
    base = source.resolve().parent
    tasks = tuple(_task_from_entry(e, i, base, source) for i, e in enumerate(data["tasks"]))
    return Suite(str(data.get("name") or source.stem), tasks, source)


def check_protocol_options(protocol: str, options: Mapping[str, Any]) -> None:
    """``ValueError`` listing what ``protocol`` takes when ``options`` holds a name it does not take
    (fine-tuning's own settings are checked by ``FinetuneConfig``)."""
    params = inspect.signature(PROTOCOLS[protocol]).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    allowed = [name for name in params if name not in ("model", "dataset", "options", "task")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"protocol {protocol!r} does not take option(s) {unknown}; it takes {allowed}")


def run_task(
    model: ClapModel, spec: TaskSpec, embed: EmbedOptions | None = None, dataset: EvalDataset | None = None
) -> EvalResult:
    """Run the task's protocol on its dataset (loaded here unless ``dataset`` is given)."""
    check_protocol_options(spec.protocol, spec.options)
    if dataset is None:
        dataset = get_dataset(spec.dataset, spec.root, **dict(spec.dataset_options))
    return PROTOCOLS[spec.protocol](model, dataset, options=embed, task=spec.label, **dict(spec.options))


def run_eval(
    model: ClapModel,
    protocol: str,
    dataset: str | EvalDataset,
    root: str | Path | None = None,
    embed: EmbedOptions | None = None,
    label: str | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> EvalResult:
    """One protocol on one dataset (what ``openclap eval <protocol>`` runs): a registered dataset name
    with its ``root`` (and ``dataset_options``), or an already loaded ``EvalDataset``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {sorted(PROTOCOLS)}")
    loaded = dataset if isinstance(dataset, EvalDataset) else None
    if loaded is None and root is None:
        raise ValueError(f"dataset {dataset!r} needs its root folder")
    name = loaded.name if loaded is not None else str(dataset)
    where = (loaded.root or Path(".")) if loaded is not None else Path(str(root))
    spec = TaskSpec(protocol, name, where, label, dict(dataset_options or {}), options)
    return run_task(model, spec, embed, loaded)


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` command-line options to a dict, values read as YAML and '-' in keys made '_':
    ``["split=group", "n-splits=6", "folds=[1, 2]"]`` -> ``{"split": "group", "n_splits": 6,
    "folds": [1, 2]}``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"option {pair!r} is not KEY=VALUE")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "task"


def run_suite(
    suite_path: str | Path,
    model: ClapModel,
    out_dir: str | Path,
    model_name: str = "model",
    embed: EmbedOptions | None = None,
) -> SuiteResult:
    """Run every task of a suite and write ``results.json``, ``results.md`` and ``plots/`` to ``out_dir``.

    ``embed`` sets batch size, progress bars and the embedding cache (``cache_dir`` + ``model_id``).
    """
    suite = load_suite(suite_path)
    out = Path(out_dir)
    run = SuiteResult(suite.name, model_name, [], out / "results.json", out / "results.md")
    start = time.perf_counter()
    for i, spec in enumerate(suite.tasks):
        log.info("task %d/%d: %s %s (%s)", i + 1, len(suite.tasks), spec.protocol, spec.dataset, spec.root)
        t0 = time.perf_counter()
        try:
            result = run_task(model, spec, embed)
        except Exception as err:  # one broken task must not lose the others
            log.error("task %s failed: %s", spec.label or spec.dataset, err)
            error = f"{type(err).__name__}: {err}"
            result = EvalResult.failed(
                spec.label or spec.dataset, spec.dataset, spec.protocol, error, time.perf_counter() - t0
            )
        run.results.append(result)
        if result.error is None:
            run.plots += plot_result(result, out / "plots", f"{i + 1:02d}-{_slug(result.task)}")
        run.seconds = time.perf_counter() - start
        _write_reports(run, suite)
    return run


def _write_reports(run: SuiteResult, suite: Suite) -> None:
    """Rewrite results.json and results.md (after every task, so a late failure keeps earlier rows)."""
    write_json(run.results, run.json, {"suite": run.suite, "model": run.model, "seconds": run.seconds})
    preamble = [
        f"Model: `{run.model}`",
        f"Suite: `{suite.name}` ({suite.path})",
        f"Total time: {run.seconds:.1f} s",
    ]
    write_markdown(run.results, run.markdown, f"Benchmark: {suite.name}", preamble, run.plots)
