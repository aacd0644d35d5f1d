"""Fine-tuning with frozen encoder layers really leaves them unchanged (weights and BatchNorm statistics)
while the layers above them train. The trained network is caught with a global forward hook on
``AudioClassifier``, the public fine-tuning network, so the test does not depend on the runner's
internals."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.eval.eval_helpers import write_tone_noise_folder

from openclap.audio.encoders import audio_blocks
from openclap.eval.datasets import get_dataset
from openclap.eval.embedding import EmbedOptions
from openclap.eval.finetune import AudioClassifier, run_finetune


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone_noise_folder(tmp_path_factory.mktemp("ft-frozen"), ["tone", "noise"] * 8)


def _trained_nets(model, folder: Path, freeze: int, **extra: object) -> list[AudioClassifier]:
    seen: list[AudioClassifier] = []

    def hook(module: torch.nn.Module, args: object, output: object) -> None:
        if isinstance(module, AudioClassifier) and module.training and (not seen or seen[-1] is not module):
            seen.append(module)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_finetune(
            model,
            get_dataset("csv", folder),
            split="folds",
            epochs=2,
            batch_size=4,
            lr=1e-2,
            encoder_lr=1e-2,
            freeze_encoder_layers=freeze,
            options=EmbedOptions(progress=False),
            **extra,
        )
    finally:
        handle.remove()
        torch.set_num_threads(threads)
    return seen


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("freeze", [-1, 1])
def test_frozen_layers_are_unchanged_and_the_rest_trains(tiny_model, two_classes: Path, freeze: int) -> None:
    before = [_state(b) for b in audio_blocks(tiny_model.audio_encoder)]
    nets = _trained_nets(tiny_model, two_classes, freeze)
    assert len(nets) == 2  # one network per fold
    n_frozen = len(before) if freeze == -1 else freeze
    for net in nets:
        after = [_state(b) for b in audio_blocks(net.audio_encoder)]
        for i, (old, new) in enumerate(zip(before, after, strict=True)):
            same = all(torch.equal(old[k], new[k]) for k in old)
            assert same == (i < n_frozen), f"block {i} {'changed' if i < n_frozen else 'did not train'}"
        assert net.head.weight.abs().sum() > 0  # the head (zero-initialised) trained
    assert all(
        torch.equal(v, before[0][k]) for k, v in _state(audio_blocks(tiny_model.audio_encoder)[0]).items()
    )


def test_frozen_batch_norms_keep_their_statistics_and_train_their_scale_and_shift(
    tiny_model, two_classes: Path
) -> None:
    norms = [m for m in tiny_model.audio_encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms, "the tiny model's encoder has batch norms"
    stats = [(m.running_mean.clone(), m.running_var.clone(), m.bias.detach().clone()) for m in norms]
    for frozen in (True, False):
        nets = _trained_nets(tiny_model, two_classes, 0, freeze_batchnorm=frozen)
        for net in nets:
            trained = [m for m in net.audio_encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
            kept = all(
                torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var)
                for m, (mean, var, _) in zip(trained, stats, strict=True)
            )
            assert kept == frozen  # eval mode: the running statistics stay; training mode updates them
            assert any(not torch.equal(m.bias, bias) for m, (_, _, bias) in zip(trained, stats, strict=True))

