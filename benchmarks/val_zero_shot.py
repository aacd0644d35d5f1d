"""Zero-shot accuracy of checkpoints on a manifest's validation split, both ways of embedding long clips.

The data recipe's val split (recipes/default_model) is what chooses the default model's settings;
this scores any checkpoints on it side by side, with the model's prompt templates (or ``--template``),
embedding each clip as the mean over clip-length windows (what ``openclap embed`` / ``classify`` do)
and as one centre crop. Classes are the first labels present in the split, as in training.

Usage: .venv/bin/python benchmarks/val_zero_shot.py --manifest /work/openclap-data/manifest.jsonl \
           --checkpoints src/openclap/weights/openclap-small.safetensors runs/default_model_v5/best
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from openclap import create_model
from openclap.data.manifest import read_manifest
from openclap.inference import embed_audio_files
from openclap.zero_shot import ZeroShotClassifier


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--checkpoints", nargs="+", required=True, help="openclap checkpoints")
    parser.add_argument("--model", default="openclap-small", help="config to load them with")
    parser.add_argument("--template", action="append", help="prompt template(s); default: the model's")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    entries = [e for e in read_manifest(args.manifest, split=args.split) if e.labels]
    labels = [e.labels[0] for e in entries]
    classes = sorted(set(labels))
    truth = np.array([classes.index(label) for label in labels])
    print(f"{len(entries)} clips, {len(classes)} classes (chance {100 / len(classes):.1f} %)")
    for checkpoint in args.checkpoints:
        model = create_model(args.model, checkpoint=checkpoint)
        clf = ZeroShotClassifier(model, classes, templates=args.template)
        scores = []
        for policy in ("mean", "crop"):
            result = embed_audio_files(model, [e.audio for e in entries], long_audio=policy, progress=False)
            if result.errors:
                raise SystemExit(f"could not embed {result.errors[:3]}")
            predicted = clf.predict_proba(result.embeddings).argmax(axis=1)
            scores.append(100 * float((predicted == truth).mean()))
        print(f"{checkpoint}: window mean {scores[0]:.1f} %, centre crop {scores[1]:.1f} %")


if __name__ == "__main__":
    main()
