"""Run openclap on a parity case the way the reference was run, and compare with its outputs.

Shared by ``test_parity_models.py`` and ``benchmarks/parity_report.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from openclap.audio.fusion import fusion_mel, num_frames, prepare_fusion, quantize_int16
from openclap.model import ClapModel

FAMILY = {"msclap-2022": "msclap", "msclap-2023": "msclap", "laion-htsat-tiny-unfused": "laion",
          "laion-htsat-tiny-fusion": "laion", "hf-clap": "hf", "hf-clap-htsat-fused": "hf",
          "laion-htsat-base": "laion"}
EXACT = ("audio_input", "longer", "is_longer", "chunk_starts", "logit_scale", "logit_scale_exp",
         "logit_scale_a", "logit_scale_t")
NOT_REPRODUCED = {  # expected tensors that record a random draw openclap deliberately does not make
    "crop_starts": "HF's rand_trunc crop start: openclap crops deterministically (the test crops at the "
                   "recorded start to feed the same samples)",
}


def tolerance(case: str, name: str) -> tuple[float, float]:
    """(atol, rtol) of README §6 for ``name`` in ``case``; ``stored_*`` entries are 10x tighter."""
    if name.startswith("tokenized_"):
        return tolerance(case, name[len("tokenized_") :])
    if name.startswith("stored_"):
        atol, rtol = tolerance(case, name[len("stored_") :])
        return atol / 10, rtol / 10
    msclap = case.startswith("msclap")
    if name in EXACT:
        return 0.0, 0.0
    if name in ("logmel", "mel_fusion", "mel_full_clip2", "input_features"):
        return 2e-2, 0.0
    if name == "clipwise_output":
        return 1e-4, 1e-4
    if name in ("similarity", "logits_per_audio", "logits_per_text"):
        return 5e-5, 1e-5
    if name == "audio_pooled" or (msclap and name.startswith("audio_")):
        return 2e-4, 1e-4
    if name.startswith("audio_"):
        return 2e-5, 1e-4
    if msclap or name == "text_pooled":
        return (2e-5 if msclap else 1e-5), 1e-5
    return 2e-6, 1e-5


def write_published(case: str, state: dict[str, torch.Tensor], folder: Path) -> Path:
    """Save ``state`` in the case's published file format (README §2 table)."""
    family = FAMILY[case]
    if family == "msclap":
        path = folder / "CLAP_weights.pth"
        torch.save({"model": state}, path)
    elif family == "laion":
        path = folder / "630k-best.pt"
        torch.save({"epoch": 45, "state_dict": {"module." + k: v for k, v in state.items()}}, path)
    else:
        path = folder / "model.safetensors"
        save_file({k: v.clone() for k, v in state.items()}, str(path))  # HF shares index buffers
    return path


