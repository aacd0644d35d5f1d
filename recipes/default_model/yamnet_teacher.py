"""Teacher targets from YAMNet (the torch port): AudioSet scores and embedding per clip and per patch.

Reads YAMNet's exported weights (``yamnet_export.py``; default DATA/yamnet/yamnet.safetensors) and the
manifest, and writes, with the resumable, atomic writer of ``teacher.py``:

- DATA/yamnet_teacher.npz: ``paths`` [N], ``embeddings`` [N, 1024] and ``scores`` [N, 521], the means over
  each clip's 0.96 s patches (hop 0.48 s; a clip shorter than a patch is zero-padded to one, as YAMNet
  does). ``class_names`` [521] names the score columns.
- with ``--blocks-longer-than S``, DATA/yamnet_teacher_blocks.npz: every patch of the clips longer than
  S seconds (``paths``, ``offsets``, ``embeddings``, ``scores``, ``block_seconds`` 0.96, ``hop_seconds``
  0.48), so that a training crop's target is the mean of the patches it overlaps
  (``distill.blocks`` in the trainer, which reads ``embeddings`` and ignores ``scores``).

The patches' mean is the clip's row exactly. Audio is decoded and resampled to 16 kHz by openclap.

Usage:
    .venv/bin/python recipes/default_model/yamnet_teacher.py --data /work/openclap-data --blocks-longer-than 3
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import numpy as np
import torch
from teacher import _load_blocks, _load_clips, _save_blocks, _save_clips, write_resumable

from openclap.audio.encoders.yamnet import EMBED_DIM, NUM_CLASSES, PATCH_FRAMES, PATCH_HOP_FRAMES, Yamnet
from openclap.audio.io import load_mono
from openclap.convert.yamnet import load_yamnet

COLUMNS = {"embeddings": slice(0, EMBED_DIM), "scores": slice(EMBED_DIM, EMBED_DIM + NUM_CLASSES)}


def patch_rows(model: Yamnet, path: str) -> np.ndarray:
    """[P, 1024 + 521]: each 0.96 s patch's embedding and scores; patch i starts at i * 0.48 s."""
    rate = model.frontend.config.sample_rate
    with torch.inference_mode():
        scores, embeddings, _ = model(torch.from_numpy(load_mono(path, rate)))
    return torch.cat([embeddings, scores], dim=1).numpy()


def clip_row(model: Yamnet, path: str) -> np.ndarray:
    return patch_rows(model, path).mean(axis=0)


def patch_seconds(model: Yamnet) -> tuple[float, float]:
    """A patch's length and hop in seconds (0.96, 0.48)."""
    cfg = model.frontend.config
    return (
        PATCH_FRAMES * cfg.hop_length / cfg.sample_rate,
        PATCH_HOP_FRAMES * cfg.hop_length / cfg.sample_rate,
    )


def write_targets(model: Yamnet, rows: list[dict], data: Path, blocks_longer_than: float | None) -> None:
    clips, out = [r["audio"] for r in rows], data / "yamnet_teacher.npz"
    names = np.array(model.class_names, dtype=np.str_)
    save = partial(_save_clips, columns=COLUMNS, model="yamnet", class_names=names)
    write_resumable(clips, out, partial(clip_row, model), partial(_load_clips, columns=COLUMNS), save, 500)
    if blocks_longer_than is not None:
        long = [r["audio"] for r in rows if r["duration"] > blocks_longer_than]
        block, hop = patch_seconds(model)
        save = partial(_save_blocks, columns=COLUMNS, block_seconds=block, hop_seconds=hop, model="yamnet")
        load = partial(_load_blocks, columns=COLUMNS)
        write_resumable(long, data / "yamnet_teacher_blocks.npz", partial(patch_rows, model), load, save, 200)


def extracted_rows(data: Path) -> list[dict]:
    """Every clip of DATA/parts/*.jsonl as a manifest-like row (absolute ``audio``, ``duration``)."""
    rows = []
    for part in sorted((data / "parts").glob("*.jsonl")):
        for line in part.read_text().splitlines()[1:]:
            rec = json.loads(line)
            rows.append({"audio": str((data / rec["audio"]).resolve()), "duration": rec["duration"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="folder with manifest.jsonl")
    parser.add_argument(
        "--weights", type=Path, help="yamnet.safetensors (default DATA/yamnet/yamnet.safetensors)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy CPU)")
    parser.add_argument(
        "--blocks-longer-than",
        type=float,
        metavar="SECONDS",
        help="also write yamnet_teacher_blocks.npz with every patch of the clips longer than this",
    )
    parser.add_argument(
        "--extracted",
        action="store_true",
        help="score every extracted clip (DATA/parts/*.jsonl), named or not, instead of the manifest's: "
        "prepare_data.py --manifest-only then captions the unnamed ones from these scores",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_yamnet(args.weights or args.data / "yamnet" / "yamnet.safetensors")
    if args.extracted:
        rows = extracted_rows(args.data)
    else:
        rows = [json.loads(line) for line in (args.data / "manifest.jsonl").read_text().splitlines()]
    write_targets(model, rows, args.data, args.blocks_longer_than)


if __name__ == "__main__":
    main()
