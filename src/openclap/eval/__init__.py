"""Evaluation: benchmark adapters, zero-shot / retrieval / linear-probe / fine-tuning protocols,
embedding cache, suite runner and reports. Names are imported on first use; scikit-learn and matplotlib
only when a probe or plot runs."""

from openclap._lazy import lazy_exports

_EXPORTS = {
    "load_suite": "openclap.eval.bench",
    "run_eval": "openclap.eval.bench",
    "run_suite": "openclap.eval.bench",
    "EvalDataset": "openclap.eval.datasets",
    "get_dataset": "openclap.eval.datasets",
    "list_datasets": "openclap.eval.datasets",
    "EmbedOptions": "openclap.eval.embedding",
    "run_finetune": "openclap.eval.finetune",
    "run_linear_probe": "openclap.eval.linear_probe",
    "run_retrieval": "openclap.eval.retrieval",
    "run_zeroshot": "openclap.eval.zeroshot",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
