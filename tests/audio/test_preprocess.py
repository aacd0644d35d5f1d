"""One audio path: the same clip and crop reach the audio encoder bit-identically in training (dataset ->
collate -> ``TrainModule``), fine-tuning (``eval.finetune``) and inference (``prepare_waveforms`` ->
``encode_audio``), for every registered model config (random weights; tiny-test's text tower, which the
audio path never touches), including the LAION fusion model on a 25 s real clip."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from openclap.audio.io import load_mono
from openclap.audio.preprocess import AudioPreprocessor, stack_waves, unstack_waves
from openclap.config import ClapConfig
from openclap.data.datasets import ClipSettings, collate_examples, make_example
from openclap.eval.finetune import AudioClassifier, FinetuneConfig, _Trainer
from openclap.model import ClapModel
from openclap.registry import get_config, list_models
from openclap.seeding import seeded_generator
from openclap.train.config import AugmentConfig, DataConfig, TrainConfig
from openclap.train.module import TrainModule
from openclap.train.runner import prepare_module

AUDIOCAPS = Path(__file__).resolve().parents[3] / "shared" / "data" / "audiocaps-demo" / "audio"
needs_audio = pytest.mark.skipif(not AUDIOCAPS.is_dir(), reason=f"real clips not found in {AUDIOCAPS}")


class Captured(Exception):
    """Raised by the hook once the encoder input is kept: the encoder itself need not run."""


def encoder_input(encoder: torch.nn.Module, run: object) -> torch.Tensor:
    """The first positional input the audio encoder receives while ``run()`` runs."""
    seen: list[torch.Tensor] = []

    def hook(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        seen.append(args[0].detach().clone())
        raise Captured

    handle = encoder.register_forward_pre_hook(hook)
    try:
        with torch.no_grad(), pytest.raises(Captured):
            run()  # type: ignore[operator]
    finally:
        handle.remove()
    return seen[0]


def small_text(name: str) -> ClapConfig:
    return dataclasses.replace(get_config(name), text_encoder=get_config("tiny-test").text_encoder)


@cache
def real_clips(sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """A 25 s clip (three AudioCaps clips end to end) and a short one (0.3 s), at ``sample_rate``."""
    files = sorted(AUDIOCAPS.glob("*.flac"))[:3]
    long = np.concatenate([load_mono(f, sample_rate) for f in files])[: 25 * sample_rate]
    return long, long[sample_rate * 3 : sample_rate * 3 + int(0.3 * sample_rate)].copy()


def training_input(model: ClapModel, waves: list[np.ndarray], seed: int) -> tuple[torch.Tensor, list[int]]:
    """The trainer's encoder input for a dataset batch of ``waves`` (random crops), and each crop's start."""
    settings = ClipSettings.from_frontend(model.config.audio, seed=3, random_crop=True)
    samples = []
    for key, wave in enumerate(waves):
        clip, caption, span = make_example(wave, ["a sound"], key, 5, settings)
        item = {"wave": clip, "caption": caption, "path": "", "key": key, "span": span, "skipped": []}
        samples.append(item)
    batch = collate_examples(samples)
    module = TrainModule(model, AugmentConfig()).train()
    tokens = model.tokenize(batch["captions"])
    mel = encoder_input(model.audio_encoder, lambda: module(batch["wave"], tokens, seed, batch["lengths"]))
    starts = [round(start * model.config.audio.sample_rate) for start, _ in batch["spans"]]
    return mel, starts


def finetune_input(model: ClapModel, waves: list[np.ndarray]) -> tuple[torch.Tensor, object]:
    """The fine-tuning protocol's encoder input for a training batch of ``waves`` (random crops), and the
    prepared batch (its fusion chunks)."""
    config = FinetuneConfig(gain_db=0.0, random_crop=True)
    targets = torch.zeros(len(waves), dtype=torch.long)
    trainer = _Trainer(model, waves, targets, False, config, torch.device("cpu"))
    prepared, _ = trainer._train_batch(list(range(len(waves))), seeded_generator(0, "test"))
    net = AudioClassifier(model, 2).train()
    return encoder_input(net.audio_encoder, lambda: net(prepared)), prepared


@needs_audio
@pytest.mark.parametrize("name", list_models())
def test_training_finetuning_and_inference_feed_the_encoder_the_same_input(name: str) -> None:
    torch.manual_seed(0)
    model = ClapModel(small_text(name)).eval()
    cfg = model.config.audio
    long, short = real_clips(cfg.sample_rate)
    waves = [long, short]
    seed = 12345

    def inference(clips: list[np.ndarray], **kwargs: object) -> torch.Tensor:
        batch = model.prepare_waveforms([torch.from_numpy(c) for c in clips], **kwargs)  # type: ignore[arg-type]
        return encoder_input(model.audio_encoder, lambda: model.encode_audio(batch))

    trained, starts = training_input(model, waves, seed)
    tuned, prepared = finetune_input(model, waves)
    if cfg.fusion_shrink is None:
        assert starts[0] > 0 and starts[1] == 0  # a random window of the long clip; the short one padded
        expected = inference([long[starts[0] : starts[0] + cfg.clip_samples], short])
        assert torch.equal(trained, expected)
        start = AudioPreprocessor(cfg).window(torch.from_numpy(long), seeded_generator(0, "test"), True)[1]
        assert torch.equal(tuned, inference([long[start : start + cfg.clip_samples], short]))
    else:  # the fusion input of the whole 25 s clip: the trainer's chunks are drawn with its seed
        assert trained.shape == (2, 4, cfg.n_mels, cfg.clip_samples // cfg.hop_length + 1)
        assert torch.equal(trained, inference(waves, rng=seed % 2**32))
        assert not torch.equal(trained, inference(waves))  # drawn chunks, not the middle ones
        batch = model.prepare_waveforms([torch.from_numpy(w) for w in waves])
        batch.chunk_starts = prepared.chunk_starts  # type: ignore[attr-defined]
        assert torch.equal(tuned, encoder_input(model.audio_encoder, lambda: model.encode_audio(batch)))


def test_fusion_layers_are_trained_not_frozen_as_unused() -> None:
    """The trainer's unused-parameter probe gives a fusion model a long clip, so its 18 fusion tensors get
    a gradient and stay trainable (before the trainer ran the model's audio path, all were frozen)."""
    torch.manual_seed(0)
    model = ClapModel(small_text("laion-htsat-tiny-fusion")).train()
    fusion = [n for n, _ in model.named_parameters() if "mel_conv2d" in n or "fusion_model" in n]
    config = TrainConfig(data=DataConfig(train_manifest="unused.csv"))
    prepare_module(config, model, torch.device("cpu"), verbose=False)
    assert len(fusion) == 18 and all(model.get_parameter(n).requires_grad for n in fusion)


def test_quantisation_is_laions_and_windows_match_prepare() -> None:
    cfg = dataclasses.replace(get_config("laion-htsat-tiny").audio, clip_seconds=0.01)  # 480 samples
    pre = AudioPreprocessor(cfg)
    wave = torch.linspace(-1.2, 1.2, 1000)
    window, start = pre.window(wave, seeded_generator(1), random_crop=True)
    assert window.shape == (480,) and torch.equal(window, wave[start : start + 480])
    assert torch.equal(pre.prepare([wave])[0], (wave[260:740].clamp(-1, 1) * 32767).to(torch.int16) / 32767)
    short = wave[:100]
    assert torch.equal(pre.prepare([pre.window(short)[0]]), pre.prepare([short]))  # pad commutes with it
    stacked, lengths = stack_waves([wave, short])
    assert stacked.shape == (2, 1000) and [w.shape[0] for w in unstack_waves(stacked, lengths)] == [1000, 100]
