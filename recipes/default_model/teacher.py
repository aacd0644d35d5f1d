"""Teacher embeddings for distillation: the pretrained aisfx sound-effects CNN (weights only).

The aisfx wheel (PyPI, CC BY 4.0 weights, Ma & Lerch, ISMIR 2022) ships a 4-block CNN; its package pins
old numpy/librosa, so only its weights file is used (``torch.load(weights_only=True)`` with an
allowlist of the two numpy types it holds) and the network and features are rebuilt here from the
description in AISFX.md. Output: one 512-d embedding per clip (mean over 100-frame blocks).

Usage: .venv/bin/python recipes/default_model/teacher.py --data /work/openclap-data
Writes DATA/teacher.npz (paths, embeddings, model; ``openclap.embeddings_io``) atomically and resumes
from it when interrupted.

``--blocks-longer-than 3`` also writes DATA/teacher_blocks.npz: the embedding of every 100-frame block
(2.32 s, hop 1.16 s) of each clip longer than 3 s, so that training can take as a 3 s crop's target the
blocks that crop overlaps instead of the whole clip's mean (``openclap.train.distill``). Fields:
``paths`` [M], ``offsets`` [M + 1] (clip m owns rows offsets[m]:offsets[m+1]), ``embeddings`` [rows, D],
``block_seconds`` and ``hop_seconds``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openclap.audio.frontend import mel_filterbank
from openclap.audio.io import AudioError, load_mono
from openclap.embeddings_io import EmbeddingFile, read_embeddings, write_embeddings

SAMPLE_RATE = 44100
N_FFT, HOP, N_MELS, BLOCK, BLOCK_HOP = 2048, 1024, 96, 100, 50
LOG_SCALE = 9.457798957824707


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor, pool: bool) -> torch.Tensor:
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.max_pool2d(x, 2) if pool else x


class SfxTeacher(nn.Module):
    """[B, 1, 100, 96] time-major feature blocks -> [B, 512] (mean over frequency, max over time)."""

    def __init__(self) -> None:
        super().__init__()
        for i, (c_in, c_out) in enumerate([(1, 64), (64, 128), (128, 256), (256, 512)], start=1):
            setattr(self, f"conv_block{i}", _Block(c_in, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, 5):
            x = getattr(self, f"conv_block{i}")(x, pool=i < 4)
        return x.mean(dim=3).amax(dim=2)


def load_teacher(path: Path) -> SfxTeacher:
    allowed = [(np._core.multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.Int64DType]
    with torch.serialization.safe_globals(allowed):
        state, _heads = torch.load(path, weights_only=True, map_location="cpu")
    model = SfxTeacher()
    prefix = "embedding_net."
    model.load_state_dict(
        {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}, strict=True
    )
    return model.eval()


class TeacherFeatures(nn.Module):
    """Mono 44.1 kHz wave [N] -> blocks [nb, 1, 100, 96] of log10(1e4 * mel + 1) / 9.4578."""

    def __init__(self) -> None:
        super().__init__()
        fb = mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS, 0.0, SAMPLE_RATE / 2, "htk", None)
        fb = fb / np.maximum(fb.sum(axis=0, keepdims=True), 1e-12)  # unit-sum filters
        self.register_buffer("fb", torch.from_numpy(fb).float())
        self.register_buffer("window", torch.hann_window(N_FFT))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        peak = wave.abs().max().clamp(min=1e-8)
        spec = torch.stft(wave / peak, N_FFT, HOP, window=self.window, center=True, return_complex=True)
        mel = (spec.abs() ** 2).T @ self.fb  # [T, 96]
        feats = torch.log10(1e4 * mel + 1.0) / LOG_SCALE
        if feats.shape[0] < BLOCK:
            feats = F.pad(feats, (0, 0, 0, BLOCK - feats.shape[0]))
        starts = range(0, feats.shape[0] - BLOCK + 1, BLOCK_HOP)
        return torch.stack([feats[s : s + BLOCK] for s in starts]).unsqueeze(1)


BLOCK_SECONDS, BLOCK_HOP_SECONDS = BLOCK * HOP / SAMPLE_RATE, BLOCK_HOP * HOP / SAMPLE_RATE


def embed_blocks(model: SfxTeacher, feats: TeacherFeatures, path: str) -> np.ndarray:
    """One embedding per 100-frame block [nb, 512]; block i starts at i * BLOCK_HOP_SECONDS."""
    with torch.inference_mode():
        return model(feats(torch.from_numpy(load_mono(path, SAMPLE_RATE)))).numpy()


def embed(model: SfxTeacher, feats: TeacherFeatures, path: str) -> np.ndarray:
    return embed_blocks(model, feats, path).mean(axis=0)


TEACHER_NAME = "aisfx"  # recorded as the model in the embedding files

# A teacher's row per clip (or block) may hold several outputs side by side; ``columns`` names the
# arrays they are saved as (aisfx: its embedding alone; YAMNet: embedding and scores, yamnet_teacher.py).
# The files are embedding files (openclap.embeddings_io): "embeddings" is the main array, the other
# columns and any extras are saved beside it.
EMBEDDINGS = {"embeddings": slice(None)}


def _join(data: EmbeddingFile, columns: dict[str, slice]) -> np.ndarray:
    arrays = {"embeddings": data.embeddings, **data.extra}
    return np.concatenate([arrays[name] for name in columns], axis=1)


def _split(rows: np.ndarray, columns: dict[str, slice]) -> dict[str, np.ndarray]:
    return {name: rows[:, cols] for name, cols in columns.items()}


def _load_clips(out: Path, columns: dict[str, slice] = EMBEDDINGS) -> dict[str, np.ndarray]:
    data = read_embeddings(out)
    return dict(zip(data.paths, _join(data, columns), strict=True))


def _save_clips(
    out: Path,
    done: dict[str, np.ndarray],
    columns: dict[str, slice] = EMBEDDINGS,
    model: str = TEACHER_NAME,
    **extra: np.ndarray,
) -> None:
    """``paths`` and the ``columns`` of each clip's row, plus any ``extra`` arrays (saved as given)."""
    keys = sorted(done)
    parts = _split(np.stack([done[k] for k in keys]), columns)
    write_embeddings(out, keys, parts.pop("embeddings"), model=model, extra={**parts, **extra})


