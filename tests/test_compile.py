"""``create_model(..., compile=True)`` / ``ClapModel.compile_towers``: the compiled audio path.

Real compilation (a C++ compiler builds the kernels): on a CPU an AOTInductor package cached on disk
(``openclap.compiled``), on the tiny config and on YAMNet's tower (the default model's architecture,
random weights): embeddings equal eager's within float rounding for several batch sizes (the batch
dimension is dynamic) and in bf16; the package is reused by a later model, rebuilt when damaged, and
keyed by the weights; the in-place ``torch.compile`` path (used off the CPU and for fusion models) too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from openclap import compiled as compiled_module
from openclap import create_model, kernels
from openclap.device import check_compiler
from openclap.inference import embed_audio_files
from tests.helpers import ESC50_AUDIO, package_calls

pytestmark = pytest.mark.slow
HAS_COMPILER = any(shutil.which(name) for name in ("g++", "clang++", "c++"))
needs_compiler = pytest.mark.skipif(not HAS_COMPILER, reason="needs a C++ compiler (g++ or clang++)")


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENCLAP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "compiled"


def _waves(n: int, seconds: float, sr: int = 16000) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [0.1 * torch.randn(int(seconds * sr), generator=g) for _ in range(n)]


@needs_compiler
@pytest.mark.parametrize("name", ["tiny-test", "yamnet-minilm"])
def test_compiled_audio_path_equals_eager(name: str) -> None:
    torch.manual_seed(0)
    eager = create_model(name, pretrained=False, text=False)
    torch.manual_seed(0)
    compiled = create_model(name, pretrained=False, text=False, compile=True)
    assert compiled.compiled and not eager.compiled
    assert compiled.state_dict().keys() == eager.state_dict().keys()  # no _orig_mod. prefixes
    seconds = eager.config.audio.clip_seconds
    assert set(compiled._compiled_audio) == {"fp32"}  # the CPU path: a package, not in-place compiling
    with torch.inference_mode():
        for n in (4, 3, 1):  # other batch sizes: the dynamic batch dimension, same numbers
            batch = eager.prepare_waveforms(_waves(n, seconds))
            want, got = eager.encode_audio(batch), compiled.encode_audio(batch)
            torch.testing.assert_close(got, want, rtol=0, atol=2e-5)
        if name == "yamnet-minilm" and kernels.available():  # its front end in one native pass
            (package,) = Path(os.environ["OPENCLAP_CACHE_DIR"], "compiled").rglob("*.pt2")
            assert package_calls(package, "aoti_torch_cpu_frame_rfft_mel")
        compiled.set_precision("bf16").compile_towers()
        assert set(compiled._compiled_audio) == {"fp32", "bf16"}
        got = compiled.encode_audio(batch)
    assert torch.nn.functional.cosine_similarity(got, want).min() > 0.999


@needs_compiler
def test_the_package_is_cached_reused_rebuilt_when_damaged_keyed_by_the_weights_and_pruned(
    _cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Path] = []
    real = compiled_module.build_package
    monkeypatch.setattr(compiled_module, "build_package", lambda m, p: (built.append(p), real(m, p)))
    torch.manual_seed(0)
    first = create_model("tiny-test", pretrained=False, text=False, compile=True)
    assert len(built) == 1 and [p.name for p in _cache.iterdir()] == [built[0].name]  # no temporary left
    torch.manual_seed(0)
    create_model("tiny-test", pretrained=False, text=False, compile=True)  # same weights: loaded
    assert len(built) == 1
    built[0].write_bytes(b"not a package")  # damaged: rebuilt, not trusted
    torch.manual_seed(0)
    again = create_model("tiny-test", pretrained=False, text=False, compile=True)
    assert len(built) == 2 and built[1] == built[0]
    torch.manual_seed(1)  # other weights: another package
    create_model("tiny-test", pretrained=False, text=False, compile=True)
    assert len(built) == 3 and built[2] != built[0]
    torch.manual_seed(2)  # a third: the least recently used package of the model and precision goes
    create_model("tiny-test", pretrained=False, text=False, compile=True)
    assert sorted(p.name for p in _cache.iterdir()) == sorted(p.name for p in built[2:4])
    batch = first.prepare_waveforms(_waves(2, 1.0))
    with torch.inference_mode():
        torch.testing.assert_close(again.encode_audio(batch), first.encode_audio(batch), rtol=0, atol=0)


@needs_compiler
def test_gradients_and_training_use_the_eager_path() -> None:
    torch.manual_seed(0)
    model = create_model("tiny-test", pretrained=False, text=False, compile=True)
    batch = model.prepare_waveforms(_waves(2, 1.0))
    loss = model.encode_audio(batch).sum()  # grad mode: eager, differentiable
    loss.backward()
    assert model.audio_projection.parameters().__next__().grad is not None


@needs_compiler
def test_in_place_torch_compile_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """What CUDA and fusion models get: the modules compiled in place, the same numbers."""
    monkeypatch.setattr(compiled_module, "aoti_applies", lambda model: False)
    torch.manual_seed(0)
    eager = create_model("tiny-test", pretrained=False, text=False)
    torch.manual_seed(0)
    model = create_model("tiny-test", pretrained=False, text=False, compile=True)
    assert model._compiled_in_place and not model._compiled_audio
    with torch.inference_mode():
        for n in (4, 3):
            batch = eager.prepare_waveforms(_waves(n, 1.0))
            want = eager.encode_audio(batch)
            torch.testing.assert_close(model.encode_audio(batch), want, rtol=0, atol=2e-5)


@needs_compiler
def test_compiled_embed_files() -> None:
    """Real ESC-50 recordings (5 s, 44.1 kHz) through the whole file path, compiled against eager."""
    torch.manual_seed(0)
    eager = create_model("tiny-test", text=False)
    torch.manual_seed(0)
    compiled = create_model("tiny-test", text=False, compile=True)
    paths = sorted(ESC50_AUDIO.glob("*.flac"))[:5]
    want = embed_audio_files(eager, paths, batch_size=2)
    got = embed_audio_files(compiled, paths, batch_size=2)
    assert got.paths == want.paths and got.errors == want.errors
    np.testing.assert_allclose(got.embeddings, want.embeddings, rtol=0, atol=2e-5)


def test_compiling_without_a_cpp_compiler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    with pytest.raises(ValueError, match="C\\+\\+ compiler"):
        check_compiler(torch.device("cpu"))
    with pytest.raises(ValueError, match="C\\+\\+ compiler"):
        create_model("tiny-test", pretrained=False, text=False, compile=True)
    with pytest.raises(ValueError, match="not mps"):
        check_compiler(torch.device("mps"))


@needs_compiler
def test_serve_compiles_and_warms_up_before_listening(capsys: pytest.CaptureFixture[str]) -> None:
    """``openclap serve --compile``: the model is compiled and both graphs (1 clip, 2+ clips) are built
    before the server listens; a request-sized batch afterwards gives eager's numbers."""
    from openclap.serve.cli import compile_and_warm

    torch.manual_seed(0)
    eager = create_model("tiny-test", pretrained=False, text=False)
    torch.manual_seed(0)
    model = create_model("tiny-test", pretrained=False, text=False)
    compile_and_warm(model)
    assert model.compiled and "compiling the audio path" in capsys.readouterr().err
    with torch.inference_mode():
        batch = eager.prepare_waveforms(_waves(3, eager.config.audio.clip_seconds))
        torch.testing.assert_close(model.encode_audio(batch), eager.encode_audio(batch), rtol=0, atol=2e-5)


