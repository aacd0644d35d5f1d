"""ONNX export against eager openclap: embedding differences per family, int8 speed and ESC-50 accuracy.

Usage: .venv/bin/python benchmarks/export_check.py [--cases msclap-2022 ...] [--threads 2] [--skip-esc50]

Families: ``tiny-test`` (seeded), every ``../shared/parity`` case (seeded weights in the published
layout, converted; clips and token ids stored with the case) and ``openclap-yamnet`` (shipped weights).
Each is exported with ``export_onnx`` and run with onnxruntime (``OnnxClap``); the table gives the
largest absolute difference and the smallest cosine between onnxruntime and eager embeddings, fp32
and int8. Fusion models are compared on clips that fit the clip length (their exported path).
For openclap-yamnet: clips/s at batch 16 of eager fp32 / bf16 and onnxruntime fp32 / int8 (alternating,
median of 3), and ESC-50 fold 4 zero-shot accuracy (evaluation only) of eager fp32 and onnxruntime int8.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from seeded import CASES, parity_case

from openclap import create_model
from openclap.export import OnnxClap, export_onnx
from openclap.model import ClapModel

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def compare(
    name: str, model: ClapModel, clips: list[torch.Tensor], tokens: dict[str, torch.Tensor], threads: int
) -> None:
    cfg = model.config.audio
    if cfg.fusion_shrink is not None:
        clips = [c for c in clips if c.shape[-1] <= cfg.clip_samples]
    with torch.inference_mode():
        audio = model.encode_audio(model.prepare_waveforms(clips)).numpy()
        text = model.encode_text(tokens).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        export_onnx(model, Path(tmp) / "onnx")
        seconds = time.perf_counter() - start
        for int8 in (False, True):
            onnx = OnnxClap(Path(tmp) / "onnx", int8=int8, threads=threads)
            got_audio = onnx.embed_audio([c.numpy() for c in clips])
            got_text = onnx.embed_tokens({k: v.numpy() for k, v in tokens.items()})
            cells = []
            for got, want in ((got_audio, audio), (got_text, text)):
                cells += [f"{np.abs(got - want).max():.2g}", f"{(got * want).sum(axis=1).min():.6f}"]
            print(
                f"| {name} | {'int8' if int8 else 'fp32'} | {' | '.join(cells)} | {seconds:.0f} s |",
                flush=True,
            )


def clips_per_second(run, batch: list[np.ndarray], repeats: int = 3) -> float:
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        run(batch)
        if i:
            times.append(time.perf_counter() - start)
    return len(batch) / statistics.median(times)


def default_model_speed_and_accuracy(threads: int, esc50: bool) -> None:
    model = create_model("openclap-yamnet")
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_onnx(model, Path(tmp) / "onnx")
        runs = {
            "ort fp32": OnnxClap(folder, threads=threads),
            "ort int8": OnnxClap(folder, int8=True, threads=threads),
        }
        rng = np.random.default_rng(0)
        batch = [
            rng.standard_normal(model.config.audio.clip_samples).astype(np.float32) * 0.1 for _ in range(16)
        ]

        def eager(precision: str):  # type: ignore[no-untyped-def]
            def run(waves: list[np.ndarray]) -> None:
                model.set_precision(precision)
                with torch.inference_mode():
                    model.encode_audio(model.prepare_waveforms([torch.from_numpy(w) for w in waves]))

            return run

        speed: dict[str, list[float]] = {}
        for _ in range(2):  # alternate so every variant sees the same load
            for label, run in (
                ("eager fp32", eager("fp32")),
                ("eager bf16", eager("bf16")),
                ("ort fp32", runs["ort fp32"].embed_audio),
                ("ort int8", runs["ort int8"].embed_audio),
            ):
                speed.setdefault(label, []).append(clips_per_second(run, batch))
        model.set_precision("fp32")
        base = statistics.median(speed["eager fp32"])
        print(
            f"\nopenclap-yamnet audio, batch 16, {threads} threads: "
            + ", ".join(
                f"{k} {statistics.median(v):.1f} clips/s ({statistics.median(v) / base:.2f}x)"
                for k, v in speed.items()
            )
        )
        if esc50:
            esc50_accuracy(model, runs["ort int8"], runs["ort fp32"])


def esc50_accuracy(model: ClapModel, int8: OnnxClap, fp32: OnnxClap) -> None:
    from openclap import embed_audio_files
    from openclap.audio.io import load_mono
    from openclap.eval.datasets.sound_events import load_esc50
    from openclap.eval.prompts import prompt_class_names, templates_for
    from openclap.zero_shot import ZeroShotClassifier

    dataset = load_esc50(DATA / "esc50-fold4")
    paths = [str(p) for p in dataset.paths]
    targets = dataset.targets()
    clf = ZeroShotClassifier(
        model, prompt_class_names(dataset.class_names, "esc50"), templates=templates_for("esc50")
    )
    waves = [load_mono(p, model.config.audio.sample_rate) for p in paths]
    preds = {"eager fp32": clf.predict_proba(embed_audio_files(model, paths).embeddings).argmax(1)}
    for label, onnx in (("ort fp32", fp32), ("ort int8", int8)):
        emb = np.concatenate([onnx.embed_audio(waves[i : i + 16]) for i in range(0, len(waves), 16)])
        preds[label] = clf.predict_proba(emb).argmax(1)
    acc = {k: 100 * float((v == targets).mean()) for k, v in preds.items()}
    same = {k: 100 * float((v == preds["eager fp32"]).mean()) for k, v in preds.items()}
    print(
        f"ESC-50 fold 4 ({len(targets)} clips) zero-shot, openclap-yamnet: "
        + ", ".join(f"{k} {acc[k]:.2f} % (same prediction as eager fp32 on {same[k]:.1f} %)" for k in preds)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-esc50", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads\n")
    print(
        "| family | graphs | audio max abs diff | audio min cosine | text max abs diff | text min cosine "
        "| export time |"
    )
    print("|---|---|---|---|---|---|---|")
    torch.manual_seed(0)
    tiny = create_model("tiny-test")
    rng = np.random.default_rng(0)
    tiny_clips = [
        torch.from_numpy(rng.standard_normal(n).astype(np.float32) * 0.1) for n in (16000, 9000, 23000)
    ]
    compare(
        "tiny-test (seeded)",
        tiny,
        tiny_clips,
        tiny.tokenize(["a dog", "rain on a tin roof", "x"]),
        args.threads,
    )
    small = create_model("openclap-yamnet")
    compare(
        "openclap-yamnet (shipped)",
        small,
        tiny_clips,
        small.tokenize(["a dog", "rain on a tin roof", "x"]),
        args.threads,
    )
    for name in args.cases:
        case = parity_case(name)
        compare(f"{name} (seeded)", case.model, case.clips, case.tokens, args.threads)
    if not args.skip_speed:
        default_model_speed_and_accuracy(args.threads, not args.skip_esc50)


if __name__ == "__main__":
    main()
