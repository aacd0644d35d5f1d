"""Converters without the parity data: tiny models written in each published layout, safe unpickling,
strictness (unknown / missing keys, wrong derived buffers), family detection and tokenizer folders."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from openclap.audio.frontend import mel_filterbank
from openclap.checkpoint import CheckpointError, save_checkpoint
from openclap.config import ClapConfig
from openclap.convert import ConversionError, convert, detect_family, is_published_checkpoint, load_published
from openclap.convert.common import KeyMap, load_legacy, stft_kernels, unwrap_state
from openclap.convert.hf import merge_qkv
from openclap.factory import create_model
from openclap.model import ClapModel
from openclap.registry import get_config
from openclap.text.tower import check_tokenizer_folder, load_tokenizer

TINY_HTSAT = {"embed_dim": 8, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 2, 4], "num_classes": 5}
TINY_ROBERTA = {"model_type": "roberta", "vocab_size": 100, "hidden_size": 16, "num_hidden_layers": 1,
                "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 40,
                "type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}


def tiny_laion(fusion: bool = False, num_classes: int = 5) -> ClapConfig:
    base = get_config("laion-htsat-tiny-fusion" if fusion else "laion-htsat-tiny").to_dict()
    base["audio"] = {**base["audio"], "sample_rate": 16000, "clip_seconds": 1.0, "hop_length": 160}
    base["audio_encoder"]["params"] = {**TINY_HTSAT, "fusion": fusion, "num_classes": num_classes}
    base["text_encoder"]["hf_config"] = TINY_ROBERTA
    base["projection"]["dim"] = 8
    return ClapConfig.from_dict({**base, "name": "tiny-laion"})


def random_model(config: ClapConfig) -> ClapModel:
    torch.manual_seed(0)
    model = ClapModel(config, load_text_weights=False).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    return model


def laion_layout(model: ClapModel) -> dict[str, torch.Tensor]:
    """openclap -> LAION key names, plus the extra keys LAION files carry."""
    out = {}
    for key, value in model.state_dict().items():
        key = re.sub(r"^audio_encoder\.", "audio_branch.", key)
        key = re.sub(r"^text_encoder\.model\.", "text_branch.", key)
        key = {"logit_scale": "logit_scale_a"}.get(key, key)
        out[key] = value.clone()
    for name, buf in model.audio_encoder.named_buffers():
        if name.endswith(("attn_mask", "relative_position_index")):
            out[f"audio_branch.{name}"] = buf.clone()
    cfg = model.config.audio
    real, imag = stft_kernels(cfg.n_fft)
    out["audio_branch.spectrogram_extractor.stft.conv_real.weight"] = real
    out["audio_branch.spectrogram_extractor.stft.conv_imag.weight"] = imag
    fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)
    out["audio_branch.logmel_extractor.melW"] = torch.from_numpy(fb).float()
    out["text_branch.embeddings.position_ids"] = torch.arange(40)[None]
    out["audio_transform.sequential.0.weight"] = torch.zeros(8, 8)
    return out


def save_laion(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save({"epoch": 3, "best_metric": np.float64(0.9), "state_dict": {f"module.{k}": v
                                                                           for k, v in state.items()}}, path)
    return path


def assert_same_weights(a: ClapModel, b: ClapModel) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("fusion", [False, True])
def test_laion_layout_round_trip(tmp_path: Path, fusion: bool) -> None:
    model = random_model(tiny_laion(fusion))
    src = save_laion(laion_layout(model), tmp_path / "630k-tiny.pt")
    assert is_published_checkpoint(src) and detect_family(unwrap_state(load_legacy(src), "x")) == "laion"
    loaded = convert(src, tmp_path / "out", family="laion", config=model.config)
    assert_same_weights(model, loaded)
    reloaded = create_model(checkpoint=tmp_path / "out")
    assert not is_published_checkpoint(tmp_path / "out")
    waves = [torch.randn(16000) * 0.1, torch.randn(24000) * 0.1]  # the second is a long clip
    with torch.no_grad():
        a = loaded.encode_audio(loaded.prepare_waveforms(waves))
        b = reloaded.encode_audio(reloaded.prepare_waveforms(waves))
    assert torch.equal(a, b)


def test_strictness(tmp_path: Path) -> None:
    model = random_model(tiny_laion())
    good = laion_layout(model)
    missing = dict(good)
    del missing["audio_branch.norm.weight"]
    with pytest.raises(CheckpointError, match=r"missing keys: audio_encoder\.norm\.weight"):
        load_published(save_laion(missing, tmp_path / "a.pt"), config=model.config)
    unexpected = {**good, "audio_branch.extra.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"unexpected keys: audio_encoder\.extra\.weight"):
        load_published(save_laion(unexpected, tmp_path / "b.pt"), config=model.config)
    unknown = {**good, "queue.weight": torch.zeros(1)}
    with pytest.raises(ConversionError, match=r"keys outside the known layout: queue\.weight"):
        load_published(save_laion(unknown, tmp_path / "b2.pt"), config=model.config)
    mask = {**good, "audio_branch.layers.0.blocks.1.attn_mask": torch.zeros(64, 64, 64)}
    with pytest.raises(ConversionError, match="attn_mask differs"):
        load_published(save_laion(mask, tmp_path / "c.pt"), config=model.config)
    melw = {**good, "audio_branch.logmel_extractor.melW": good["audio_branch.logmel_extractor.melW"] * 1.01}
    with pytest.raises(ConversionError, match="melW differs"):
        load_published(save_laion(melw, tmp_path / "d.pt"), config=model.config)
    with pytest.raises(ConversionError, match="--from msclap given, but the keys are in the laion layout"):
        load_published(save_laion(good, tmp_path / "e.pt"), family="msclap", config=model.config)


def test_hf_layout_with_split_qkv(tmp_path: Path) -> None:
    config = tiny_laion(num_classes=0)
    model = random_model(config)
    hf = {}
    for key, value in model.state_dict().items():
        m = re.match(r"audio_encoder\.layers\.(\d+)\.blocks\.(\d+)\.(.+)", key)
        if m:
            block = f"audio_model.audio_encoder.layers.{m.group(1)}.blocks.{m.group(2)}."
            rest = m.group(3)
            if rest.startswith("attn.qkv."):
                for part, chunk in zip(("query", "key", "value"), value.chunk(3), strict=True):
                    hf[f"{block}attention.self.{part}.{rest.split('.')[-1]}"] = chunk.clone()
                continue
            for ours, theirs in (("norm1", "layernorm_before"), ("norm2", "layernorm_after"),
                                 ("attn.relative", "attention.self.relative"),
                                 ("attn.proj", "attention.output.dense"), ("mlp.fc1", "intermediate.dense"),
                                 ("mlp.fc2", "output.dense")):
                rest = rest.replace(ours, theirs)
            hf[block + rest] = value.clone()
            continue
        key = key.replace("audio_encoder.bn0.", "audio_model.audio_encoder.batch_norm.")
        key = re.sub(r"^audio_encoder\.", "audio_model.audio_encoder.", key)
        key = re.sub(r"^text_encoder\.model\.", "text_model.", key)
        key = re.sub(r"_projection\.0\.", "_projection.linear1.", key)
        key = re.sub(r"_projection\.2\.", "_projection.linear2.", key)
        hf[{"logit_scale": "logit_scale_a"}.get(key, key)] = value.clone()
    hf["text_model.embeddings.position_ids"] = torch.arange(40)[None]
    save_file(hf, str(tmp_path / "model.safetensors"))
    assert is_published_checkpoint(tmp_path / "model.safetensors")
    loaded = load_published(tmp_path / "model.safetensors", family="hf", config=config)
    assert_same_weights(model, loaded)


def test_msclap_layout_ignores_legacy_keys(tmp_path: Path) -> None:
    config = get_config("tiny-test")
    model = random_model(config)
    layout = {"audio_encoder.": "audio_encoder.base.", "audio_projection.": "audio_encoder.projection.",
              "text_encoder.model.": "caption_encoder.base.",
              "text_projection.": "caption_encoder.projection."}
    state = {}
    for key, value in model.state_dict().items():
        for ours, theirs in layout.items():
            if key.startswith(ours):
                key = theirs + key[len(ours) :]
                break
        state[key] = value.clone()
    state["caption_encoder.base.embeddings.position_ids"] = torch.arange(64)[None]
    torch.save({"model": state}, tmp_path / "CLAP_weights_2022.pth")
    loaded = create_model(config, checkpoint=tmp_path / "CLAP_weights_2022.pth")
    assert_same_weights(model, loaded)


def test_qkv_merge_order_and_errors() -> None:
    prefix = "audio_model.audio_encoder.layers.0.blocks.0.attention.self."
    parts = {f"{prefix}{p}.weight": torch.full((2, 2), float(i))
             for i, p in enumerate(("query", "key", "value"))}
    merged = merge_qkv(parts)
    assert merged[f"{prefix}qkv.weight"][:, 0].tolist() == [0, 0, 1, 1, 2, 2]
    del parts[f"{prefix}value.weight"]
    with pytest.raises(ConversionError, match="needs query, key and value"):
        merge_qkv(parts)


class _Marker:
    path = ""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.path,))


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_pickle_is_refused_without_running(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    evil = _Marker()
    evil.path = str(marker)
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"module.audio_branch.x": torch.zeros(1)}, "payload": evil}, path,
               pickle_protocol=protocol)
    with pytest.raises(ConversionError, match=r"refused to load: unpickling it needs the class or function "
                                              r"posix\.mkdir, which could run arbitrary code"):
        load_published(path)
    assert not marker.exists()
    raw = tmp_path / "raw.pth"  # a plain (non-zip) pickle
    raw.write_bytes(pickle.dumps({"model": evil}, protocol=protocol))
    with pytest.raises(ConversionError, match="refused to load"):
        convert(raw, tmp_path / "out")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_plain_values_next_to_weights_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 1, "metric": np.float32(0.5), "hist": np.arange(3), "name": "x",
                "state_dict": {"module.a": torch.ones(1)}}, path, pickle_protocol=4)
    obj = load_legacy(path)
    assert obj["metric"] == np.float32(0.5) and unwrap_state(obj, "x") == {"a": torch.ones(1)}


def test_keymap_first_rule_wins_and_ignores() -> None:
    km = KeyMap(rules=[(r"a\.(.+)", r"x.\1")], ignore=[r"a\.skip"], derived=[r"a\.mask"])
    mapped, derived, ignored = km.apply({"a.w": torch.ones(1), "a.skip": torch.ones(1),
                                         "a.mask": torch.zeros(1)}, "src")
    assert list(mapped) == ["x.w"] and list(derived) == ["x.mask"] and ignored == ["a.skip"]


def test_unknown_layout_and_file_types(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="unrecognised checkpoint layout"):
        detect_family({"foo.bar": torch.zeros(1)})
    (tmp_path / "weights.npz").write_bytes(b"")
    with pytest.raises(ConversionError, match="unknown checkpoint type"):
        load_published(tmp_path / "weights.npz")
    model = random_model(get_config("tiny-test"))
    save_checkpoint(model, tmp_path / "ours")
    assert not is_published_checkpoint(tmp_path / "ours")


def test_tokenizer_folder_errors(tmp_path: Path) -> None:
    gpt2 = get_config("msclap-2023").text_encoder
    with pytest.raises(ValueError, match=r"needs a gpt2 tokenizer: .* vocab\.json \+ merges\.txt"):
        load_tokenizer(gpt2)
    (tmp_path / "vocab.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"lacks merges\.txt: a gpt2 tokenizer needs vocab\.json"):
        check_tokenizer_folder(str(tmp_path), gpt2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_tokenizer_folder(str(tmp_path / "nope"), gpt2)


def test_bare_vocabulary_files_make_a_tokenizer(tmp_path: Path) -> None:
    vocab = {"<|endoftext|>": 0, "!": 1, "a": 2, "b": 3, "ab": 4, "Ġ": 5, "Ġa": 6}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\nĠ a\n")
    config = get_config("msclap-2023").text_encoder
    tok = load_tokenizer(dataclasses.replace(config, tokenizer=str(tmp_path)))
    assert tok("ab a")["input_ids"] == [4, 6] and tok.pad_token_id == 0


def test_msclap_2022_tokenizer_is_offline() -> None:
    tok = load_tokenizer(get_config("msclap-2022").text_encoder)
    assert tok("this is a sound of a dog barking")["input_ids"][:2] == [101, 2023]
