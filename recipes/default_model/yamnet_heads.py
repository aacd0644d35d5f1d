"""A CLAP model on YAMNet's frozen AudioSet tower: train the two projection heads on cached features.

The paper's recipe puts an AudioSet-pretrained encoder under the contrastive loss. Here the encoder is
openclap's YAMNet port, kept frozen (its AudioSet vocabulary is what the corpus lacks), and only what
maps it into the joint space is trained: the msclap audio projection (1024 -> 512), the text projection
(MiniLM 384 -> 512) and the temperature, with the CLAP loss over the manifest's captions. Because the
towers are frozen, their outputs are computed once: the audio side reads ``yamnet_teacher.npz`` (each
clip's mean patch embedding) and ``yamnet_teacher_blocks.npz`` (every 0.96 s patch of the longer clips),
the text side runs MiniLM once per distinct caption. An epoch then takes seconds on a CPU.
``--features model`` computes the audio side instead as the model embeds (repeat-padded 5 s windows
through its own front end and patch hop; longer clips as windows every half window, one drawn per
epoch), cached in ``DATA/yamnet_model_features.npz`` (about 4 min for the corpus with 2 threads).

- Crops: each epoch, a clip with patches contributes the mean of a random run of consecutive patches as
  long as the model's window (``clip_seconds``; the model embeds the mean over its patches), other clips
  their clip mean. Captions: one of the clip's captions drawn per epoch.
- Scale: each embedding dimension is divided by its root mean square over the training clips, folded
  exactly into the first (bias-free) linear of the exported projection.
- Choice: every ``--eval-every`` epochs, zero-shot accuracy on the manifest's ``val`` split (each clip's
  first label among the split's labels, the model's prompt templates); the best epoch is kept. Nothing
  else is read: the manifest's other splits (e.g. ``heldout``) and ESC-50 are never touched.
- Output: a full model checkpoint (config ``openclap-yamnet``, the shipped default's; YAMNet's weights
  and the trained heads; the text tower is rebuilt from its package) that ``--checkpoint`` reads, with
  the trained temperature replaced by the calibrated one (``export.py``'s method) unless ``--no-calibrate``.

The same inputs and ``--threads`` give the same file bit for bit (other thread counts change float sums).

Usage (the shipped model):
    .venv/bin/python recipes/default_model/yamnet_heads.py --data /work/openclap-data \\
        --manifest /work/openclap-data/manifest.jsonl --out src/openclap/weights/openclap-yamnet.safetensors
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from export import calibrated_scale

from openclap.audio.clip import sliding_windows
from openclap.audio.io import AudioError, load_mono
from openclap.checkpoint import save_checkpoint
from openclap.cli_errors import check_output_path
from openclap.convert import ConversionError, load_published
from openclap.data.manifest import ManifestEntry, ManifestError, read_manifest
from openclap.embeddings_io import read_embeddings, write_embeddings
from openclap.loss import clap_loss
from openclap.model import ClapModel
from openclap.registry import get_config
from openclap.train.semantic import class_embeddings, template_features, text_feature_table


@dataclass
class Features:
    """Cached YAMNet outputs: ``clip`` [N, 1024] means; ``patches[i]`` [P_i, 1024] (or None if not cached)."""

    clip: torch.Tensor
    patches: list[torch.Tensor | None]


def load_features(data: Path, entries: list[ManifestEntry]) -> tuple[list[ManifestEntry], Features]:
    """The entries that have a cached YAMNet embedding (others are named and skipped), and their features."""
    clips = read_embeddings(data / "yamnet_teacher.npz")
    row = {str(Path(p)): i for i, p in enumerate(clips.paths)}
    blocks_file = data / "yamnet_teacher_blocks.npz"
    blocks = read_embeddings(blocks_file) if blocks_file.exists() else None
    block_row = {str(Path(p)): i for i, p in enumerate(blocks.paths)} if blocks is not None else {}
    keys = [str(Path(e.audio)) for e in entries]
    kept = [(e, key) for e, key in zip(entries, keys, strict=True) if key in row]
    if len(kept) < len(entries):
        print(f"{len(entries) - len(kept)} clips have no YAMNet embedding in {data / 'yamnet_teacher.npz'} "
              "and are skipped")  # fmt: skip
    clip = torch.from_numpy(np.stack([clips.embeddings[row[key]] for _, key in kept])).float()
    patches = [
        torch.from_numpy(blocks.rows_of(block_row[key])).float() if key in block_row else None  # type: ignore[union-attr]
        for _, key in kept
    ]
    return [e for e, _ in kept], Features(clip, patches)


def model_features(
    model: ClapModel, entries: list[ManifestEntry], cache: Path
) -> tuple[list[ManifestEntry], Features]:
    """Features as the model computes them at inference: each clip through ``prepare_waveforms`` (repeat-
    padded to the window) and YAMNet's mean patch embedding; a longer clip as windows of the model's clip
    length every half window (ending on its end), one row each. Written to / read from ``cache``, which
    records the audio settings it was computed with (other settings: computed again)."""
    config = model.config.to_dict()
    settings = json.dumps({k: config[k] for k in ("audio", "audio_encoder")}, sort_keys=True)
    stored = read_embeddings(cache) if cache.exists() else None
    if stored is not None and str(stored.extra.get("settings", "")) == settings:
        rows = {p: stored.rows_of(i) for i, p in enumerate(stored.paths)}
        print(f"read {cache} ({len(rows)} clips)")
    else:
        if stored is not None:
            print(f"{cache} was computed with other audio settings: computing it again")
        rows = _window_features(model, entries)
        paths = sorted(rows)
        offsets = np.cumsum([0] + [len(rows[p]) for p in paths])
        write_embeddings(cache, paths, np.concatenate([rows[p] for p in paths]), model=model.config.name,
                         offsets=offsets, extra={"settings": np.array(settings)})  # fmt: skip
        print(f"wrote {cache} ({len(paths)} clips, {offsets[-1]} windows)")
    kept = [e for e in entries if e.audio in rows]
    clip = torch.from_numpy(np.stack([rows[e.audio].mean(axis=0) for e in kept])).float()
    patches = [torch.from_numpy(rows[e.audio]).float() if len(rows[e.audio]) > 1 else None for e in kept]
    return kept, Features(clip, patches)


def _window_features(model: ClapModel, entries: list[ManifestEntry]) -> dict[str, np.ndarray]:
    """Each readable clip's audio-encoder features [windows, 1024] (unreadable clips named and skipped)."""
    cfg = model.config.audio
    rows: dict[str, np.ndarray] = {}
    start = time.perf_counter()
    for n, entry in enumerate(entries, 1):
        try:
            wave = torch.from_numpy(load_mono(entry.audio, cfg.sample_rate))
        except AudioError as err:
            print(f"skipped {entry.audio}: {err}")
            continue
        windows = [wave]
        if wave.shape[0] > cfg.clip_samples:
            hop = cfg.clip_samples // 2
            windows = list(sliding_windows(wave, cfg.clip_samples, hop, cfg.sample_rate)[0])
        with torch.inference_mode():
            rows[entry.audio] = model.audio_features(model.prepare_waveforms(windows)).float().numpy()
        if n % 500 == 0:
            print(f"  {n}/{len(entries)} clips, {time.perf_counter() - start:.0f} s", flush=True)
    return rows


