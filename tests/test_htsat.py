"""HTS-AT encoder: geometry, derived buffers, fusion routing and input checks (no parity data needed)."""

from __future__ import annotations

import pytest
import torch

from openclap.audio.encoders.htsat import HTSAT, relative_position_index, shifted_window_mask


def small(fusion: bool = False) -> HTSAT:
    torch.manual_seed(0)
    model = HTSAT(embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), fusion=fusion, num_classes=5)
    for p in model.parameters():  # non-trivial weights everywhere (BatchNorms and biases included)
        torch.nn.init.normal_(p, std=0.2)
    return model.eval()


def test_relative_position_index_is_the_swin_layout() -> None:
    idx = relative_position_index(3)
    coords = [(i, j) for i in range(3) for j in range(3)]
    want = [[(a[0] - b[0] + 2) * 5 + (a[1] - b[1] + 2) for b in coords] for a in coords]
    assert idx.tolist() == want


def test_shift_mask_blocks_wrapped_regions() -> None:
    mask = shifted_window_mask(8, 8, 4, 2)  # 4 windows of 16 tokens
    assert mask.shape == (4, 16, 16)
    assert torch.all(mask[0] == 0)  # the top-left window holds one region only
    assert set(mask.unique().tolist()) == {-100.0, 0.0}


def test_derived_buffers_are_not_saved() -> None:
    keys = HTSAT().state_dict().keys()
    assert not [k for k in keys if k.endswith(("attn_mask", "relative_position_index"))]
    assert "layers.0.blocks.0.attn.relative_position_bias_table" in keys
    assert "tscam_conv.weight" in keys and "head.weight" in keys and "bn0.running_var" in keys


def test_tiny_and_base_dimensions() -> None:
    assert HTSAT().out_dim == 768
    base = HTSAT(embed_dim=128, depths=(2, 2, 12, 2))
    assert base.out_dim == 1024
    assert sum(p.numel() for p in HTSAT().parameters()) == 30_241_687  # incl. tscam_conv and head


def test_forward_shapes_and_clipwise() -> None:
    model = small()
    mel = torch.randn(2, 64, 1001) * 10 - 40
    with torch.no_grad():
        out = model.forward_features(mel)
        emb = model(mel)
    assert out["embedding"].shape == (2, 64) and torch.equal(emb, out["embedding"])
    assert out["clipwise_output"].shape == (2, 5)
    assert bool(((out["clipwise_output"] > 0) & (out["clipwise_output"] < 1)).all())


def test_batch_independence() -> None:
    model = small()
    mel = torch.randn(3, 64, 1001)
    with torch.no_grad():
        full = model(mel)
        one = model(mel[1:2])
    torch.testing.assert_close(full[1:2], one, atol=1e-5, rtol=1e-5)


def test_input_checks() -> None:
    model = small()
    with pytest.raises(ValueError, match="at most 1024 frames"):
        model(torch.randn(1, 64, 1025))
    with pytest.raises(ValueError, match="64 mel bins"):
        model(torch.randn(1, 32, 1000))


def test_fusion_uses_local_chunks_only_for_longer_clips() -> None:
    model = small(fusion=True)
    mel = torch.randn(2, 4, 64, 1001)
    with torch.no_grad():
        plain = model(mel[:, 0])
        not_longer = model(mel, torch.tensor([False, False]))
        mixed = model(mel, torch.tensor([False, True]))
    torch.testing.assert_close(not_longer, plain)
    torch.testing.assert_close(mixed[0], plain[0], atol=1e-5, rtol=1e-5)
    assert (mixed[1] - plain[1]).abs().max() > 1e-4
    keys = model.state_dict().keys()
    assert "patch_embed.mel_conv2d.weight" in keys
    assert "patch_embed.fusion_model.global_att.5.running_var" in keys