def _tokens(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: inputs[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in inputs}


@torch.no_grad()
def run_case(model: ClapModel, case: str, inputs: dict[str, torch.Tensor],
             expected: dict[str, torch.Tensor], texts: list[str] | None = None) -> dict[str, torch.Tensor]:
    """openclap's value for every tensor the reference recorded (and ``stored_*``: audio outputs of the
    encoder fed the reference's own network input; ``tokenized_text_embeds``: msclap-2022's texts
    tokenised by openclap, whose bert-base-uncased ids are real)."""
    clips = originals = [inputs[k] for k in sorted(k for k in inputs if k.startswith("clip"))]
    cfg = model.config.audio
    encoder = model.audio_encoder
    out: dict[str, torch.Tensor] = {}
    longer = stored_mel = None
    if model.config.audio_encoder.params.get("fusion", False):
        batch = prepare_fusion(clips, cfg, rng=np.random.RandomState(4242))  # LAION's / HF's seeded draws
        mel, longer = fusion_mel(model.frontend, batch, num_frames(cfg.clip_samples, cfg.hop_length),
                                 antialias=cfg.fusion_shrink == "antialias")
        out.update(chunk_starts=batch.chunk_starts, longer=longer, is_longer=longer,
                   mel_fusion=mel.transpose(2, 3))
        if case == "laion-htsat-tiny-fusion":
            out["mel_full_clip2"] = model.frontend(quantize_int16(clips[2])[None])[0].T
            stored_mel = expected["mel_fusion"].transpose(2, 3)
    else:
        if case == "hf-clap":  # feed the samples of HF's recorded random crop
            starts = expected["crop_starts"].tolist()
            clips = [c[s : s + cfg.clip_samples] if s >= 0 else c for c, s in zip(clips, starts, strict=True)]
            out["is_longer"] = torch.tensor([c.shape[0] > cfg.clip_samples for c in originals])
        wave = model.prepare_waveforms(clips)
        assert isinstance(wave, torch.Tensor)
        mel = model.frontend(wave)
        key = "input_features" if case == "hf-clap" else "logmel"
        out[key] = mel.transpose(1, 2).unsqueeze(1)
        stored_mel = expected[key][:, 0].transpose(1, 2) if key in expected else None
        if case != "hf-clap":
            out["audio_input"] = wave
        if case.startswith("laion"):
            out["longer"] = torch.tensor([c.shape[0] > cfg.clip_samples for c in clips])
    features = encoder.forward_features(mel, longer) if hasattr(encoder, "forward_features") else None
    out["audio_pooled"] = features["embedding"] if features else encoder(mel)
    if "clipwise_output" in expected:
        out["clipwise_output"] = features["clipwise_output"] if features else encoder.clipwise(mel)
    out["audio_proj"] = model.audio_projection(out["audio_pooled"])
    if stored_mel is not None:  # the reference's own network input, when the case stores it
        stored = encoder.forward_features(stored_mel, longer) if features else None
        out["stored_audio_pooled"] = stored["embedding"] if stored else encoder(stored_mel)
        if "clipwise_output" in expected:
            clipwise = stored["clipwise_output"] if stored else encoder.clipwise(stored_mel)
            out["stored_clipwise_output"] = clipwise
        out["stored_audio_proj"] = model.audio_projection(out["stored_audio_pooled"])
    out["text_pooled"] = model.text_features(_tokens(inputs))
    out["text_proj"] = model.text_projection(out["text_pooled"])
    if case == "msclap-2022" and texts is not None:
        out["tokenized_text_embeds"] = model.encode_text(texts, normalize=False)
    if case.startswith("msclap"):
        out["audio_embeds"], out["text_embeds"] = out["audio_proj"], out["text_proj"]  # not normalised
        out["logit_scale"] = model.logit_scale.detach().clone()
        out["logit_scale_exp"] = model.logit_scale.exp()
        out["similarity"] = model.similarity(out["audio_proj"], out["text_proj"])
        return out
    audio, text = F.normalize(out["audio_proj"], dim=-1), F.normalize(out["text_proj"], dim=-1)
    out["audio_embeds"], out["text_embeds"] = audio, text
    if "stored_audio_proj" in out:
        out["stored_audio_embeds"] = F.normalize(out["stored_audio_proj"], dim=-1)
    out["logit_scale_a"] = model.logit_scale.detach().clone()
    out["logit_scale_t"] = model.logit_scale_t.detach().clone()
    if case != "hf-clap":
        out["similarity"] = audio @ text.T
    out["logits_per_audio"] = model.logit_scale.exp() * audio @ text.T
    if FAMILY[case] == "hf":
        out["logits_per_text"] = model.logit_scale_t.exp() * text @ audio.T
    return out


def compare(case: str, got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]
            ) -> dict[str, tuple[float, bool]]:
    """``{tensor: (max |diff|, within tolerance)}`` for every expected tensor (and ``stored_*``)."""
    result: dict[str, tuple[float, bool]] = {}
    for name in sorted(set(expected) | {k for k in got if k.startswith(("stored_", "tokenized_"))}):
        if name in NOT_REPRODUCED:
            continue
        want = expected[re.sub(r"^(stored|tokenized)_", "", name)]
        have = got[name]
        assert have.shape == want.shape, f"{case} {name}: shape {tuple(have.shape)} vs {tuple(want.shape)}"
        diff = float((have.double() - want.double()).abs().max()) if want.numel() else 0.0
        atol, rtol = tolerance(case, name)
        ok = bool(torch.all((have.double() - want.double()).abs() <= atol + rtol * want.double().abs()))
        result[name] = (diff, ok)
    return result