def window_features(features: Features, index: list[int], window: int, gen: torch.Generator) -> torch.Tensor:
    """[len(index), 1024]: per clip the mean of a random run of ``window`` patches, or its clip mean."""
    rows = []
    for i in index:
        patches = features.patches[i]
        if patches is None or len(patches) <= window:
            rows.append(features.clip[i])
            continue
        start = int(torch.randint(0, len(patches) - window + 1, (1,), generator=gen))
        rows.append(patches[start : start + window].mean(dim=0))
    return torch.stack(rows)


def val_accuracy(model: ClapModel, x: torch.Tensor, labels: list[str], label_features: torch.Tensor) -> float:
    """Zero-shot top-1 of scaled features ``x`` against ``label_features`` [T, C, 384] (prompt ensemble)."""
    classes = sorted(set(labels))
    with torch.no_grad():
        cls = class_embeddings(model.text_projection, label_features)
        audio = F.normalize(model.audio_projection(x), dim=-1)
        pred = (audio @ cls.T).argmax(dim=1).tolist()
    return float(np.mean([classes[p] == label for p, label in zip(pred, labels, strict=True)]))


def fold_scale(model: ClapModel, scale: torch.Tensor) -> None:
    """Make the audio projection read raw YAMNet embeddings: linear1(x / scale) == linear1'(x)."""
    with torch.no_grad():
        model.audio_projection.linear1.weight.div_(scale[None, :])


