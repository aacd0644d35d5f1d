"""Zero-shot transfer to concepts never seen in training, measured on frozen audio features.

Zero-shot on ESC-50 asks a model trained on one caption vocabulary to name classes it may never have
heard described. This benchmark measures that ability directly on a training manifest: for each seed,
a fifth of the clip concepts (each clip's first label) is held out; CLAP projection heads (msclap
style, as in ``openclap-small``) are trained on frozen audio features and frozen MiniLM text
features of the remaining clips' captions; then the held-out clips are classified zero-shot among
the held-out concepts ("this is a sound of {label}"). For contrast, "seen" is the zero-shot accuracy
on the manifest's val split restricted to concepts that stayed in training (among those concepts).

Audio features come from an .npz of ``paths`` and ``embeddings`` (e.g. the teacher embeddings of
``recipes/default_model/teacher.py``) or from a model's pooled audio-encoder features (``--model``,
first ``clip_seconds`` of each clip). Nothing here reads ESC-50 or AudioCaps.

Usage:
    .venv/bin/python benchmarks/unseen_concepts.py --manifest /work/openclap-data/manifest.jsonl \\
        --features /work/openclap-data/teacher.npz --model openclap-small
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from openclap import create_model
from openclap.audio.io import AudioError, load_mono
from openclap.config import ProjectionConfig
from openclap.data.manifest import ManifestEntry, read_manifest
from openclap.layers import build_projection
from openclap.loss import clap_loss
from openclap.model import ClapModel
from openclap.train.semantic import text_feature_table

PROMPT = "this is a sound of {}"
TEXT_HEADS = ("msclap", "slow", "none")


def model_audio_features(model: ClapModel, entries: Sequence[ManifestEntry]) -> dict[str, np.ndarray]:
    """Pooled audio-encoder features of each clip's first ``clip_seconds`` (bad files are skipped)."""
    cfg = model.config.audio
    feats: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for entry in entries:
            try:
                wave = load_mono(entry.audio, cfg.sample_rate)[: cfg.clip_samples]
            except AudioError as err:
                print(f"skipped: {err}")
                continue
            feats[entry.audio] = model.audio_features(torch.from_numpy(wave)[None]).numpy()[0]
    return feats


def run_seed(
    entries: Sequence[ManifestEntry],
    audio: dict[str, np.ndarray],
    text: dict[str, torch.Tensor],
    seed: int,
    epochs: int,
    held_fraction: float = 0.2,
    text_head: str = "msclap",
) -> dict[str, float]:
    """Train heads without a random fifth of the concepts; zero-shot accuracy on unseen and seen ones.

    ``text_head``: ``msclap`` (trained like the audio head), ``slow`` (the same at a tenth of the
    learning rate) or ``none`` (no text projection: audio is mapped into MiniLM's own 384-d space).
    """
    concepts = sorted({e.labels[0] for e in entries})
    held = set(random.Random(seed).sample(concepts, int(len(concepts) * held_fraction)))
    train = [e for e in entries if not held.intersection(e.labels) and e.split != "val"]
    unseen = [e for e in entries if e.labels[0] in held]
    seen = [e for e in entries if e.split == "val" and not held.intersection(e.labels)]
    x = torch.tensor(np.stack([audio[e.audio] for e in entries]), dtype=torch.float32)
    row = {e.audio: i for i, e in enumerate(entries)}
    mean, std = x[[row[e.audio] for e in train]].mean(0), x[[row[e.audio] for e in train]].std(0) + 1e-6
    x = (x - mean) / std
    torch.manual_seed(seed)
    if text_head not in TEXT_HEADS:
        raise ValueError(f"text_head={text_head!r}; choose one of {TEXT_HEADS}")
    proj = ProjectionConfig(style="msclap", dim=384 if text_head == "none" else 512)
    audio_proj = build_projection(proj, x.shape[1])
    text_proj = torch.nn.Identity() if text_head == "none" else build_projection(proj, 384)
    logit_scale = torch.nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))
    groups = [{"params": [*audio_proj.parameters(), logit_scale]}]
    if text_head != "none":
        groups.append({"params": list(text_proj.parameters()), "lr": 1e-4 if text_head == "slow" else 1e-3})
    opt = torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=gen).tolist()
        for start in range(0, len(order) - 63, 64):
            batch = [train[i] for i in order[start : start + 64]]
            picks = torch.randint(0, 1 << 30, (len(batch),), generator=gen).tolist()
            captions = [e.captions[p % len(e.captions)] for e, p in zip(batch, picks, strict=True)]
            a = F.normalize(audio_proj(x[[row[e.audio] for e in batch]]), dim=-1)
            t = F.normalize(text_proj(torch.stack([text[c] for c in captions])), dim=-1)
            loss = clap_loss(a, t, logit_scale)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def accuracy(items: Sequence[ManifestEntry]) -> float:
        classes = sorted({e.labels[0] for e in items})
        with torch.no_grad():
            c = F.normalize(text_proj(torch.stack([text[PROMPT.format(k)] for k in classes])), dim=-1)
            a = F.normalize(audio_proj(x[[row[e.audio] for e in items]]), dim=-1)
            pred = (a @ c.T).argmax(1).tolist()
        return float(np.mean([classes[p] == e.labels[0] for p, e in zip(pred, items, strict=True)]))

    return {
        "unseen_acc": accuracy(unseen),
        "unseen_classes": len(held),
        "unseen_clips": len(unseen),
        "seen_acc": accuracy(seen),
        "seen_classes": len({e.labels[0] for e in seen}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--features", action="append", default=[], help=".npz of paths and embeddings")
    ap.add_argument("--model", action="append", default=[], help="registered model: its pooled features")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--text-head", choices=TEXT_HEADS, default="msclap", help="see run_seed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    entries = [e for e in read_manifest(args.manifest) if e.labels]
    text_model = create_model("openclap-small")
    prompts = [PROMPT.format(e.labels[0]) for e in entries]
    text = text_feature_table(text_model, [c for e in entries for c in e.captions] + prompts)
    sources: list[tuple[str, dict[str, np.ndarray]]] = []
    for path in args.features:
        data = np.load(path)
        sources.append((path, dict(zip(data["paths"].tolist(), data["embeddings"], strict=True))))
    for name in args.model:
        sources.append((f"{name} (pooled)", model_audio_features(create_model(name), entries)))
    for label, audio in sources:
        usable = [e for e in entries if e.audio in audio]
        results = [
            run_seed(usable, audio, text, seed, args.epochs, text_head=args.text_head) for seed in args.seeds
        ]
        unseen = [r["unseen_acc"] for r in results]
        seen = [r["seen_acc"] for r in results]
        chance = 1 / results[0]["unseen_classes"]
        head = f"{label}, {args.text_head} text head"
        print(
            f"{head}: unseen concepts {100 * np.mean(unseen):.1f} % (+-{100 * np.std(unseen):.1f}; "
            f"{results[0]['unseen_classes']} classes, chance {100 * chance:.1f} %), "
            f"seen concepts (val split) {100 * np.mean(seen):.1f} % (+-{100 * np.std(seen):.1f}), "
            f"{len(usable)} clips, seeds {args.seeds}",
            flush=True,
        )


if __name__ == "__main__":
    main()
