"""Cnn14's CPU inference paths: channels-last convolutions in blocks 1-4, and the late convolutions as one
matrix product when compiled (docs/speed.md, "Cnn14 on channels-last tensors, and its last convolutions
as products")."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import openclap.audio.encoders.cnn14 as cnn14
from openclap.audio.encoders.cnn14 import Cnn14, ConvBlock, conv3x3_as_product


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("shape", [(2, 8, 5, 3), (1, 4, 1, 1), (3, 16, 2, 7)])
def test_conv3x3_as_product_equals_conv2d(layout: torch.memory_format, shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g).contiguous(memory_format=layout)
    weight = torch.randn(6, shape[1], 3, 3, generator=g)
    got = conv3x3_as_product(x, weight)
    assert got.shape == (shape[0], 6, *shape[2:])
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, F.conv2d(x, weight, padding=1), atol=1e-5, rtol=1e-5)


def _conv_inputs(model: nn.Module, mel: torch.Tensor) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        conv.register_forward_pre_hook(lambda _m, args, name=name: seen.__setitem__(name, args[0]))
        for name, conv in model.named_modules()
        if isinstance(conv, nn.Conv2d)
    ]
    try:
        with torch.inference_mode():
            model(mel)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def test_blocks_one_to_four_convolve_channels_last_tensors_on_cpu() -> None:
    torch.manual_seed(0)
    model = Cnn14().eval()
    seen = _conv_inputs(model, torch.randn(2, 64, 64))
    assert len(seen) == 12
    for name, x in seen.items():
        block = int(name.split(".")[0].removeprefix("conv_block"))
        if x.shape[1] == 1:  # one input channel: both layouts are the same memory
            continue
        nhwc = x.is_contiguous(memory_format=torch.channels_last)
        assert nhwc == (block <= cnn14.CHANNELS_LAST_BLOCKS), name


def test_eager_layouts_change_only_the_order_of_additions() -> None:
    torch.manual_seed(0)
    model = Cnn14().eval()
    mel = torch.randn(2, 64, 64)
    with torch.inference_mode():
        fast = model(mel)
        for i in range(6):
            getattr(model, f"conv_block{i + 1}").channels_last = False
        plain = model(mel)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


def test_compiled_block_runs_wide_convolutions_as_a_product(monkeypatch: pytest.MonkeyPatch) -> None:
    """Traced (as inductor sees it), a block whose convolutions read >= PRODUCT_MIN_CHANNELS channels calls
    a linear product, not a convolution, and gives eager's values; eager keeps the convolution."""
    monkeypatch.setattr(cnn14, "PRODUCT_MIN_CHANNELS", 8)
    torch.manual_seed(0)
    block = ConvBlock(8, 16, channels_last=True).eval()
    for bn in (block.bn1, block.bn2):
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    graphs: list[torch.fx.GraphModule] = []

    def capture(gm: torch.fx.GraphModule, _inputs: list[torch.Tensor]):  # type: ignore[no-untyped-def]
        graphs.append(gm)
        return gm.forward

    x = torch.randn(2, 8, 6, 4)
    torch._dynamo.reset()
    with torch.inference_mode():
        eager = block(x)
        compiled = torch.compile(block, backend=capture, fullgraph=True)(x)
    targets = {str(node.target) for gm in graphs for node in gm.graph.nodes}
    assert any("linear" in t for t in targets) and not any("conv2d" in t for t in targets), targets
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-5)
    with torch.enable_grad():  # training keeps the convolution
        graphs.clear()
        torch._dynamo.reset()
        torch.compile(block, backend=capture, fullgraph=True)(x)
    assert any("conv2d" in str(node.target) for gm in graphs for node in gm.graph.nodes)
