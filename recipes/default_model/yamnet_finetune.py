"""Fine-tune the last blocks of openclap-yamnet's YAMNet tower contrastively, with its heads.

The heads recipe (``yamnet_heads.py``) keeps YAMNet frozen; this is the paper's recipe one step further:
an AudioSet-pretrained encoder trained under the CLAP loss, here its last ``--blocks`` depthwise-separable
blocks (2: 1.6 M of YAMNet's 3.2 M weights, the 1024-channel layers) together with both projection heads
and the temperature, starting from a trained model (``--init``, the shipped default). Everything below the
tuned blocks stays frozen, so its output is computed once per clip, as the model computes it at inference
(``prepare_waveforms``: repeat-padded 5 s windows, the config's patch hop; a longer clip as 5 s windows
every 2.5 s, at most ``MAX_WINDOWS``), and cached in ``DATA/yamnet_trunk_L.safetensors`` (float16, with
the settings it was computed with; other settings: computed again). An epoch then runs only the tuned
blocks: about half a minute on this 2-core CPU.

- Draws: each epoch a clip contributes one of its windows and one of its captions (seeded).
- Frozen statistics: the batch norms keep their running statistics (inference form, folded into the
  convolutions); the tuned blocks learn their convolution weights and normalisation shifts.
- Choice: every ``--eval-every`` epochs, zero-shot accuracy on the manifest's ``val`` split (each clip's
  first label, the model's prompt templates, the mean over a clip's windows); the best epoch is kept.
  The manifest's other splits and ESC-50 are never read.
- Output: a full checkpoint (the init's config) with the tuned blocks and heads and the temperature
  calibrated on the val split (``export.py``'s method) unless ``--no-calibrate``. The same inputs and
  ``--threads`` give the same file bit for bit (its metadata names the init by its SHA-256, not its path).

Usage:
    .venv/bin/python recipes/default_model/yamnet_finetune.py --data /work/openclap-data \\
        --manifest /work/openclap-data/manifest.jsonl \\
        --init src/openclap/weights/openclap-yamnet.safetensors \\
        --out runs/yamnet_ft/openclap-yamnet.safetensors
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from yamnet_heads import check_out, clap_step, val_accuracy, write_model

from openclap import create_model
from openclap.atomic import atomic_write
from openclap.audio.clip import sliding_windows
from openclap.audio.encoders.yamnet import YamNet
from openclap.audio.io import AudioError, load_mono
from openclap.checkpoint import CheckpointError
from openclap.cli_errors import check_output_path
from openclap.data.manifest import ManifestEntry, ManifestError, read_manifest
from openclap.model import ClapModel
from openclap.train.semantic import template_features, text_feature_table

MAX_WINDOWS = 8  # 5 s windows cached per clip (every 2.5 s): 20 s of a long clip


@dataclass
class Trunk:
    """Frozen-trunk outputs: ``windows[i]`` [W_i, P, C, H, W] float16 for entry i."""

    entries: list[ManifestEntry]
    windows: list[torch.Tensor]


def tower(model: ClapModel) -> YamNet:
    net = model.audio_encoder
    if not isinstance(net, YamNet):
        raise SystemExit(f"error: {model.config.name} has no YAMNet audio tower (audio_encoder.type yamnet)")
    return net


def trunk_forward(net: YamNet, mel: torch.Tensor, blocks: int) -> torch.Tensor:
    """log-mel [B, n_mels, T] -> the input of the last ``blocks`` layers [B, P, C, H, W]."""
    return net.patch_maps(mel, stop=len(net.layers) - blocks)


def tail_forward(net: YamNet, x: torch.Tensor, blocks: int) -> torch.Tensor:
    """[B, P, C, H, W] trunk outputs -> pooled features [B, 1024], as ``YamNet.forward`` pools them."""
    return net.patch_maps(x.float(), start=len(net.layers) - blocks).mean(dim=(-2, -1)).mean(dim=1)


def _settings(model: ClapModel, blocks: int) -> str:
    config = model.config.to_dict()
    return json.dumps({"audio": config["audio"], "audio_encoder": config["audio_encoder"], "blocks": blocks,
                       "max_windows": MAX_WINDOWS}, sort_keys=True)  # fmt: skip


def clip_windows(model: ClapModel, path: str) -> list[torch.Tensor]:
    """The 5 s windows the model embeds of a file (a longer one: every half window, at most MAX_WINDOWS)."""
    cfg = model.config.audio
    wave = torch.from_numpy(load_mono(path, cfg.sample_rate))
    if wave.shape[0] <= cfg.clip_samples:
        return [wave]
    windows = list(sliding_windows(wave, cfg.clip_samples, cfg.clip_samples // 2, cfg.sample_rate)[0])
    return windows[:MAX_WINDOWS]


def compute_trunk(model: ClapModel, entries: list[ManifestEntry], blocks: int) -> dict[str, torch.Tensor]:
    """Each readable clip's frozen-trunk outputs (unreadable clips named and skipped)."""
    net, rows, start = tower(model), {}, time.perf_counter()
    for n, entry in enumerate(entries, 1):
        try:
            windows = clip_windows(model, entry.audio)
        except AudioError as err:
            print(f"skipped {entry.audio}: {err}")
            continue
        with torch.inference_mode():
            mel = model.frontend(model.prepare_waveforms(windows))
            rows[entry.audio] = trunk_forward(net, mel, blocks).to(torch.float16).contiguous()
        if n % 500 == 0:
            print(f"  {n}/{len(entries)} clips, {time.perf_counter() - start:.0f} s", flush=True)
    return rows


