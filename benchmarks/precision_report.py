"""bf16 against fp32 inference: embedding cosine per family, speed ratio, ESC-50 fold-4 zero-shot agreement.

Usage: .venv/bin/python benchmarks/precision_report.py [--cases msclap-2022 ...] [--threads 2]
           [--batch 8] [--skip-esc50]

Families: every ``../shared/parity`` case (seeded weights in the published layout, converted; their text
inputs are the case's stored token ids) and ``openclap-yamnet`` with its shipped weights (text: the
parity prompts). Audio: the 13 real clips of ``../shared/data/audiocaps-demo`` resampled to each model's
rate (``long_audio="crop"``). Per family: the smallest cosine between the fp32 and bf16 embedding of the
same clip / text, and the audio seconds of fp32 and bf16 (batch ``--batch``, median of 3 after a warm-up,
alternating so both see the same load). ESC-50 fold 4 (evaluation only): the default model's zero-shot
accuracy in fp32 and bf16 (the dataset's published prompt) and the share of clips predicted alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from seeded import CASES, parity_case

from openclap import create_model, embed_audio, load_audio
from openclap.model import ClapModel

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def real_clips() -> list[tuple[np.ndarray, int]]:
    files = sorted((DATA / "audiocaps-demo" / "audio").glob("*.flac"))
    if not files:
        raise SystemExit(f"no clips in {DATA / 'audiocaps-demo'}")
    return [load_audio(f) for f in files]


def min_cosine(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    a, b = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1).min())


def audio_embeddings(model: ClapModel, clips: list[tuple[np.ndarray, int]]) -> np.ndarray:
    return np.concatenate([embed_audio(model, [w.mean(0)], sr, long_audio="crop") for w, sr in clips])


def time_audio(
    model: ClapModel, batch: int, precisions: tuple[str, ...] = ("fp32", "bf16")
) -> dict[str, float]:
    """Median seconds per clip of ``encode_audio`` on one batch, per precision, alternating."""
    cfg = model.config.audio
    waves = [
        torch.from_numpy(np.random.default_rng(i).standard_normal(cfg.clip_samples).astype(np.float32) * 0.1)
        for i in range(batch)
    ]
    prepared = model.prepare_waveforms(waves)
    times: dict[str, list[float]] = {p: [] for p in precisions}
    with torch.inference_mode():
        for rep in range(4):
            for precision in precisions:
                model.set_precision(precision)
                start = time.perf_counter()
                model.encode_audio(prepared)
                if rep:
                    times[precision].append((time.perf_counter() - start) / batch)
    model.set_precision("fp32")
    return {p: statistics.median(t) for p, t in times.items()}


def family_row(name: str, model: ClapModel, tokens: dict[str, torch.Tensor], clips, batch: int) -> str:
    emb = {}
    for precision in ("fp32", "bf16"):
        model.set_precision(precision)
        with torch.inference_mode():
            emb[precision] = (audio_embeddings(model, clips), model.encode_text(tokens))
    model.set_precision("fp32")
    audio_cos = min_cosine(emb["fp32"][0], emb["bf16"][0])
    text_cos = min_cosine(emb["fp32"][1], emb["bf16"][1])
    t = time_audio(model, batch)
    return (
        f"| {name} | {audio_cos:.6f} | {text_cos:.6f} | {t['fp32']:.3f} | {t['bf16']:.3f} "
        f"| {t['fp32'] / t['bf16']:.2f}x |"
    )


def esc50_agreement() -> None:
    from openclap.eval.datasets.sound_events import load_esc50
    from openclap.eval.embedding import EmbedOptions, embed_dataset
    from openclap.eval.prompts import prompt_class_names, templates_for
    from openclap.zero_shot import ZeroShotClassifier

    dataset = load_esc50(DATA / "esc50-fold4")
    model = create_model("openclap-yamnet")
    preds, seconds = {}, {}
    for precision in ("fp32", "bf16"):
        model.set_precision(precision)
        start = time.perf_counter()
        embedded = embed_dataset(model, dataset, EmbedOptions(progress=False))
        seconds[precision] = time.perf_counter() - start
        names = prompt_class_names(embedded.dataset.class_names, "esc50")
        clf = ZeroShotClassifier(model, names, templates=templates_for("esc50"))
        preds[precision] = clf.predict_proba(embedded.embeddings).argmax(axis=1)
    targets = embedded.dataset.targets()
    acc = {p: 100 * float((v == targets).mean()) for p, v in preds.items()}
    agree = 100 * float((preds["fp32"] == preds["bf16"]).mean())
    print(
        f"\nESC-50 fold 4 ({len(targets)} clips), openclap-yamnet zero-shot: fp32 {acc['fp32']:.2f} %, "
        f"bf16 {acc['bf16']:.2f} % ({acc['bf16'] - acc['fp32']:+.2f} points); same prediction on "
        f"{agree:.2f} % of clips; files to embeddings {seconds['fp32']:.1f} s fp32, "
        f"{seconds['bf16']:.1f} s bf16"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--skip-esc50", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clips = real_clips()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(clips)} real clips, "
        f"batch {args.batch}\n"
    )
    print("| family | min cosine audio | min cosine text | fp32 s/clip | bf16 s/clip | bf16 speed-up |")
    print("|---|---|---|---|---|---|")
    small = create_model("openclap-yamnet")
    print(
        family_row(
            "openclap-yamnet (shipped weights)",
            small,
            small.tokenize(
                ["a dog barking", "rain on a window", "a siren in the street", "church bells ringing"]
            ),
            clips,
            args.batch,
        ),
        flush=True,
    )
    for name in args.cases:
        case = parity_case(name)
        print(family_row(f"{name} (seeded)", case.model, case.tokens, clips, args.batch), flush=True)
    if not args.skip_esc50:
        esc50_agreement()


if __name__ == "__main__":
    main()
