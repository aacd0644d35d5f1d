"""ClapModel: shapes, normalisation, determinism, batch independence, text edge cases, pooling, heads."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from openclap import ClapModel, create_model
from openclap.config import ProjectionConfig, TextEncoderConfig
from openclap.layers import MsclapProjection, build_projection
from openclap.registry import get_config
from openclap.text.tower import TextEncoder
from tests.helpers import noise

TEXTS = ["a dog barks", "rain falls on a tin roof while thunder rolls far away", "siren"]


@pytest.fixture(scope="module")
def small_model() -> ClapModel:
    """openclap-small: the pretrained MiniLM text tower and a freshly initialised small CNN."""
    torch.manual_seed(0)
    return create_model("openclap-small", pretrained=False)


@pytest.fixture(params=["tiny-test", "openclap-small"])
def model(request: pytest.FixtureRequest, tiny_model: ClapModel, small_model: ClapModel) -> ClapModel:
    return tiny_model if request.param == "tiny-test" else small_model


def _waves(model: ClapModel, count: int, seed: int = 0) -> torch.Tensor:
    n = model.config.audio.clip_samples
    return torch.from_numpy(noise(n, seed=seed, amplitude=0.1, channels=count))


def test_created_model_matches_its_config(model: ClapModel) -> None:
    cfg = model.config
    assert not model.training
    assert model.frontend.config == cfg.audio
    assert model.logit_scale.item() == pytest.approx(cfg.logit_scale_init)
    assert model.logit_scale.exp().item() == pytest.approx(1 / 0.07, rel=1e-6)
    assert model.audio_encoder.out_dim == cfg.audio_encoder.params["embed_dim"]


def test_encode_audio_shapes_and_unit_norm(model: ClapModel) -> None:
    with torch.inference_mode():
        emb = model.encode_audio(_waves(model, 3))
        raw = model.encode_audio(_waves(model, 3), normalize=False)
    dim = model.config.projection.dim
    assert emb.shape == (3, dim) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(emb, F.normalize(raw, dim=-1))
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(3))  # normalize=False really skips it


def test_encode_text_shapes_and_unit_norm(model: ClapModel) -> None:
    with torch.inference_mode():
        emb = model.encode_text(TEXTS)
    assert emb.shape == (3, model.config.projection.dim)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    assert not torch.allclose(emb[0], emb[1])


def test_forward_and_similarity(tiny_model: ClapModel) -> None:
    waves = _waves(tiny_model, 2)
    tokens = tiny_model.tokenize(TEXTS)
    with torch.inference_mode():
        out = tiny_model(waves, tokens)
        audio, text = tiny_model.encode_audio(waves), tiny_model.encode_text(TEXTS)
    assert set(out) == {"audio_emb", "text_emb", "logit_scale"}
    torch.testing.assert_close(out["audio_emb"], audio)
    torch.testing.assert_close(out["text_emb"], text)
    sim = tiny_model.similarity(audio * 3.0, text)  # re-normalised inside
    torch.testing.assert_close(sim, (1 / 0.07) * audio @ text.T, rtol=1e-5, atol=1e-5)


def test_same_input_twice_gives_identical_embeddings(model: ClapModel) -> None:
    waves = _waves(model, 2, seed=5)
    with torch.inference_mode():
        assert torch.equal(model.encode_audio(waves), model.encode_audio(waves.clone()))
        assert torch.equal(model.encode_text(TEXTS), model.encode_text(list(TEXTS)))


def test_audio_embedding_does_not_depend_on_the_batch(model: ClapModel) -> None:
    waves = _waves(model, 5, seed=9)
    with torch.inference_mode():
        together = model.encode_audio(waves)
        alone = torch.cat([model.encode_audio(waves[i : i + 1]) for i in range(5)])
        reordered = model.encode_audio(waves.flip(0)).flip(0)
    torch.testing.assert_close(alone, together, rtol=0, atol=1e-6)
    torch.testing.assert_close(reordered, together, rtol=0, atol=1e-6)


def test_text_embedding_does_not_depend_on_padding(model: ClapModel) -> None:
    with torch.inference_mode():
        together = model.encode_text(TEXTS)  # the short texts are padded to the longest
        alone = torch.cat([model.encode_text([t]) for t in TEXTS])
    torch.testing.assert_close(alone, together, rtol=0, atol=1e-5)


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_empty_text_is_a_clear_error(tiny_model: ClapModel, bad: str) -> None:
    with pytest.raises(ValueError, match=r"text #1 is empty"):
        tiny_model.encode_text(["a dog", bad])


def test_single_string_is_refused(tiny_model: ClapModel) -> None:
    with pytest.raises(TypeError, match="list of strings"):
        tiny_model.encode_text("a dog")


def test_huge_text_is_truncated(model: ClapModel) -> None:
    max_length = model.config.text_encoder.max_length
    huge = " ".join(["dog"] * 25000)  # ~100k characters
    assert len(huge) > 99_000
    tokens = model.tokenize([huge])
    assert tokens["input_ids"].shape == (1, max_length)
    with torch.inference_mode():
        emb = model.encode_text([huge])
        # [CLS] dog ... dog [SEP]: the same tokens as a text of max_length - 2 words
        same = model.encode_text([" ".join(["dog"] * (max_length - 2))])
    assert torch.isfinite(emb).all()
    torch.testing.assert_close(emb, same, rtol=0, atol=1e-6)


def test_dropout_only_acts_in_training_mode() -> None:
    torch.manual_seed(1)
    model = create_model("tiny-test")
    waves = _waves(model, 2)
    with torch.no_grad():
        model.train()
        a, b = model.encode_audio(waves), model.encode_audio(waves)
        model.eval()
        c, d = model.encode_audio(waves), model.encode_audio(waves)
    assert not torch.equal(a, b)
    assert torch.equal(c, d)


# ----- text tower pooling --------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["cls", "last", "pooler", "mean"])
def test_text_pooling(tiny_model: ClapModel, pooling: str) -> None:
    cfg = TextEncoderConfig(**{**tiny_model.config.text_encoder.__dict__, "pooling": pooling})
    tower = TextEncoder(cfg).eval()
    tower.load_state_dict(tiny_model.text_encoder.state_dict())
    tokens = tiny_model.tokenize(TEXTS)
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    with torch.no_grad():
        out = tower.model(input_ids=ids, attention_mask=mask, token_type_ids=tokens.get("token_type_ids"))
        pooled = tower(ids, mask, tokens.get("token_type_ids"))
    hidden = out.last_hidden_state
    lengths = mask.sum(dim=1)
    expected = {
        "cls": hidden[:, 0],
        "last": torch.stack([hidden[i, lengths[i] - 1] for i in range(len(TEXTS))]),
        "pooler": out.pooler_output,
        "mean": torch.stack([hidden[i, : lengths[i]].mean(dim=0) for i in range(len(TEXTS))]),
    }[pooling]
    assert pooled.shape == (3, tower.out_dim)
    torch.testing.assert_close(pooled, expected, rtol=1e-5, atol=1e-6)


# ----- projection heads ----------------------------------------------------------------------------


def test_msclap_projection_formula() -> None:
    torch.manual_seed(0)
    head = MsclapProjection(6, 4).eval()
    x = torch.randn(3, 6)
    e1 = x @ head.linear1.weight.T
    e2 = F.gelu(e1) @ head.linear2.weight.T
    expected = F.layer_norm(e1 + e2, (4,), head.layer_norm.weight, head.layer_norm.bias)
    torch.testing.assert_close(head(x), expected)
    assert head.linear1.bias is None and head.linear2.bias is None


def test_projection_styles_have_the_published_key_layouts() -> None:
    keys = {
        style: sorted(build_projection(ProjectionConfig(style=style, dim=4), 6).state_dict())
        for style in ("msclap", "laion", "linear")
    }
    assert keys["msclap"] == ["layer_norm.bias", "layer_norm.weight", "linear1.weight", "linear2.weight"]
    assert keys["laion"] == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert keys["linear"] == ["bias", "weight"]
    laion = build_projection(ProjectionConfig(style="laion", dim=4), 6)
    x = torch.randn(2, 6)
    torch.testing.assert_close(laion(x), laion[2](torch.relu(laion[0](x))))


def test_separate_logit_scales() -> None:
    cfg = get_config("tiny-test").replace(separate_logit_scales=True)
    model = ClapModel(cfg)
    out = model(_waves(model, 1), model.tokenize(["a"]))
    assert "logit_scale_t" in out
    assert out["logit_scale_t"].item() == pytest.approx(math.log(1 / 0.07))


def test_shipped_default_model_loads_its_trained_weights() -> None:
    from openclap.factory import bundled_weights, has_trained_weights
    from openclap.registry import DEFAULT_MODEL

    weights = bundled_weights(DEFAULT_MODEL)
    assert weights is not None and weights.stat().st_size <= 30e6  # shipped audio weights <= 30 MB
    assert bundled_weights("openclap-small") is None and not has_trained_weights("openclap-small")
    shipped = create_model()
    assert shipped.config == get_config(DEFAULT_MODEL)
    assert shipped.logit_scale.item() != pytest.approx(shipped.config.logit_scale_init)
    fresh = ClapModel(get_config(DEFAULT_MODEL), load_text_weights=False)
    init, trained = fresh.state_dict(), shipped.state_dict()
    for part in ("audio_encoder.", "audio_projection.", "text_projection."):
        keys = [k for k in init if k.startswith(part) and init[k].is_floating_point()]
        assert keys and any(not torch.equal(init[k], trained[k]) for k in keys), part


def test_large_cpu_batches_run_in_chunks_with_the_same_outputs(
    tiny_model: ClapModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openclap.model as model_module

    monkeypatch.setattr(model_module, "CPU_CHUNK", 2)  # the tiny encoder sets no cpu_chunk of its own
    assert tiny_model.cpu_chunk() == 2
    sizes: list[int] = []
    forward = tiny_model.audio_encoder.forward
    monkeypatch.setattr(
        tiny_model.audio_encoder, "forward", lambda mel, *a: sizes.append(mel.shape[0]) or forward(mel, *a)
    )
    waves = _waves(tiny_model, 5)
    with torch.inference_mode():
        chunked = tiny_model.encode_audio(waves)
        assert sizes == [2, 2, 1]
        whole = torch.cat([tiny_model.encode_audio(w[None]) for w in waves])
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=0)
    sizes.clear()
    tiny_model.encode_audio(waves)  # with gradients (training): one pass
    assert sizes == [5]
    sizes.clear()
    monkeypatch.setattr(tiny_model.audio_encoder, "cpu_chunk", {"fp32": 3}, raising=False)
    with torch.inference_mode():
        torch.testing.assert_close(tiny_model.encode_audio(waves), whole, atol=1e-6, rtol=0)
    assert sizes == [3, 2]  # the encoder's own size for the precision wins


@pytest.mark.parametrize(
    ("encoder", "fp32", "bf16"), [("htsat", 4, 4), ("cnn14", 16, 16), ("yamnet", 8, 16), ("small", 16, 16)]
)
def test_cpu_chunk_is_the_encoders_by_precision(encoder: str, fp32: int, bf16: int) -> None:
    """Each architecture's measured chunk (docs/speed.md), looked up by the model's precision (on two
    intra-op threads, as the suite runs)."""
    name = {"htsat": "msclap-2023", "cnn14": "msclap-2022", "yamnet": "openclap-yamnet", "small": "tiny-test"}
    config = get_config(name[encoder])
    assert config.audio_encoder.type == encoder
    model = ClapModel(config, load_text_weights=False, text=False)
    assert torch.get_num_threads() == 2  # tests/conftest.py; a test that changes it puts it back
    assert model.cpu_chunk() == fp32
    assert model.set_precision("bf16").cpu_chunk() == bf16


def test_cpu_chunk_of_a_compiled_package_on_one_thread_is_the_encoders_own_where_it_gives_one() -> None:
    """Batches side by side run on one intra-op thread each: the default model's compiled package takes a
    smaller chunk there (its maps then fit the shared cache twice over); eager and the others keep theirs."""
    threads = torch.get_num_threads()
    yamnet = ClapModel(get_config("openclap-yamnet"), load_text_weights=False, text=False)
    cnn14 = ClapModel(get_config("msclap-2022"), load_text_weights=False, text=False)
    try:
        torch.set_num_threads(1)
        assert yamnet.cpu_chunk() == 8 and cnn14.cpu_chunk() == 16  # eager
        for model in (yamnet, cnn14):  # a package in place for both precisions (compile_towers' table)
            model._compiled_audio.update(fp32=lambda wave: wave, bf16=lambda wave: wave)
        assert yamnet.cpu_chunk() == 4 and yamnet.set_precision("bf16").cpu_chunk() == 4
        assert cnn14.cpu_chunk() == 16
        torch.set_num_threads(2)
        assert yamnet.cpu_chunk() == 16 and yamnet.set_precision("fp32").cpu_chunk() == 8
    finally:
        torch.set_num_threads(threads)


def test_audio_versions_see_in_place_changes_replaced_tensors_and_replaced_modules() -> None:
    """What tells a compiled package's weights from the model's (``ClapModel._audio_package``)."""
    model = create_model("tiny-test", pretrained=False, text=False)
    before = model._audio_versions()
    assert model._audio_versions() == before
    count = sum(1 for m in (model.frontend, model.audio_encoder, model.audio_projection)
                for _ in itertools.chain(m.parameters(), m.buffers()))
    assert len(before) == count  # every parameter and buffer of the audio side
    with torch.no_grad():
        next(model.audio_projection.parameters()).add_(1.0)
    changed = model._audio_versions()
    assert changed != before
    linear = next(m for m in model.audio_projection.modules() if isinstance(m, torch.nn.Linear))
    linear.weight = torch.nn.Parameter(linear.weight.detach().clone())
    replaced = model._audio_versions()
    assert replaced != changed
    name, child = next(iter(model.audio_encoder.named_children()))
    setattr(model.audio_encoder, name, copy.deepcopy(child))
    assert model._audio_versions() != replaced