@needs_compiler
def test_batches_beyond_the_package_limit_use_the_eager_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import openclap.model

    torch.manual_seed(0)
    model = create_model("tiny-test", pretrained=False, text=False, compile=True)
    calls: list[int] = []
    package = model._compiled_audio["fp32"]
    model._compiled_audio["fp32"] = lambda wave: (calls.append(wave.shape[0]), package(wave))[1]
    monkeypatch.setattr(openclap.model, "MAX_BATCH", 2)
    with torch.inference_mode():
        model.encode_audio(model.prepare_waveforms(_waves(2, 1.0)))
        model.encode_audio(model.prepare_waveforms(_waves(3, 1.0)))  # above the limit: eager
    assert calls == [2]


@needs_compiler
def test_changed_weights_drop_the_package() -> None:
    """A package holds the weights it was built from: once they change (a training step, a load), the
    model embeds with the new weights (eager) instead of the stale package."""
    torch.manual_seed(0)
    model = create_model("tiny-test", pretrained=False, text=False, compile=True)
    batch = model.prepare_waveforms(_waves(2, 1.0))
    with torch.no_grad():
        next(model.audio_projection.parameters()).mul_(2.0)
    with torch.inference_mode():
        got = model.encode_audio(batch)
        want = model.project_audio(model.audio_features(batch))
    assert not model._compiled_audio
    torch.testing.assert_close(got, want, rtol=0, atol=0)


