"""Compiled (``ClapModel.compile_towers``) against eager, one process: model-only clips/s at one batch
size, the wait for compiling (or loading the cached package) plus the first call, embedding cosine to
eager fp32, and zero-shot accuracy and agreement of predictions on a classification dataset (ESC-50 fold
4 by default), fp32 and bf16. Set ``OPENCLAP_CACHE_DIR`` to an empty folder to time a first compilation.

Usage: .venv/bin/python benchmarks/compile_check.py [--model openclap-yamnet] [--batch-size 16]
           [--dataset esc50 --root ../shared/data/esc50-fold4] [--precisions fp32 bf16] [--untrained]
Eager and compiled alternate in the timing loop (three rounds; the best round of each is printed), so a
noisy host slows both alike. ``--untrained``: seeded random weights (the published families' speed
without their downloads); zero-shot is then skipped.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from openclap import create_model
from openclap.eval import get_dataset
from openclap.eval.embedding import EmbedOptions, embed_dataset
from openclap.eval.prompts import prompt_class_names, templates_for
from openclap.zero_shot import ZeroShotClassifier


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="openclap-yamnet")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dataset", default="esc50")
    parser.add_argument("--root", default="../shared/data/esc50-fold4")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--untrained", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    trained = not args.untrained
    eager = create_model(args.model, pretrained=trained, text=trained)  # zero-shot needs the text tower
    torch.manual_seed(0)
    compiled = create_model(args.model, pretrained=trained, text=trained)
    cfg = eager.config.audio
    g = torch.Generator().manual_seed(0)
    waves = [0.1 * torch.randn(cfg.clip_samples, generator=g) for _ in range(args.batch_size)]
    batch = eager.prepare_waveforms(waves)
    threads = torch.get_num_threads()
    print(f"{args.model}, torch {torch.__version__}, {threads} threads, batch {args.batch_size}")
    for precision in args.precisions:
        eager.set_precision(precision)
        start = time.perf_counter()
        compiled.set_precision(precision).compile_towers()  # builds or loads this precision's package
        with torch.inference_mode():
            compiled.encode_audio(batch)
            first = time.perf_counter() - start
            eager.encode_audio(batch)
            best = {"eager": float("inf"), "compiled": float("inf")}
            for _ in range(3):
                for name, model in (("eager", eager), ("compiled", compiled)):
                    start = time.perf_counter()
                    model.encode_audio(batch)
                    best[name] = min(best[name], time.perf_counter() - start)
        line = (
            f"{precision}: eager {args.batch_size / best['eager']:.1f} clips/s, compiled "
            f"{args.batch_size / best['compiled']:.1f} ({best['eager'] / best['compiled']:.2f}x); "
            f"compile + first call {first:.1f} s"
        )
        if not args.untrained:
            line += "; " + zero_shot_line(eager, compiled, args)
        print(line, flush=True)


def zero_shot_line(eager, compiled, args: argparse.Namespace) -> str:  # type: ignore[no-untyped-def]
    dataset = get_dataset(args.dataset, args.root)
    options = EmbedOptions(batch_size=args.batch_size, progress=False)
    names = prompt_class_names(dataset.class_names, dataset.name)
    reference_precision = eager.precision
    eager.set_precision("fp32")
    reference = embed_dataset(eager, dataset, options).embeddings
    eager.set_precision(reference_precision)
    out = {}
    for name, model in (("eager", eager), ("compiled", compiled)):
        embedded = embed_dataset(model, dataset, options)
        classifier = ZeroShotClassifier(model, names, templates=templates_for(dataset.name))
        predicted = classifier.predict_proba(embedded.embeddings).argmax(axis=1)
        out[name] = (embedded.embeddings, predicted, embedded.dataset.targets())
    (_, e_pred, targets), (c_emb, c_pred, _) = out["eager"], out["compiled"]
    cosine = float((c_emb * reference).sum(axis=1).min())
    return (
        f"{dataset.name} zero-shot eager {np.mean(e_pred == targets):.2%}, "
        f"compiled {np.mean(c_pred == targets):.2%}, "
        f"same prediction {np.mean(e_pred == c_pred):.2%}; min cosine of compiled to eager fp32 {cosine:.6f}"
    )


if __name__ == "__main__":
    main()