def _load_blocks(out: Path, columns: dict[str, slice] = EMBEDDINGS) -> dict[str, np.ndarray]:
    data = read_embeddings(out)
    rows = _join(data, columns)
    offsets = data.offsets if data.offsets is not None else np.arange(len(data.paths) + 1)
    return {p: rows[offsets[m] : offsets[m + 1]] for m, p in enumerate(data.paths)}


def _save_blocks(
    out: Path,
    done: dict[str, np.ndarray],
    columns: dict[str, slice] = EMBEDDINGS,
    block_seconds: float = BLOCK_SECONDS,
    hop_seconds: float = BLOCK_HOP_SECONDS,
    model: str = TEACHER_NAME,
) -> None:
    keys = sorted(done)
    sizes = [len(done[k]) for k in keys]
    parts = _split(np.concatenate([done[k] for k in keys]).astype(np.float32), columns)
    write_embeddings(
        out,
        keys,
        parts.pop("embeddings"),
        model=model,
        offsets=np.concatenate([[0], np.cumsum(sizes)]),
        extra={**parts, "block_seconds": np.float64(block_seconds), "hop_seconds": np.float64(hop_seconds)},
    )


def write_resumable(
    paths: list[str],
    out: Path,
    compute: Callable[[str], np.ndarray],
    load: Callable[[Path], dict[str, np.ndarray]],
    save: Callable[[Path, dict[str, np.ndarray]], None],
    every: int,
) -> None:
    """Embed the paths not yet in ``out``, saving atomically every ``every`` clips and at the end."""
    done = load(out) if out.exists() else {}
    todo = [p for p in paths if p not in done]
    print(f"{out.name}: {len(done)} cached, {len(todo)} to embed")
    start = time.time()
    for i, path in enumerate(todo, 1):
        try:
            done[path] = compute(path)
        except AudioError as err:
            print(f"skipped {err}")
        if i % every == 0 or i == len(todo):
            save(out, done)
            print(f"{i}/{len(todo)} in {time.time() - start:.0f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="folder with manifest.jsonl and aisfx/")
    parser.add_argument("--weights", type=Path, default=None, help="aisfx checkpoint.pth")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--blocks-longer-than",
        type=float,
        metavar="SECONDS",
        help="also write teacher_blocks.npz with per-block embeddings of the clips longer than this",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    weights = args.weights or args.data / "aisfx/unz/aisfx/models/checkpoint.pth"
    model, feats = load_teacher(weights), TeacherFeatures()
    rows = [json.loads(line) for line in (args.data / "manifest.jsonl").read_text().splitlines()]
    clips, out = [r["audio"] for r in rows], args.data / "teacher.npz"
    write_resumable(clips, out, partial(embed, model, feats), _load_clips, _save_clips, 500)
    if args.blocks_longer_than is not None:
        long = [r["audio"] for r in rows if r["duration"] > args.blocks_longer_than]
        blocks = args.data / "teacher_blocks.npz"
        write_resumable(long, blocks, partial(embed_blocks, model, feats), _load_blocks, _save_blocks, 200)


if __name__ == "__main__":
    main()