@needs_compiler
def test_an_unusable_cache_folder_is_named_before_any_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("OPENCLAP_CACHE_DIR", str(blocker))
    monkeypatch.setattr(compiled_module, "build_package", lambda m, p: pytest.fail("compiled anyway"))
    with pytest.raises(ValueError, match=r"compiled-package cache .*a-file/compiled: cannot create it"):
        create_model("tiny-test", pretrained=False, text=False, compile=True)


@needs_compiler
def test_the_package_keeps_the_split_precision_input_convolution(tmp_path: Path) -> None:
    """With ``INDUCTOR_OPTIONS`` inductor keeps the float32 -> bf16 -> float32 round trip that the
    log-mel's convolution splits its input with, so under bf16 autocast the compiled layer stays as close
    to float32 as eager (without ``emulate_precision_casts`` the remainder is zero: bf16 error, ~1e-3)."""
    from torch._inductor import aoti_compile_and_package

    from openclap.audio.encoders.input_conv import InputConv2d

    class Layer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = InputConv2d(1, 8, kernel_size=3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.conv(x).float()

    torch.manual_seed(0)
    layer = Layer().eval()
    with torch.no_grad():  # a differencing kernel (sums to 0) on large values that differ a little
        layer.conv.weight -= layer.conv.weight.mean(dim=(2, 3), keepdim=True)
    x = torch.randn(2, 1, 16, 16) * 0.1 - 20  # bf16's step at 20 is 0.125: rounding x loses the detail
    with torch.inference_mode():
        exact = layer.conv._conv_forward(x, layer.conv.weight, layer.conv.bias)  # float32, no autocast
        eager = layer(x)
        program = torch.export.export(layer, (x,))
        options = dict(compiled_module.INDUCTOR_OPTIONS)  # aoti_compile_and_package writes into it
        target = str(tmp_path / "l.pt2")
        path = aoti_compile_and_package(program, package_path=target, inductor_configs=options)
        got = compiled_module.load_package(Path(path))(x)
    scale = exact.abs().max()  # the output is bf16: its own rounding, 2^-8 relative, stays
    assert (eager - exact).abs().max() < 2e-2 * scale  # the split's accuracy, eager
    assert (got - exact).abs().max() < 2e-2 * scale  # and compiled
    plain = torch.nn.functional.conv2d(x.bfloat16(), layer.conv.weight.bfloat16(), layer.conv.bias.bfloat16())
    assert (plain.float() - exact).abs().max() > 0.1 * scale  # what the test guards against


@needs_compiler
def test_the_package_runs_through_its_c_entry_point_without_the_gil(_cache: Path) -> None:
    import threading
    import time

    torch.manual_seed(0)
    model = create_model("yamnet-minilm", pretrained=False, text=False, compile=True)
    run = model._compiled_audio["fp32"]
    assert isinstance(run, compiled_module.NativePackage)
    package = next(_cache.glob("*.pt2"))
    loader = torch._C._aoti.AOTIModelPackageLoader(str(package), "model", False, 1, -1)
    wave = 0.1 * torch.randn(64, model.config.audio.clip_samples, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(run(wave), loader.run([wave])[0], rtol=0, atol=0)

        def spins_beside(call) -> float:  # type: ignore[no-untyped-def]
            done, count = threading.Event(), 0
            worker = threading.Thread(target=lambda: (call(), done.set()))
            start = time.perf_counter()
            worker.start()
            while not done.is_set():
                count += 1
            worker.join()
            return count / (time.perf_counter() - start)

        free = spins_beside(lambda: time.sleep(0.3))
        beside_native = spins_beside(lambda: run(wave))
        beside_loader = spins_beside(lambda: loader.run([wave]))
    assert beside_native > 0.2 * free  # the GIL is released while the package computes
    assert beside_loader < 0.1 * free  # torch's loader holds it: what this path avoids
