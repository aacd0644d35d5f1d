"""fp32 linears through oneDNN at inference (openclap.onednn): the product it runs, and every fallback."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from openclap import create_model
from openclap.onednn import available, route_linears

pytestmark = pytest.mark.skipif(not available(), reason="oneDNN linears are off on this machine")


def _ops(fn) -> set[str]:  # type: ignore[no-untyped-def]
    """Names of the operators ``fn()`` runs."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {event.key for event in prof.key_averages()}


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(24, 40), nn.GELU(), nn.Linear(40, 8, bias=False))


def test_inference_runs_onednn_with_the_same_outputs_and_training_runs_the_blas() -> None:
    net, reference = _net(), _net()
    assert route_linears(net) == 2
    x = torch.randn(3, 5, 24)  # 3-d input: the product runs over the last dimension
    with torch.inference_mode():
        torch.testing.assert_close(net(x), reference(x), rtol=1e-5, atol=1e-6)
        assert "mkldnn::_linear_pointwise" in _ops(lambda: net(x))
    assert "mkldnn::_linear_pointwise" not in _ops(lambda: reference(x))
    # with gradients: nn.Linear's own forward, and backward works
    out = net(x)
    assert out.grad_fn is not None and "mkldnn::_linear_pointwise" not in _ops(lambda: net(x))
    out.sum().backward()
    assert net[0].weight.grad is not None
    assert set(net.state_dict()) == set(reference.state_dict())  # parameters and keys untouched


def test_autocast_other_dtypes_and_empty_inputs_keep_the_ordinary_forward() -> None:
    net = _net()
    route_linears(net)
    x = torch.randn(4, 24)
    with torch.inference_mode():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert net(x).dtype == torch.bfloat16  # autocast's bf16 product, not an fp32 one
        assert net.double()(x.double()).dtype == torch.float64
        net.float()
        assert net(torch.empty(0, 24)).shape == (0, 8)


def test_compile_export_and_deepcopy_see_the_right_weights() -> None:
    net, reference = _net(), _net()
    route_linears(net)
    x = torch.randn(6, 24)
    with torch.inference_mode():
        compiled = torch.compile(net, backend="eager")
        torch.testing.assert_close(compiled(x), reference(x), rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # no gradients: only the tracing check keeps the exported graph plain
        program = torch.export.export(net, (x,))
        with FlopCounterMode(display=False) as counter:  # a dispatch mode sees the aten product
            net(x)
    assert counter.get_total_flops() == 2 * 6 * (24 * 40 + 40 * 8)
    assert not [n for n in program.graph.nodes if "mkldnn" in str(n.target)]  # the plain linear is exported
    twin = copy.deepcopy(net)
    with torch.no_grad():
        twin[0].weight.zero_()
        twin[0].bias.zero_()
        assert torch.equal(twin[0](x), torch.zeros(6, 40))  # the copy's forward reads the copy's weights
        torch.testing.assert_close(net(x), reference(x), rtol=1e-5, atol=1e-6)


def test_gpt2_conv1d_is_routed_too() -> None:
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    layer = Conv1D(12, 20)  # nf=12 outputs, nx=20 inputs; weight [20, 12]
    reference = copy.deepcopy(layer)
    assert route_linears(layer) == 1
    x = torch.randn(2, 7, 20)
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), reference(x), rtol=1e-5, atol=1e-6)
        assert "mkldnn::_linear_pointwise" in _ops(lambda: layer(x))


def test_models_route_their_linears_and_the_environment_turns_it_off() -> None:
    model = create_model("tiny-test", pretrained=False)
    routed = [m for m in model.modules() if "forward" in vars(m)]
    assert routed and all(type(m) is nn.Linear for m in routed)
    code = "from openclap.onednn import available; print(available())"
    env = {**os.environ, "OPENCLAP_ONEDNN_LINEAR": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
