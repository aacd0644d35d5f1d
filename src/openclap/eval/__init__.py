"""Evaluation: benchmark adapters, zero-shot / retrieval / linear-probe / fine-tuning protocols,
embedding cache, suite runner and reports. scikit-learn and matplotlib are imported only when a probe or
plot runs."""

from openclap.eval.bench import load_suite, run_eval, run_suite
from openclap.eval.datasets import EvalDataset, get_dataset, list_datasets
from openclap.eval.embedding import EmbedOptions
from openclap.eval.finetune import run_finetune
from openclap.eval.linear_probe import run_linear_probe
from openclap.eval.retrieval import run_retrieval
from openclap.eval.zeroshot import run_zeroshot

__all__ = [
    "EmbedOptions",
    "EvalDataset",
    "get_dataset",
    "list_datasets",
    "load_suite",
    "run_eval",
    "run_finetune",
    "run_linear_probe",
    "run_retrieval",
    "run_suite",
    "run_zeroshot",
]
