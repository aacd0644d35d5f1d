"""``openclap.kernels``: the native fused window attention and one-pass spectrogram, built on this machine
with its C++ compiler.

The spectrogram against a float64 FFT (FFT sizes 16 to 4096, frames past the waveform's end, magnitude and
power, sparse and dense filterbanks), inside YAMNet's front end on real clips, and its refusals. The
attention against torch's own products and softmax (windows of 16, 32 and 64 tokens, heads 1 to 32 wide,
with and without the shift mask), inside a whole HTS-AT encoder, its checks on bad inputs, the switch that
turns it off, and a compiled HTS-AT package that calls it through its C shim (real AOTInductor build) or,
with the kernels off, is built without it; a later process that loads the package (rebuilding a deleted
library first); and a bf16 package, which calls it on autocast's bf16 output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from openclap import compiled, create_model, kernels
from openclap.audio.encoders.htsat import HTSAT, shifted_window_mask
from openclap.config import ClapConfig
from openclap.model import ClapModel
from openclap.registry import get_config
from tests.helpers import ESC50_AUDIO, package_calls

HAS_COMPILER = any(shutil.which(name) for name in ("g++", "c++"))
AVX512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")
pytestmark = pytest.mark.skipif(not (HAS_COMPILER and AVX512), reason="needs a C++ compiler and AVX-512")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # one build for the module (the library's name is its hash; the build takes a few seconds)
    monkeypatch.setenv("OPENCLAP_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels-cache"))


def _reference(
    qkv: torch.Tensor,
    bias: torch.Tensor,
    mask: torch.Tensor | None,
    heads: int,
    round_probabilities: bool = False,
) -> torch.Tensor:
    bw, n, c3 = qkv.shape
    c = c3 // 3
    q, k, v = qkv.double().reshape(bw, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4).unbind(0)
    attn = (q @ k.transpose(-2, -1)) * (c // heads) ** -0.5 + bias.double()
    if mask is not None:
        nw = mask.shape[0]
        attn = (attn.view(bw // nw, nw, heads, n, n) + mask[None, :, None]).view(bw, heads, n, n)
    probabilities = attn.softmax(-1)
    if round_probabilities:
        probabilities = probabilities.bfloat16().double()
    return (probabilities @ v).transpose(1, 2).reshape(bw, n, c).float()


SHAPES = [(8, 4, 24, 4), (8, 32, 24, 0), (4, 2, 8, 2), (4, 3, 32, 0), (8, 1, 1, 2)]


@pytest.mark.parametrize(("window", "heads", "width", "shift"), SHAPES)
def test_fused_attention_equals_torchs_products_and_softmax(
    window: int, heads: int, width: int, shift: int
) -> None:
    kernels.load()
    n = window * window
    side = 2 * window  # 4 windows a map
    mask = shifted_window_mask(side, side, window, shift) if shift else None
    g = torch.Generator().manual_seed(0)
    qkv = torch.randn(3 * 4, n, 3 * heads * width, generator=g)  # 3 maps of 4 windows
    bias = torch.randn(heads, n, n, generator=g)
    got = torch.ops.openclap.swin_window_attention(qkv, bias, mask, heads, width**-0.5)
    torch.testing.assert_close(got, _reference(qkv, bias, mask, heads), rtol=0, atol=5e-6)
    half = qkv.bfloat16()  # bf16 in and out: float32 sums, the probabilities rounded to bf16 (as autocast)
    got = torch.ops.openclap.swin_window_attention(half, bias, mask, heads, width**-0.5)
    want = _reference(half.float(), bias, mask, heads, round_probabilities=True)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, rtol=2**-7, atol=1e-3)


def test_a_whole_htsat_encoder_with_the_fused_attention_equals_the_modules() -> None:
    torch.manual_seed(0)
    model = HTSAT(embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), num_classes=5).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    mel = torch.randn(2, 64, 1001) * 10 - 40
    with torch.no_grad():
        plain = model.forward_features(mel)["embedding"]
        with kernels.fused():
            fused = model.forward_features(mel)["embedding"]
    assert not kernels.fusing()
    torch.testing.assert_close(fused, plain, rtol=0, atol=1e-5)


def test_bad_inputs_are_refused_with_the_reason() -> None:
    kernels.load()
    op = torch.ops.openclap.swin_window_attention
    bias = torch.zeros(2, 64, 64)
    with pytest.raises(RuntimeError, match="float32 or bfloat16 CPU tensor"):
        op(torch.zeros(4, 64, 48, dtype=torch.float64), bias, None, 2, 0.2)
    with pytest.raises(RuntimeError, match="a window of 16, 32 or 64 tokens, got 48"):
        op(torch.zeros(4, 48, 48), torch.zeros(2, 48, 48), None, 2, 0.2)
    with pytest.raises(RuntimeError, match="head width of 1 to 32"):
        op(torch.zeros(4, 64, 3 * 2 * 40), bias, None, 2, 0.2)
    with pytest.raises(RuntimeError, match=r"bias must be float32 \[heads, N, N\]"):
        op(torch.zeros(4, 64, 48), torch.zeros(3, 64, 64), None, 2, 0.2)
    with pytest.raises(RuntimeError, match="nW dividing the windows"):
        op(torch.zeros(4, 64, 48), bias, torch.zeros(3, 64, 64), 2, 0.2)
    spectrogram, wave, fb = torch.ops.openclap.frame_rfft_mel, torch.zeros(2, 1000), torch.zeros(257, 8)
    with pytest.raises(RuntimeError, match=r"wave must be a float32 or float64 CPU tensor \[B, N\]"):
        spectrogram(wave.half(), torch.ones(512).half(), fb, 160, 1, 4)
    with pytest.raises(RuntimeError, match=r"window must be \[n_fft\] in the wave's dtype"):
        spectrogram(wave.double(), torch.ones(512), fb, 160, 1, 4)
    with pytest.raises(RuntimeError, match="n_fft a power of two from 16 to 4096"):
        spectrogram(wave, torch.ones(400), fb, 160, 1, 4)
    with pytest.raises(RuntimeError, match=r"mel_fb must be float32 \[n_fft / 2 \+ 1, mels\]"):
        spectrogram(wave, torch.ones(512), torch.zeros(256, 8), 160, 1, 4)
    with pytest.raises(RuntimeError, match="exponent 1 \\(magnitude\\) or 2 \\(power\\), got 3"):
        spectrogram(wave, torch.ones(512), fb, 160, 3, 4)
    with pytest.raises(RuntimeError, match="frames must be 1 to 2"):
        spectrogram(wave, torch.ones(512), fb, 160, 1, 0)
    with pytest.raises(RuntimeError, match="hop must be 1"):
        spectrogram(wave, torch.ones(512), fb, 0, 1, 4)
    assert kernels.spectrogram_fits(512, torch.float32, torch.device("cpu"))
    assert not kernels.spectrogram_fits(400, torch.float32, torch.device("cpu"))
    assert kernels.spectrogram_fits(512, torch.float64, torch.device("cpu"))
    assert not kernels.spectrogram_fits(512, torch.float16, torch.device("cpu"))
    fits, cpu = kernels.window_attention_fits, torch.device("cpu")
    assert fits(64, 24, torch.float32, cpu)
    assert fits(64, 24, torch.bfloat16, cpu)  # bf16 autocast's linear output
    assert not fits(64, 24, torch.float16, cpu) and not fits(49, 24, torch.float32, cpu)


def _spectrogram_reference(
    wave: torch.Tensor, window: torch.Tensor, fb: torch.Tensor, hop: int, exponent: int, frames: int
) -> torch.Tensor:
    n = window.numel()
    need = (frames - 1) * hop + n  # the waveform zero-extended to the last frame's end
    wave = torch.nn.functional.pad(wave.double(), (0, max(0, need - wave.shape[1])))
    spectrum = torch.fft.rfft(wave.unfold(-1, n, hop)[:, :frames] * window.double()).abs() ** exponent
    return (spectrum @ fb.double()).transpose(1, 2).float()  # [B, mels, frames]


# (n_fft, window length, hop, samples, frames, exponent, dtype): YAMNet's own (400 of 512, hop 160), the
# smallest and largest FFTs, frames past the waveform's end (zeros), a frame count short of a vector of
# frames (16 in float32, 8 in float64), one frame; float64 as the log-mel dB front end's STFT
SPECTROGRAMS = [
    (512, 400, 160, 16000, 98, 1, torch.float32),
    (512, 400, 160, 8000, 60, 1, torch.float32),
    (16, 16, 4, 100, 30, 2, torch.float32),
    (4096, 4096, 1024, 20000, 17, 2, torch.float32),
    (1024, 1000, 320, 3000, 1, 1, torch.float32),
    (1024, 1024, 480, 48000, 101, 2, torch.float64),
    (16, 16, 4, 100, 30, 1, torch.float64),
    (4096, 4000, 1024, 20000, 21, 2, torch.float64),
]


@pytest.mark.parametrize(("n_fft", "width", "hop", "samples", "frames", "exponent", "dtype"), SPECTROGRAMS)
def test_the_spectrogram_equals_a_float64_reference(
    n_fft: int, width: int, hop: int, samples: int, frames: int, exponent: int, dtype: torch.dtype
) -> None:
    from openclap.audio.encoders.yamnet import tf_mel_matrix

    kernels.load()
    g = torch.Generator().manual_seed(0)
    wave = torch.randn(3, samples, generator=g, dtype=dtype)
    window = torch.nn.functional.pad(torch.hann_window(width, periodic=True, dtype=dtype), (0, n_fft - width))
    fbs = {  # YAMNet's triangles (zeros skipped); a dense random one with a column of zeros
        "mel": torch.from_numpy(tf_mel_matrix(16000, n_fft, 8, 125.0, 7500.0)).float(),
        "dense": torch.rand(n_fft // 2 + 1, 5, generator=g) * (torch.arange(5) != 2),
    }
    for fb in fbs.values():
        got = torch.ops.openclap.frame_rfft_mel(wave, window, fb, hop, exponent, frames)
        want = _spectrogram_reference(wave, window, fb, hop, exponent, frames)
        assert got.shape == (3, fb.shape[1], frames) and got.dtype == torch.float32
        # float32 FFT: 2e-5 of a value, 1e-5 of the largest; float64: float32's rounding of the result
        rtol, scale = (2e-5, 1e-5) if dtype == torch.float32 else (5e-6, 1e-7)  # a float32 product
        torch.testing.assert_close(got, want, rtol=rtol, atol=scale * float(want.abs().max()))


def _real_clips(count: int, sample_rate: int) -> torch.Tensor:
    """[count, N] float32: the first ESC-50 clips (5 s at 44.1 kHz) at ``sample_rate``."""
    from openclap.audio.io import load_audio, resample, to_mono

    clips = []
    for path in sorted(ESC50_AUDIO.glob("*.flac"))[:count]:
        wave, rate = load_audio(path)
        clips.append(torch.from_numpy(resample(to_mono(wave), rate, sample_rate).copy()))
    return torch.stack(clips).float()


def test_yamnets_front_end_with_the_native_spectrogram_equals_torchs_on_real_audio() -> None:
    from openclap.audio.encoders.yamnet import YAMNET_FRONTEND, YamnetLogMel

    wave = _real_clips(3, 16000)
    front = YamnetLogMel(YAMNET_FRONTEND)
    plain = front(wave)
    with kernels.fused():
        fused = front(wave)
    assert fused.shape == plain.shape
    torch.testing.assert_close(fused, plain, rtol=0, atol=2e-4)  # ln(mel + 0.001): float32 rounding


def test_every_op_of_the_library_has_a_c_shim_for_packages() -> None:
    # an op without one would be called through AOTInductor's proxy executor, which the GIL-free C entry
    # point is not given (such a package then runs through torch's loader, holding the GIL)
    kernels.load()
    names = torch._C._dispatch_get_all_op_names()
    ops = {name.split("::")[1] for name in names if name.startswith("openclap::")}
    assert ops == set(kernels.C_SHIMS)
    assert set(kernels.inductor_options()["aot_inductor.custom_ops_to_c_shims"]) == set(kernels._ops())


@pytest.mark.parametrize("name", ["msclap-2023", "msclap-2022", "hf-clap-htsat-unfused", "laion-htsat-tiny"])
def test_the_log_mel_db_front_end_with_the_native_spectrogram_equals_torchs_on_real_audio(name: str) -> None:
    from openclap.audio.frontend import LogMel

    config = get_config(name).audio
    wave = _real_clips(2, config.sample_rate)
    front = LogMel(config)
    for reduced in (False, True):  # the STFT in stft_dtype (float64 for these), then float32 (bf16 runs)
        front.reduced_precision = reduced
        plain = front(wave)
        with kernels.fused():
            fused = front(wave)
        assert fused.shape == plain.shape and fused.dtype == plain.dtype
        # dB: float32's rounding of the mel power (one float32 step of a value, 4e-6 dB), more in
        # float32 STFTs' weak bins, as the module's own float32 STFT against float64
        tolerance = 2e-2 if reduced else 5e-5
        torch.testing.assert_close(fused, plain, rtol=0, atol=tolerance)


def test_packages_link_against_the_loaded_library_rebuilt_if_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = kernels.load()
    monkeypatch.setenv("OPENCLAP_CACHE_DIR", str(tmp_path / "another-cache"))  # changed after loading
    path.unlink()  # and the library's cache cleared
    with kernels.on_link_path():
        assert path.is_file()  # built again where it was loaded from, for the linker
        assert os.environ["LIBRARY_PATH"].split(os.pathsep)[0] == str(path.parent)
    assert not (tmp_path / "another-cache").exists()


def test_the_environment_turns_the_kernels_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernels.ENV, "0")
    assert not kernels.available()
    with pytest.raises(kernels.KernelUnavailable, match="OPENCLAP_NATIVE_KERNELS=0"):
        kernels.load()


def test_without_avx512_the_kernels_are_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    with pytest.raises(kernels.KernelUnavailable, match="need AVX-512; torch finds AVX2"):
        kernels.load()
    assert not kernels.available()


def test_an_unusable_cache_folder_leaves_the_kernels_off_and_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENCLAP_CACHE_DIR", "/etc/passwd/cache")  # under a file: no folder can be made
    monkeypatch.setattr(kernels, "_load", kernels._load.__wrapped__)  # not the module's loaded library
    with pytest.raises(kernels.KernelUnavailable, match="cannot create the kernels' cache folder /etc/"):
        kernels.load()
    assert not kernels.available()
    with pytest.raises(ValueError, match="compiled-package cache /etc/passwd/cache/compiled"):
        create_model(_tiny_htsat(), pretrained=False, text=False, compile=True)


def _tiny_htsat() -> ClapConfig:
    data = get_config("tiny-test").to_dict()
    data["name"] = "tiny-htsat-test"
    data["audio"].update(n_fft=512, n_mels=64)
    data["audio_encoder"] = {
        "type": "htsat",
        "params": {"embed_dim": 8, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 2, 4], "num_classes": 5},
    }
    return ClapConfig.from_dict(data)


def _calls_kernel(package: Path) -> bool:
    return package_calls(package, "aoti_torch_cpu_swin_window_attention")


def _seeded_pair() -> tuple[ClapModel, ClapModel]:
    """A tiny HTS-AT model in eager mode and the same weights compiled."""
    torch.manual_seed(0)
    eager = create_model(_tiny_htsat(), pretrained=False, text=False)
    for p in eager.audio_encoder.parameters():
        torch.nn.init.normal_(p, std=0.2)
    model = create_model(_tiny_htsat(), pretrained=False, text=False)
    model.load_state_dict(eager.state_dict())
    return eager, model.compile_towers()


def _later_process(weights: str) -> None:
    """A later run: it loads the package (rebuilding the library if it went) and gets eager's numbers."""
    from safetensors.torch import load_file

    before = {p: p.stat().st_size for p in compiled.cache_dir().glob("tiny-htsat-test-fp32-*.pt2")}
    eager = create_model(_tiny_htsat(), pretrained=False, text=False)
    eager.load_state_dict(load_file(weights))
    model = create_model(_tiny_htsat(), pretrained=False, text=False)
    model.load_state_dict(eager.state_dict())
    model.compile_towers()
    assert {p: p.stat().st_size for p in compiled.cache_dir().glob("tiny-htsat-test-fp32-*.pt2")} == before
    wave = 0.1 * torch.randn(2, eager.config.audio.clip_samples, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        torch.testing.assert_close(model.encode_audio(wave), eager.encode_audio(wave), rtol=0, atol=2e-5)
    assert kernels.library_path().is_file()
    print("later process: loaded, equal")


@pytest.mark.slow
def test_a_compiled_htsat_package_calls_the_kernel_and_equals_eager(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from safetensors.torch import save_file

    eager, model = _seeded_pair()
    (package,) = compiled.cache_dir().glob("tiny-htsat-test-fp32-*.pt2")
    assert package.name.endswith(f"-{compiled.package_key(model)}.pt2")  # building changed no part of the key
    assert _calls_kernel(package)  # linked to the library, called without a proxy executor
    g = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        for n in (3, 1):
            wave = 0.1 * torch.randn(n, eager.config.audio.clip_samples, generator=g)
            torch.testing.assert_close(model.encode_audio(wave), eager.encode_audio(wave), rtol=0, atol=2e-5)
    # a later process without the library in its cache (this one may have loaded it from another folder):
    # the library rebuilt, then the package loaded
    kernels.library_path().unlink(missing_ok=True)
    weights = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in eager.state_dict().items()}, str(weights))
    script = f"from tests.test_kernels import _later_process; _later_process({str(weights)!r})"
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "loaded, equal" in done.stdout, done.stderr[-3000:]
    with torch.inference_mode():
        model.set_precision("bf16").compile_towers()
        eager.set_precision("bf16")
        got, want = model.encode_audio(wave), eager.encode_audio(wave)
    (bf16,) = compiled.cache_dir().glob("tiny-htsat-test-bf16-*.pt2")
    assert _calls_kernel(bf16)  # bf16 autocast's linear output, float32 inside
    assert torch.nn.functional.cosine_similarity(got, want).min() > 0.999
    model.set_precision("fp32")
    traced = []

    def compile_nothing(program: torch.export.ExportedProgram, **_: object) -> None:
        traced.append(program)  # the program build_package would compile (the C++ build skipped)
        raise _Traced

    monkeypatch.setattr("torch._inductor.aoti_compile_and_package", compile_nothing)
    for off in (False, True):  # off: another package (its key says so), traced without the op
        if off:
            monkeypatch.setenv(kernels.ENV, "0")
        assert package.name.endswith(f"-{compiled.package_key(model)}.pt2") != off
        with pytest.raises(_Traced):
            compiled.build_package(model, tmp_path / "traced.pt2")
        assert kernels.uses_native_ops(traced[-1]) != off
    assert not (tmp_path / "traced.pt2").exists() and len(traced) == 2


class _Traced(Exception):
    """build_package's program reached the compile step (the kernels-off check stops there)."""


class _Attention(torch.nn.Module):  # the op alone, as a package's graph
    def __init__(self) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.randn(2, 16, 16))

    def forward(self, qkv: torch.Tensor) -> torch.Tensor:
        return torch.ops.openclap.swin_window_attention(qkv, self.bias, None, 2, 0.25)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")  # torch's own, from inside its export
def test_a_package_calling_the_op_through_a_proxy_executor_runs_through_torchs_loader(tmp_path: Path) -> None:
    from torch._inductor import aoti_compile_and_package

    kernels.load()
    module, qkv = _Attention().eval(), torch.randn(3, 16, 3 * 2 * 8)
    batch = torch.export.Dim("batch", min=1, max=64)
    with torch.inference_mode():
        program = torch.export.export(module, (qkv,), dynamic_shapes=({0: batch},))
        path = aoti_compile_and_package(program, package_path=str(tmp_path / "op.pt2"))  # no C shim
        with pytest.raises(ValueError, match="proxy executor"):
            compiled.NativePackage(Path(path))
        run = compiled.load_package(Path(path))
        torch.testing.assert_close(run(qkv), module(qkv), rtol=0, atol=1e-6)