def load_trunk(model: ClapModel, entries: list[ManifestEntry], cache: Path, blocks: int) -> Trunk:
    """The trunk outputs of ``entries``, read from ``cache`` when it was computed with the same settings,
    else computed and written there (atomically)."""
    settings = _settings(model, blocks)
    rows: dict[str, torch.Tensor] | None = None
    if cache.exists():
        with safe_open(str(cache), "pt") as fh:
            meta = fh.metadata() or {}
            if meta.get("settings") == settings:
                paths, offsets = json.loads(meta["paths"]), fh.get_tensor("offsets").tolist()
                flat = fh.get_tensor("windows")
                rows = {p: flat[offsets[i] : offsets[i + 1]] for i, p in enumerate(paths)}
                print(f"read {cache} ({len(rows)} clips, {len(flat)} windows)")
            else:
                print(f"{cache} was computed with other settings: computing it again")
    if rows is None:
        rows = compute_trunk(model, entries, blocks)
        paths = sorted(rows)
        offsets = torch.tensor(np.cumsum([0] + [len(rows[p]) for p in paths]))
        tensors = {"windows": torch.cat([rows[p] for p in paths]), "offsets": offsets}
        metadata = {"settings": settings, "paths": json.dumps(paths)}
        atomic_write(cache, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
        print(f"wrote {cache} ({len(paths)} clips, {int(offsets[-1])} windows)")
    kept = [e for e in entries if e.audio in rows]
    return Trunk(kept, [rows[e.audio] for e in kept])


def tuned_parameters(net: YamNet, blocks: int) -> list[torch.nn.Parameter]:
    """Convolution weights and batch-norm shifts of the last ``blocks`` layers (the scales stay 1)."""
    params = []
    for layer in net.layers[len(net.layers) - blocks :]:
        for name, p in layer.named_parameters():
            if name.endswith("conv.weight") or name == "pointwise.weight" or name.endswith("bn.bias"):
                params.append(p)
    return params


def tuned_state(model: ClapModel, blocks: int) -> dict[str, torch.Tensor]:
    """A copy of what training changes: the tuned layers, the heads and the temperature."""
    first = len(tower(model).layers) - blocks
    tuned = tuple(f"audio_encoder.layers.{i}." for i in range(first, first + blocks))
    frozen = ("audio_encoder.", "text_encoder.")
    return {
        k: v.clone() for k, v in model.state_dict().items() if k.startswith(tuned) or not k.startswith(frozen)
    }


def val_features(net: YamNet, trunk: Trunk, val: list[int], blocks: int) -> torch.Tensor:
    """[len(val), 1024]: each val clip's features, the mean over its windows."""
    with torch.no_grad():
        return torch.stack([tail_forward(net, trunk.windows[i], blocks).mean(dim=0) for i in val])


def file_sha256(path: Path) -> str:
    """The init checkpoint's identity in the output's metadata (not its path: the same inputs give the
    same file bit for bit, wherever they lie)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def train_step(model: ClapModel, blocks: int, x: torch.Tensor, text_features: torch.Tensor,
               opt: torch.optim.Optimizer) -> torch.Tensor:  # fmt: skip
    """One CLAP-loss step on trunk outputs ``x`` [B, P, C, H, W] and their captions' text-tower features."""
    return clap_step(model, tail_forward(tower(model), x, blocks), text_features, opt)


def optimizer(
    model: ClapModel, blocks: int, lr_tower: float, lr_heads: float, weight_decay: float
) -> torch.optim.AdamW:
    """AdamW over the tuned blocks (no weight decay: pretrained weights) and the heads and temperature."""
    heads = [*model.audio_projection.parameters(), *model.text_projection.parameters(), model.logit_scale]
    return torch.optim.AdamW([
        {"params": tuned_parameters(tower(model), blocks), "lr": lr_tower, "weight_decay": 0.0},
        {"params": heads, "lr": lr_heads, "weight_decay": weight_decay},
    ])  # fmt: skip


def train(args: argparse.Namespace) -> tuple[ClapModel, dict]:
    try:
        entries = [e for e in read_manifest(args.manifest) if e.split in ("train", "val")]
        model = create_model(checkpoint=args.init)
    except (ManifestError, CheckpointError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    net, blocks = tower(model), args.blocks
    has_val = any(e.split == "val" and e.labels for e in entries)
    if not has_val or not any(e.split == "train" for e in entries):
        raise SystemExit(f"error: {args.manifest} needs clips in both the train and val splits")
    cache = args.data / f"yamnet_trunk_{blocks}.safetensors"
    try:
        if not cache.exists():
            check_output_path(cache, "--data")  # before minutes of computing it
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    trunk = load_trunk(model, entries, cache, blocks)
    entries = trunk.entries
    train_idx = [i for i, e in enumerate(entries) if e.split == "train"]
    val = [i for i, e in enumerate(entries) if e.split == "val" and e.labels]
    if not train_idx or not val:
        raise SystemExit(f"error: no readable clips left in the train or val split of {args.manifest}")
    captions = text_feature_table(model, [c for i in train_idx for c in entries[i].captions])
    val_labels = [entries[i].labels[0] for i in val]
    label_features = template_features(model, sorted(set(val_labels)), list(model.config.prompt_templates))
    torch.manual_seed(args.seed)
    opt = optimizer(model, blocks, args.lr_tower, args.lr_heads, args.weight_decay)
    steps = len(train_idx) // args.batch_size
    total = steps * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    gen = torch.Generator().manual_seed(args.seed)
    model.eval()  # frozen batch-norm statistics; dropout-free heads
    acc0 = val_accuracy(model, val_features(net, trunk, val, blocks), val_labels, label_features)
    print(f"epoch 0: val zero-shot {100 * acc0:.1f} %", flush=True)
    best: dict = {"val_zs_acc": acc0, "epoch": 0, "state": tuned_state(model, blocks)}
    history, t0 = [{"epoch": 0, "val_zs_acc": acc0}], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(train_idx), generator=gen).tolist()
        for s in range(steps):
            batch = [train_idx[i] for i in order[s * args.batch_size : (s + 1) * args.batch_size]]
            picks = torch.randint(0, 1 << 30, (len(batch), 2), generator=gen).tolist()
            draws = list(zip(batch, picks, strict=True))
            x = torch.stack([trunk.windows[i][w % len(trunk.windows[i])] for i, (w, _) in draws])
            texts = [trunk.entries[i].captions[c % len(trunk.entries[i].captions)] for i, (_, c) in draws]
            loss = train_step(model, blocks, x, torch.stack([captions[t] for t in texts]), opt)
            sched.step()
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            acc = val_accuracy(model, val_features(net, trunk, val, blocks), val_labels, label_features)
            history.append({"epoch": epoch, "loss": loss.item(), "val_zs_acc": acc})
            print(f"epoch {epoch}: loss {loss.item():.3f}, val zero-shot {100 * acc:.1f} % "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
            if acc > best["val_zs_acc"]:
                best = {"val_zs_acc": acc, "epoch": epoch, "state": tuned_state(model, blocks)}
    model.load_state_dict(best.pop("state"), strict=False)
    info = {"best": best, "history": history, "train_clips": len(train_idx), "val_clips": len(val),
            "blocks": blocks, "seed": args.seed, "epochs": args.epochs, "lr_tower": args.lr_tower,
            "lr_heads": args.lr_heads, "init_sha256": file_sha256(args.init)}  # fmt: skip
    print(f"best epoch {best['epoch']}: val zero-shot {100 * best['val_zs_acc']:.1f} % "
          f"({time.perf_counter() - t0:.0f} s of training)")  # fmt: skip
    return model.eval(), info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="corpus folder (the trunk cache goes here)")
    parser.add_argument("--manifest", type=Path, required=True, help="train and val splits are read")
    parser.add_argument(
        "--init", type=Path, required=True, help="the trained openclap-yamnet checkpoint to start from"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="the model checkpoint to write (.safetensors)"
    )
    parser.add_argument("--blocks", type=int, default=2, help="YAMNet layers tuned, counted from the last")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr-tower", type=float, default=1e-4)
    parser.add_argument("--lr-heads", type=float, default=3e-4)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-calibrate", action="store_true", help="keep the trained temperature")
    args = parser.parse_args()
    if not 1 <= args.blocks <= 13:
        raise SystemExit(f"error: --blocks {args.blocks}: give 1 to 13 (YAMNet's separable blocks)")
    missing = [str(p) for p in (args.manifest, args.init) if not p.is_file()]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} not found")
    check_out(args.out)
    torch.set_num_threads(args.threads)
    model, info = train(args)
    write_model(model, info, args.out, None if args.no_calibrate else args.manifest)


if __name__ == "__main__":
    main()