@dataclass
class TrainData:
    """What an epoch draws from: clips, their features and scale, caption features, batching."""

    entries: list[ManifestEntry]
    features: Features
    train: list[int]
    window: int
    scale: torch.Tensor
    captions: dict[str, torch.Tensor]
    batch_size: int
    gen: torch.Generator


def train_epoch(model: ClapModel, opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler,
                data: TrainData) -> float:  # fmt: skip
    """One pass over the training clips in whole batches (a seeded order, crops and captions); last loss."""
    model.audio_projection.train()
    model.text_projection.train()
    order = torch.randperm(len(data.train), generator=data.gen).tolist()
    steps = len(data.train) // data.batch_size
    for start in range(0, steps * data.batch_size, data.batch_size):
        batch = [data.train[i] for i in order[start : start + data.batch_size]]
        picks = torch.randint(0, 1 << 30, (len(batch),), generator=data.gen).tolist()
        texts = [
            data.entries[i].captions[p % len(data.entries[i].captions)]
            for i, p in zip(batch, picks, strict=True)
        ]
        crops = window_features(data.features, batch, data.window, data.gen) / data.scale
        loss = clap_step(model, crops, torch.stack([data.captions[t] for t in texts]), opt)
        sched.step()
    return loss.item()


def clap_step(
    model: ClapModel, audio_features: torch.Tensor, text_features: torch.Tensor, opt: torch.optim.Optimizer
) -> torch.Tensor:
    """One CLAP-loss step from pooled audio- and text-tower features through both heads; the temperature
    is kept in [1, 100]. Returns the loss (detached)."""
    audio = F.normalize(model.audio_projection(audio_features), dim=-1)
    text = F.normalize(model.text_projection(text_features), dim=-1)
    loss = clap_loss(audio, text, model.logit_scale)
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))
    return loss.detach()


def head_state(model: ClapModel) -> dict[str, torch.Tensor]:
    """A copy of everything but the frozen towers: the heads and the temperature."""
    frozen = ("audio_encoder.", "text_encoder.")
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(frozen)}


