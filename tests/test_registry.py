"""Registry, configs and the factory: every registered config is valid; unknown names and fields are
clear errors; configs round-trip through JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from openclap import ClapConfig, ClapModel, create_model, list_models
from openclap.audio.encoders import ENCODERS, build_audio_encoder
from openclap.audio.frontend import build_frontend
from openclap.config import AudioEncoderConfig, AudioFrontendConfig, ProjectionConfig, TextEncoderConfig
from openclap.factory import has_trained_weights
from openclap.registry import get_config

ALL = list_models()
# Building every registered model in full (BERT-base / RoBERTa text towers, Cnn14, HTS-AT) would take
# minutes; these two build in full, the others are checked piece by piece below.
FULL_BUILD = ("tiny-test", "openclap-small")


def test_list_models_is_sorted_and_holds_the_core_configs() -> None:
    assert sorted(ALL) == ALL
    assert {"tiny-test", "openclap-small", "cnn14-minilm"} <= set(ALL)
    assert len(ALL) == len(set(ALL))


@pytest.mark.parametrize("name", ALL)
def test_registered_config_is_valid(name: str) -> None:
    cfg = get_config(name)
    assert cfg.name == name
    assert ClapConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.audio_encoder.type in ENCODERS
    assert cfg.prompt_templates and all("{}" in t for t in cfg.prompt_templates)
    assert 8000 <= cfg.audio.sample_rate <= 192000
    # The front end builds and gives the expected frame count for one clip (YAMNet's front end frames
    # without centring after padding to whole 0.96 s patches: 528 frames for 5 s).
    frontend = build_frontend(cfg.audio)
    with torch.no_grad():
        mel = frontend(torch.zeros(1, cfg.audio.clip_samples))
    frames = cfg.audio.clip_samples // cfg.audio.hop_length + 1 if cfg.audio.frontend == "logmel" else 528
    assert mel.shape == (1, cfg.audio.n_mels, frames)


@pytest.mark.parametrize("name", FULL_BUILD)
def test_small_registered_models_build_and_embed(name: str) -> None:
    model = create_model(name)
    assert isinstance(model, ClapModel) and model.config == get_config(name)
    with torch.inference_mode():
        audio = model.encode_audio(torch.zeros(2, model.config.audio.clip_samples))
        text = model.encode_text(["a dog", "rain"])
    assert audio.shape == text.shape == (2, model.config.projection.dim)


def test_cnn14_encoder_of_the_registry_has_the_panns_layout() -> None:
    cfg = get_config("cnn14-minilm")
    encoder = build_audio_encoder(cfg.audio_encoder, cfg.audio)
    keys = set(encoder.state_dict())
    assert {
        "bn0.weight",
        "conv_block1.conv1.weight",
        "conv_block6.bn2.running_var",
        "fc1.weight",
        "fc_audioset.weight",
    } <= keys
    assert encoder.conv_block1.conv1.weight.shape == (64, 1, 3, 3)
    assert encoder.fc_audioset.weight.shape == (527, 2048)
    assert encoder.out_dim == 2048
    encoder.eval()
    with torch.no_grad():
        out = encoder(torch.randn(2, 64, 101))
        tags = encoder.clipwise(torch.randn(1, 64, 101))
    assert out.shape == (2, 2048) and (out >= 0).all()  # relu(fc1(...))
    assert tags.shape == (1, 527) and ((tags > 0) & (tags < 1)).all()


def test_unknown_model_name_lists_the_registered_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'no-such-model'; registered models: .*tiny-test"):
        get_config("no-such-model")
    with pytest.raises(ValueError, match="unknown model"):
        create_model("no-such-model")


def test_config_from_a_json_file(tmp_path: Path) -> None:
    data = get_config("tiny-test").to_dict()
    data["name"] = "my-tiny"
    data["projection"]["dim"] = 8
    path = tmp_path / "my-tiny.json"
    path.write_text(json.dumps(data))
    cfg = get_config(str(path))
    assert cfg.name == "my-tiny" and cfg.projection.dim == 8
    model = create_model(str(path))
    assert model.encode_text(["a"]).shape == (1, 8)
    assert create_model(cfg).config == cfg


def test_unknown_fields_are_named() -> None:
    data = get_config("tiny-test").to_dict()
    with pytest.raises(ValueError, match=r"unknown ClapConfig fields \['colour'\]"):
        ClapConfig.from_dict({**data, "colour": "red"})
    with pytest.raises(ValueError, match=r"unknown fields \['n_mel'\] in 'audio'"):
        ClapConfig.from_dict({**data, "audio": {**data["audio"], "n_mel": 64}})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: AudioFrontendConfig(pad="reflect"), r"pad='reflect' is not valid; choose one of"),
        (lambda: AudioFrontendConfig(crop="random"), r"crop='random' is not valid"),  # never at inference
        (lambda: AudioFrontendConfig(mel_scale="mel"), r"mel_scale='mel' is not valid"),
        (lambda: AudioFrontendConfig(sample_rate=0), "must be positive"),
        (lambda: TextEncoderConfig(pooling="max"), r"pooling='max' is not valid"),
        (lambda: TextEncoderConfig(source=None, hf_config=None), "needs a 'source' folder or an 'hf_config'"),
        (lambda: ProjectionConfig(style="mlp"), r"style='mlp' is not valid"),
    ],
)
def test_invalid_config_values_are_named(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_unknown_audio_encoder_type() -> None:
    with pytest.raises(ValueError, match=r"unknown audio encoder type 'transformer'; choose one of"):
        build_audio_encoder(AudioEncoderConfig(type="transformer"), AudioFrontendConfig())


def test_clip_samples() -> None:
    assert AudioFrontendConfig(sample_rate=44100, clip_seconds=7.0).clip_samples == 308700
    assert get_config("tiny-test").audio.clip_samples == 16000


def test_tiny_test_ships_no_weights() -> None:
    assert not has_trained_weights("tiny-test")
    assert not has_trained_weights("no-such-model")


def test_prompt_templates_from_older_configs_and_validation() -> None:
    base = get_config("tiny-test").to_dict()
    del base["prompt_templates"]
    old = ClapConfig.from_dict({**base, "prompt_template": "a sound of {}"})  # written before ensembles
    assert old.prompt_templates == ("a sound of {}",)
    assert ClapConfig.from_dict({**base, "prompt_templates": ["{}", "{} sound"]}).prompt_templates == (
        "{}",
        "{} sound",
    )
    with pytest.raises(ValueError, match="not both"):
        ClapConfig.from_dict({**base, "prompt_template": "{}", "prompt_templates": ["{}"]})
    with pytest.raises(ValueError, match="placeholder"):
        ClapConfig.from_dict({**base, "prompt_templates": ["a dog"]})
    with pytest.raises(ValueError, match="at least one"):
        ClapConfig.from_dict({**base, "prompt_templates": []})
