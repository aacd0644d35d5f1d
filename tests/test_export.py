"""ONNX export of the tiny model: onnxruntime embeddings equal eager ones; dynamic batch and length; int8."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from openclap import ClapModel, embed_audio, embed_texts
from openclap.cli import main
from openclap.export import OnnxClap
from openclap.export.towers import MatmulLogMel

pytest.importorskip("onnxruntime")

TEXTS = ["a dog", "rain falling on a tin roof in the night", "x"]


def _waves(lengths: tuple[int, ...]) -> list[np.ndarray]:
    return [
        np.random.default_rng(i).standard_normal(n).astype(np.float32) * 0.1 for i, n in enumerate(lengths)
    ]


@pytest.fixture(scope="module")
def exported(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny"
    assert main(["export", "onnx", str(tiny_checkpoint), "--out", str(out)]) == 0
    return out


def test_matmul_log_mel_equals_the_stft_front_end(tiny_model: ClapModel) -> None:
    wave = torch.from_numpy(np.stack(_waves((12345, 12345))))
    torch.testing.assert_close(
        MatmulLogMel(tiny_model.frontend)(wave), tiny_model.frontend(wave), rtol=0, atol=1e-4
    )


def test_onnx_equals_eager(exported: Path, tiny_model: ClapModel) -> None:
    manifest = json.loads((exported / "openclap-onnx.json").read_text())
    assert manifest["audio"]["inputs"][0]["shape"] == ["batch", "samples"]
    assert [i["name"] for i in manifest["text"]["inputs"]] == [
        "input_ids",
        "attention_mask",
        "token_type_ids",
    ]
    assert (exported / "tokenizer").is_dir() and manifest["embedding_dim"] == 16
    onnx = OnnxClap(exported, threads=1)
    waves = _waves((16000, 9000, 23000))  # fitted to 1 s: exact, padded, cropped
    eager = embed_audio(tiny_model, waves, 16000, long_audio="crop")
    np.testing.assert_allclose(onnx.embed_audio(waves), eager, rtol=0, atol=2e-6)
    np.testing.assert_allclose(onnx.embed_texts(TEXTS), embed_texts(tiny_model, TEXTS), rtol=0, atol=2e-6)
    for batch, samples in ((1, 16000), (4, 24000)):  # dynamic batch and length of the CNN graph
        wave = np.stack(_waves((samples,) * batch))
        with torch.inference_mode():
            direct = tiny_model.encode_audio(torch.from_numpy(wave)).numpy()
        np.testing.assert_allclose(onnx.audio.run(None, {"wave": wave})[0], direct, rtol=0, atol=2e-6)


def test_int8_stays_close(exported: Path, tiny_model: ClapModel) -> None:
    onnx = OnnxClap(exported, int8=True, threads=1)
    waves = _waves((16000, 16000))
    eager = embed_audio(tiny_model, waves, 16000)
    cosine = (onnx.embed_audio(waves) * eager).sum(axis=1)
    assert cosine.min() > 0.99 and not np.allclose(onnx.embed_audio(waves), eager, atol=1e-6)
    assert ((onnx.embed_texts(TEXTS) * embed_texts(tiny_model, TEXTS)).sum(axis=1)).min() > 0.99


def test_export_refuses_a_foreign_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    torch.manual_seed(0)
    assert main(["export", "onnx", "tiny-test", "--out", str(tmp_path), "--no-int8"]) == 2
    assert "is not an openclap ONNX export; choose an empty folder" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    with pytest.raises(FileNotFoundError, match="not an openclap ONNX export"):
        OnnxClap(tmp_path)
    with pytest.raises(SystemExit):
        main(["export", "onnx", "tiny-test"])  # --out is required


def test_yamnet_tower_exports_for_its_clip_length(tmp_path: Path) -> None:
    """The default model's family: YAMNet's front end as matrix products and the MobileNet, fixed length."""
    import dataclasses

    from openclap.export.onnx import export_onnx
    from openclap.export.towers import MatmulYamnetLogMel
    from openclap.registry import get_config

    config = get_config("openclap-yamnet")
    config = config.replace(
        audio=dataclasses.replace(config.audio, clip_seconds=1.5),
        text_encoder=get_config("tiny-test").text_encoder,
        projection=dataclasses.replace(config.projection, dim=16),
    )
    torch.manual_seed(0)
    model = ClapModel(config).eval()
    wave = torch.from_numpy(np.stack(_waves((24000, 24000))))
    matmul = MatmulYamnetLogMel(model.frontend)(wave)
    torch.testing.assert_close(matmul, model.frontend(wave), rtol=0, atol=1e-4)
    with torch.no_grad():  # features whose dimensions differ in scale, which the first linear undoes, as in
        scale = torch.logspace(-2, 2, 1024)  # the shipped model (yamnet_heads.py folds 1 / RMS into it)
        last = model.audio_encoder.layers[-1].pointwise_bn
        last.weight.mul_(scale), last.bias.mul_(scale)  # a positive scale commutes with the ReLU after it
        model.audio_projection.linear1.weight.div_(scale[None, :])
    out = export_onnx(model, tmp_path / "yamnet", int8=True)
    manifest = json.loads((out / "openclap-onnx.json").read_text())
    assert manifest["audio"]["inputs"][0]["shape"] == ["batch", 24000]
    onnx = OnnxClap(out, threads=1)
    waves = _waves((24000, 9000, 40000))  # fitted to 1.5 s by repeat-padding and centre-cropping
    eager = embed_audio(model, waves, 16000, long_audio="crop")
    np.testing.assert_allclose(onnx.embed_audio(waves), eager, rtol=0, atol=2e-6)
    int8 = OnnxClap(out, threads=1, int8=True).embed_audio(waves)
    assert (int8 * eager).sum(axis=1).min() > 0.999  # that linear stays float (per-tensor int8: cosine 0.56)
