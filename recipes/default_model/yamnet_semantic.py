"""Text-space targets from YAMNet's scores (``distill.semantic`` in the trainer).

YAMNet hears 521 AudioSet classes in every clip, named or not. This turns its scores into non-negative
weights over the classes, which the trainer (``openclap.train.semantic``) turns into a target in the
model's own embedding space: the weighted mean of the class names' text embeddings. The audio tower so
learns AudioSet's vocabulary where zero-shot classification reads it.

Weights: a class's score raised to ``gamma`` (sharper for larger gamma, so that the likely classes rather
than their generic parents dominate), only the ``top_k`` best classes of a clip kept, and the
uninformative classes of ``yamnet_captions`` (silence, rooms, generic noise, the ontology's blacklisted
and abstract classes) set to 0. Class texts are the ontology's names ("dog", "bark", "vehicle horn, car
horn, honking").

``gamma`` and ``top_k`` are chosen on the manifest's val split (never on a held-out set): for each pair,
the zero-shot accuracy of the targets themselves in the locked text tower's space (MiniLM features of the
model's prompt templates; each val clip's first label against the split's labels). The table and the pick
are printed and stored in the output (``gamma``, ``top_k``, ``val_accuracy``).

Writes DATA/yamnet_semantic.npz (``paths``, ``embeddings`` = weights [N, 521], ``class_texts``) and, when
DATA/yamnet_teacher_blocks.npz exists, DATA/yamnet_semantic_blocks.npz (the same for every patch, with
``offsets``, ``block_seconds``, ``hop_seconds``).

Usage:
    .venv/bin/python recipes/default_model/yamnet_semantic.py --data /work/openclap-data
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from git_sources import find_repo
from yamnet_captions import SoundClass, load_classes, load_ontology

from openclap import create_model
from openclap.cli_errors import positive_int
from openclap.embeddings_io import read_embeddings, write_embeddings
from openclap.model import ClapModel
from openclap.train.semantic import template_features

GAMMAS = (1.0, 2.0, 3.0, 4.0)
TOP_KS = (3, 5, 10, 521)


def class_texts(classes: list[SoundClass]) -> list[str]:
    return [", ".join(c.phrases) for c in classes]


def weights(scores: np.ndarray, excluded: np.ndarray, gamma: float, top_k: int) -> np.ndarray:
    """[N, C] weights: scores ** gamma of each row's ``top_k`` best informative classes, others 0."""
    kept = np.where(excluded[None, :], 0.0, np.clip(scores, 0.0, 1.0)).astype(np.float64)
    if top_k < kept.shape[1]:
        cut = np.partition(kept, -top_k, axis=1)[:, -top_k][:, None]
        kept = np.where(kept >= cut, kept, 0.0)
    return (kept**gamma).astype(np.float32)


def text_embeddings(model: ClapModel, texts: list[str]) -> torch.Tensor:
    """Normalised mean over the model's templates of the normalised locked text features: [len, D_text]."""
    features = template_features(model, texts, model.config.prompt_templates or ["{}"])
    return F.normalize(F.normalize(features, dim=-1).sum(dim=0), dim=-1)


def val_accuracy(w: np.ndarray, classes: torch.Tensor, labels: torch.Tensor, truth: np.ndarray) -> float:
    target = F.normalize(torch.from_numpy(w) @ classes, dim=-1)
    return float(((target @ labels.T).argmax(dim=1).numpy() == truth).mean())


def choose(
    scores: np.ndarray, excluded: np.ndarray, model: ClapModel, texts: list[str], val: list[dict]
) -> dict:
    labels = sorted({r["labels"][0] for r in val})
    truth = np.array([labels.index(r["labels"][0]) for r in val])
    cls, lab = text_embeddings(model, texts), text_embeddings(model, labels)
    print(f"val: {len(val)} clips, {len(labels)} labels (chance {100 / len(labels):.1f} %)")
    table = {}
    for gamma, top_k in itertools.product(GAMMAS, TOP_KS):
        table[(gamma, top_k)] = val_accuracy(weights(scores, excluded, gamma, top_k), cls, lab, truth)
        print(f"  gamma {gamma:g}, top {top_k}: {100 * table[(gamma, top_k)]:.1f} %")
    gamma, top_k = max(table, key=lambda key: (table[key], -key[0], -key[1]))  # ties: the gentler one
    print(f"picked gamma {gamma:g}, top {top_k} ({100 * table[(gamma, top_k)]:.1f} % on val)")
    return {"gamma": gamma, "top_k": top_k, "val_accuracy": table[(gamma, top_k)]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="the corpus folder (manifest, yamnet_teacher)"
    )
    parser.add_argument(
        "--repos", type=Path, default=Path("/work/.mirror"), help="where audioset/ontology is"
    )
    parser.add_argument(
        "--model", default="openclap-small", help="config whose text tower and templates to use"
    )
    parser.add_argument("--threads", type=positive_int, default=2, help="torch's intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = args.data
    needed = [data / "manifest.jsonl", data / "yamnet_teacher.npz", data / "yamnet" / "yamnet_class_map.csv"]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:  # before the text tower loads
        raise SystemExit(f"error: {', '.join(missing)} not found: run prepare_data.py, yamnet_export.py and "
                         "yamnet_teacher.py first (recipes/default_model/README.md)")  # fmt: skip
    ontology_dir = find_repo(args.repos, "audioset/ontology")
    ontology = load_ontology(ontology_dir) if ontology_dir is not None else None
    classes = load_classes(data / "yamnet" / "yamnet_class_map.csv", ontology)
    excluded, texts = np.array([c.excluded for c in classes]), class_texts(classes)
    clips = read_embeddings(data / "yamnet_teacher.npz")
    scores = clips.extra["scores"]
    manifest = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    row = {p: i for i, p in enumerate(clips.paths)}
    train = [r for r in manifest if r["audio"] in row]
    val = [r for r in train if r["split"] == "val" and r.get("labels")]
    model = create_model(args.model)
    pick = choose(scores[[row[r["audio"]] for r in val]], excluded, model, texts, val)
    keep = [row[r["audio"]] for r in train]
    meta = {"class_texts": np.array(texts), **{k: np.array(v) for k, v in pick.items()}}
    w = weights(scores[keep], excluded, pick["gamma"], pick["top_k"])
    write_embeddings(
        data / "yamnet_semantic.npz", [clips.paths[i] for i in keep], w, model="yamnet", extra=meta
    )
    print(f"yamnet_semantic.npz: {len(keep)} clips")
    blocks_file = data / "yamnet_teacher_blocks.npz"
    if blocks_file.exists():
        blocks = read_embeddings(blocks_file)
        w = weights(blocks.extra["scores"], excluded, pick["gamma"], pick["top_k"])
        extra = {
            **meta,
            "block_seconds": blocks.extra["block_seconds"],
            "hop_seconds": blocks.extra["hop_seconds"],
        }
        write_embeddings(data / "yamnet_semantic_blocks.npz", blocks.paths, w, model="yamnet",
                         offsets=blocks.offsets, extra=extra)  # fmt: skip
        print(f"yamnet_semantic_blocks.npz: {len(blocks.paths)} clips, {len(w)} patches")


if __name__ == "__main__":
    main()