def train_heads(args: argparse.Namespace) -> tuple[ClapModel, dict]:
    try:
        entries = [e for e in read_manifest(args.manifest) if e.split in ("train", "val")]
        model = load_published(args.weights, family="yamnet", config=get_config(args.config))
    except (ConversionError, ManifestError) as err:
        raise SystemExit(f"error: {err}") from None
    if args.features == "model":
        entries, features = model_features(model, entries, args.data / "yamnet_model_features.npz")
        window = 1  # one stored window per draw
    else:
        entries, features = load_features(args.data, entries)
        window = max(1, round((model.config.audio.clip_seconds - 0.96) / 0.48) + 1)
    train = [i for i, e in enumerate(entries) if e.split == "train"]
    val = [i for i, e in enumerate(entries) if e.split == "val" and e.labels]
    if not train or not val:
        raise SystemExit(f"error: {args.manifest} needs clips in both the train and val splits")
    templates = list(model.config.prompt_templates)
    scale = features.clip[train].pow(2).mean(dim=0).sqrt() + 1e-6
    captions = text_feature_table(model, [c for i in train for c in entries[i].captions])
    val_labels = [entries[i].labels[0] for i in val]
    label_features = template_features(model, sorted(set(val_labels)), templates)
    val_x = features.clip[val] / scale
    torch.manual_seed(args.seed)
    heads = [*model.audio_projection.parameters(), *model.text_projection.parameters(), model.logit_scale]
    opt = torch.optim.AdamW(heads, lr=args.lr, weight_decay=args.weight_decay)
    total = len(train) // args.batch_size * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    gen = torch.Generator().manual_seed(args.seed)
    best: dict = {"val_zs_acc": -1.0}
    history = []
    t0 = time.perf_counter()
    data = TrainData(entries, features, train, window, scale, captions, args.batch_size, gen)
    for epoch in range(1, args.epochs + 1):
        loss = train_epoch(model, opt, sched, data)
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            model.audio_projection.eval()
            model.text_projection.eval()
            acc = val_accuracy(model, val_x, val_labels, label_features)
            history.append({"epoch": epoch, "loss": loss, "val_zs_acc": acc})
            print(f"epoch {epoch}: loss {loss:.3f}, val zero-shot {100 * acc:.1f} % "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
            if acc > best["val_zs_acc"]:
                best = {"val_zs_acc": acc, "epoch": epoch, "state": head_state(model)}
    model.load_state_dict(best.pop("state"), strict=False)
    fold_scale(model, scale)
    info = {"best": best, "history": history, "train_clips": len(train), "val_clips": len(val),
            "window_patches": window, "seed": args.seed, "epochs": args.epochs, "lr": args.lr,
            "features": args.features}  # fmt: skip
    print(f"best epoch {best['epoch']}: val zero-shot {100 * best['val_zs_acc']:.1f} %")
    return model.eval(), info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="corpus folder (yamnet_teacher*.npz, yamnet/)"
    )
    parser.add_argument("--manifest", type=Path, required=True, help="train and val splits are read")
    parser.add_argument(
        "--weights", type=Path, help="yamnet.safetensors (default DATA/yamnet/yamnet.safetensors)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="the model checkpoint to write (.safetensors)"
    )
    parser.add_argument(
        "--config", default="openclap-yamnet", help="registered config (or JSON) the checkpoint embeds"
    )
    parser.add_argument(
        "--features",
        choices=["teacher", "model"],
        default="teacher",
        help="teacher: yamnet_teacher*.npz (YAMNet's own padding); model: computed as the model embeds "
        "(repeat-padded 5 s windows), cached in DATA/yamnet_model_features.npz",
    )
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-calibrate", action="store_true", help="keep the trained temperature")
    args = parser.parse_args()
    args.weights = args.weights or args.data / "yamnet" / "yamnet.safetensors"
    text = get_config(args.config).text_encoder
    if not (text.pretrained and text.source):  # the checkpoint leaves the text tower to its package
        raise SystemExit(
            f"error: --config {args.config}: needs a pretrained text tower (text_encoder.source)"
        )
    needed = [args.manifest, args.weights, args.data / "yamnet_teacher.npz"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} not found (recipes/default_model/README.md: "
                         "yamnet_export.py, yamnet_teacher.py)")  # fmt: skip
    check_out(args.out)
    torch.set_num_threads(args.threads)
    model, info = train_heads(args)
    write_model(model, info, args.out, None if args.no_calibrate else args.manifest)


def check_out(out: Path) -> None:
    """``--out`` must be a writable ``.safetensors`` path: said before minutes of work, as one line."""
    if out.suffix != ".safetensors":
        raise SystemExit(f"error: --out {out}: give a .safetensors file name")
    try:
        check_output_path(out)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None


def write_model(model: ClapModel, info: dict, out: Path, calibrate_on: Path | None) -> None:
    """Calibrate the temperature on ``calibrate_on``'s val split (None: keep the trained one), then write
    the model (no text weights: the text tower is rebuilt from its package) with ``info`` as metadata."""
    if calibrate_on is not None:
        scale, report = calibrated_scale(model, calibrate_on)
        with torch.no_grad():
            model.logit_scale.fill_(float(np.log(scale)))
        info["calibration"] = report
        print("temperature calibration on the val split: " + json.dumps(report))
    folder = out.parent / f".{out.stem}.export"
    save_checkpoint(model, folder, include_text=False, extra={"trained": info})
    (folder / "model.safetensors").replace(out)
    (folder / "config.json").unlink()
    folder.rmdir()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
