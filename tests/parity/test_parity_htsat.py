"""HTS-AT and the LAION fusion front end against the references, fed the stored network inputs.

Fed the reference's own log-mel, the encoder reproduces ``audio_pooled`` / ``clipwise_output`` within
tolerances 10x tighter than README §6 (in practice bit for bit, or ~1e-6 with fusion).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openclap.audio.encoders.htsat import HTSAT
from openclap.audio.frontend import LogMel
from openclap.audio.fusion import fusion_mel, prepare_fusion, quantize_int16
from openclap.registry import get_config

DERIVED = ("attn_mask", "relative_position_index", "spectrogram_extractor.", "logmel_extractor.")
CASES = {  # case -> (encoder prefix, fusion, stored network input)
    "msclap-2023": ("audio_encoder.base.htsat.", False, "logmel"),
    "laion-htsat-tiny-unfused": ("audio_branch.", False, "logmel"),
    "laion-htsat-tiny-fusion": ("audio_branch.", True, "mel_fusion"),
}


def encoder_state(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    sub = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
    return {k: v for k, v in sub.items() if not any(d in k for d in DERIVED)}


@pytest.mark.parametrize("name", list(CASES))
def test_htsat_matches_reference_on_stored_mel(get_case, name: str) -> None:  # type: ignore[no-untyped-def]
    case = get_case(name)
    prefix, fusion, key = CASES[name]
    encoder = HTSAT(fusion=fusion).eval()
    encoder.load_state_dict(encoder_state(case.state, prefix), strict=True)
    # The derived buffers equal the ones the references stored.
    for name_, buf in encoder.named_buffers():
        stored = case.state.get(prefix + name_)
        if name_.endswith(("attn_mask", "relative_position_index")):
            assert stored is not None and torch.equal(buf, stored), name_
    mel = case.expected[key].transpose(2, 3)  # [B, C, n_mels, T]
    with torch.no_grad():
        out = encoder.forward_features(mel, case.expected.get("longer"))
    torch.testing.assert_close(out["embedding"], case.expected["audio_pooled"], atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(out["clipwise_output"], case.expected["clipwise_output"], atol=1e-5, rtol=1e-5)


def test_fusion_frontend_matches_laion(get_case) -> None:  # type: ignore[no-untyped-def]
    case = get_case("laion-htsat-tiny-fusion")
    cfg = get_config("laion-htsat-tiny-fusion").audio  # torchaudio HTK mel, float32 STFT, quantised
    assert (cfg.mel_scale, cfg.mel_norm, cfg.stft_dtype, cfg.pad) == ("htk", None, "float32", "repeatpad")
    frontend = LogMel(cfg)
    batch = prepare_fusion(case.clips(), cfg, rng=np.random.RandomState(4242))
    assert torch.equal(batch.chunk_starts, case.expected["chunk_starts"])
    assert torch.equal(batch.longer, case.expected["longer"])
    mel, longer = fusion_mel(frontend, batch, 1001)
    assert torch.equal(longer, case.expected["longer"])
    torch.testing.assert_close(mel, case.expected["mel_fusion"].transpose(2, 3), atol=2e-2, rtol=0)
    full = frontend(quantize_int16(case.inputs["clip2"])[None])[0]
    torch.testing.assert_close(full, case.expected["mel_full_clip2"].T, atol=2e-2, rtol=0)
