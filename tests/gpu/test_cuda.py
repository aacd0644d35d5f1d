"""CUDA checks: embedding, zero-shot classification, training in every precision, NCCL DDP and
fine-tuning on a GPU, each against the CPU path it must agree with (kill-and-resume on the GPU is a
case of tests/train/test_train_resume.py).

Skipped where no CUDA device is visible (CI has none); run them on a GPU machine with
``pytest tests/gpu tests/train/test_train_resume.py -m cuda`` (scripts/gpu_check.sh sets up such a
machine and records what it saw). Child processes import openclap as this process does.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from openclap import create_model
from openclap.eval.datasets import get_dataset
from openclap.eval.embedding import EmbedOptions
from openclap.eval.finetune import run_finetune
from openclap.factory import has_trained_weights
from openclap.inference import embed_audio, embed_audio_files, embed_texts
from openclap.registry import DEFAULT_MODEL
from openclap.train.config import TrainConfig
from openclap.train.runner import train
from openclap.zero_shot import ZeroShotClassifier
from tests.eval.eval_helpers import write_tone_noise_folder
from tests.helpers import ESC50_AUDIO, noise, sine
from tests.train.tiny_runs import tiny_run, write_run

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

ROOT = Path(__file__).resolve().parents[2]
TRAIN_HELPERS = ROOT / "tests" / "train"
SR = 16000
# GPU kernels sum in another order and cuDNN may use TF32 convolutions, so embeddings are compared
# within a tolerance (the zero-shot labels must still be equal).
EMBED_ATOL = 5e-3


def _waves() -> list[np.ndarray]:
    """Clips shorter than, equal to and longer than the tiny model's 1 s window (windows are averaged)."""
    return [sine(440.0, 0.4, SR), noise(SR, seed=1), sine(220.0, 2.7, SR) + noise(int(2.7 * SR), seed=2)]


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max())


def test_tiny_model_embeds_on_cuda_as_on_cpu(tiny_model) -> None:
    gpu = copy.deepcopy(tiny_model).to("cuda")
    texts = ["a dog barks", "rain on a roof", "x" * 5000]
    cpu_audio = embed_audio(tiny_model, _waves(), SR)
    gpu_audio = embed_audio(gpu, _waves(), SR)
    assert _max_diff(cpu_audio, gpu_audio) < EMBED_ATOL, _max_diff(cpu_audio, gpu_audio)
    assert _max_diff(embed_texts(tiny_model, texts), embed_texts(gpu, texts)) < EMBED_ATOL
    # embedding draws no random numbers and is repeatable on the GPU too
    assert np.array_equal(gpu_audio, embed_audio(gpu, _waves(), SR))


@pytest.mark.skipif(
    not has_trained_weights(DEFAULT_MODEL) or not ESC50_AUDIO.is_dir(),
    reason="needs the bundled default model and ESC-50 clips",
)
def test_default_model_classifies_real_clips_on_cuda_as_on_cpu(tmp_path: Path) -> None:
    files = sorted(ESC50_AUDIO.glob("*.flac"))[:8]
    labels = ["dog", "rain", "siren", "church bells", "hand saw", "crow", "clock tick", "chainsaw"]
    results = {}
    for device in ("cpu", "cuda"):
        model = create_model(DEFAULT_MODEL, device=device)
        emb = embed_audio_files(model, files).embeddings
        proba = ZeroShotClassifier(model, labels).predict_proba(emb)
        results[device] = (emb, np.asarray(proba))
    (cpu_emb, cpu_p), (gpu_emb, gpu_p) = results["cpu"], results["cuda"]
    assert _max_diff(cpu_emb, gpu_emb) < EMBED_ATOL, _max_diff(cpu_emb, gpu_emb)
    assert np.array_equal(cpu_p.argmax(1), gpu_p.argmax(1))
    # the command line on the GPU prints the CPU's labels
    outputs = {}
    for device in ("cpu", "cuda"):
        cmd = [sys.executable, "-m", "openclap.cli", "classify", *map(str, files), "--json"]
        proc = subprocess.run(
            [*cmd, "--labels", ",".join(labels), "--device", device],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs[device] = [row["predictions"][0]["label"] for row in json.loads(proc.stdout)]
    assert outputs["cpu"] == outputs["cuda"]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_runs_on_cuda(tone_manifest: Path, tmp_path: Path, precision: str) -> None:
    run = tiny_run(tone_manifest, tmp_path / "run", device="cuda", precision=precision, eval_every=3)
    result = train(TrainConfig.from_dict(run))
    assert result.steps == 6
    assert next(result.model.parameters()).device.type == "cuda"
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["kind"] == "train"]
    assert len(losses) == 6 and all(np.isfinite(losses)), losses
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [3, 6]
    env = json.loads((tmp_path / "run" / "environment.json").read_text())
    assert env["device"] == "cuda:0" and env["gpu"] == torch.cuda.get_device_name(0)
    # the checkpoint written on the GPU loads on the CPU and embeds as the trained model does
    reloaded = create_model(checkpoint=result.final_checkpoint)
    trained = result.model.eval()
    assert _max_diff(embed_audio(reloaded, _waves(), SR), embed_audio(trained, _waves(), SR)) < EMBED_ATOL


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL needs a GPU per rank; fewer than 2 here")
def test_nccl_ddp_training(tone_manifest: Path, tmp_path: Path) -> None:
    """One process per visible GPU (torchrun) over NCCL: every rank ends with the run's final weights."""
    gpus = torch.cuda.device_count()
    out = tmp_path / "run"
    config = write_run(tmp_path / "run.yaml", tiny_run(tone_manifest, out, device="cuda", max_steps=4))
    weights = tmp_path / "weights"
    weights.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}"]
    proc = subprocess.run(
        [*cmd, str(TRAIN_HELPERS / "ddp_train_run.py"), str(config), str(weights)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    env = json.loads((out / "environment.json").read_text())
    assert env["backend"] == "nccl" and env["world_size"] == gpus
    final = load_file(out / "final" / "model.safetensors")
    for rank in range(gpus):
        state = load_file(weights / f"rank{rank}.safetensors")
        assert all(torch.equal(final[k], state[k]) for k in final)


def test_finetune_on_cuda(tiny_model, tmp_path: Path) -> None:
    dataset = get_dataset("csv", write_tone_noise_folder(tmp_path, ["tone", "noise"] * 16))
    gpu = copy.deepcopy(tiny_model).to("cuda")
    cuda_rng = torch.cuda.get_rng_state()
    options = EmbedOptions(batch_size=8, progress=False)
    settings = {"epochs": 5, "batch_size": 4, "lr": 1e-2, "encoder_lr": 1e-3}
    result = run_finetune(gpu, dataset, options=options, **settings)
    assert result["value"] >= 0.9, result["value"]  # chance is 0.5
    assert torch.equal(torch.cuda.get_rng_state(), cuda_rng)  # the caller's GPU random state is kept
    assert all(p.device.type == "cuda" for p in gpu.parameters())
