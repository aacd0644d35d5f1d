"""``create_model(..., compile=True)`` / ``ClapModel.compile_towers``: torch.compile of the audio path.

Real inductor compilation (a C++ compiler builds the kernels), on the tiny config and on YAMNet's tower
(the default model's architecture, random weights): embeddings equal eager's within float rounding, for
two batch sizes in a row (the batch dimension is compiled as dynamic) and in bf16.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openclap import create_model
from openclap.device import check_compiler
from openclap.inference import embed_audio_files
from tests.helpers import ESC50_AUDIO

pytestmark = pytest.mark.slow


def _waves(n: int, seconds: float, sr: int = 16000) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [0.1 * torch.randn(int(seconds * sr), generator=g) for _ in range(n)]


@pytest.mark.parametrize("name", ["tiny-test", "yamnet-minilm"])
def test_compiled_audio_path_equals_eager(name: str) -> None:
    torch.manual_seed(0)
    eager = create_model(name, pretrained=False, text=False)
    torch.manual_seed(0)
    compiled = create_model(name, pretrained=False, text=False, compile=True)
    assert compiled.compiled and not eager.compiled
    assert compiled.state_dict().keys() == eager.state_dict().keys()  # no _orig_mod. prefixes
    seconds = eager.config.audio.clip_seconds
    with torch.inference_mode():
        for n in (4, 3):  # a second batch size: the dynamic batch dimension, no error, same numbers
            batch = eager.prepare_waveforms(_waves(n, seconds))
            want, got = eager.encode_audio(batch), compiled.encode_audio(batch)
            torch.testing.assert_close(got, want, rtol=0, atol=2e-5)
        compiled.set_precision("bf16")
        got = compiled.encode_audio(batch)
    assert torch.nn.functional.cosine_similarity(got, want).min() > 0.999


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
