"""Reference vectors for the two published families that ``../shared/parity`` lacks, made by the
reference code itself on seeded weights: ``tests/parity/fixtures/<case>/``.

- ``hf-clap-htsat-fused``: transformers' ``ClapModel(ClapConfig(audio_config={"enable_fusion": True}))``
  and ``ClapFeatureExtractor(frequency_min=50, truncation="fusion", padding="repeatpad")`` (the
  ``laion/clap-htsat-fused`` preprocessor settings), run in the project venv, whose transformers is the
  reference here (it is a dependency of openclap anyway).
- ``laion-htsat-base`` (LAION-CLAP's music / speech checkpoints): laion_clap 1.1.7's
  ``CLAP_Module(enable_fusion=False, amodel="HTSAT-base")``, ``load_ckpt`` of a file in the published
  layout, ``get_audio_embedding_from_data`` and ``get_text_embedding``, run in a benchmark-only venv
  (laion_clap is never an openclap dependency)::

      /root/.pyenv/versions/3.11.7/bin/python3.11 -m venv /work/benchenv-h20
      .venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" \\
          > /work/benchenv-h20/lib/python3.11/site-packages/zz_project_venv.pth   # torch, numpy, librosa
      /work/benchenv-h20/bin/pip install --no-deps laion_clap==1.1.7 torchlibrosa==0.1.0 \\
          transformers==4.57.6 tokenizers==0.22.1 "huggingface_hub<1.0"
      /work/benchenv-h20/bin/python benchmarks/parity_fixtures.py laion-htsat-base

  laion_clap imports modules that the unfused inference path never calls (torchvision, torchaudio, h5py,
  wget, ftfy, pandas, horovod): they are stubbed with modules that raise on any use. Its constructor
  downloads roberta-base; offline, ``RobertaModel.from_pretrained("roberta-base")`` builds the roberta-base
  architecture (shared README §5) instead (every weight is then replaced by ``load_ckpt``, strictly),
  and the tokenizers it makes at import are never used (the stored token ids are fed).

Weights follow the shared rule (``../shared/parity/README.md`` §2, ``tests/parity/rule.py``): every
trainable parameter and BatchNorm running statistic is ``value(key, shape)`` of its own published key,
so only the key list is stored (``keys.json`` with each tensor's sha256). Every other tensor (STFT
kernels and mel filters, which torchlibrosa keeps as frozen parameters, Swin masks and indices, position
ids) is a value of the freshly built reference model; each is bit-identical to a tensor of a shared case
and is stored as a pointer to it (``same_as``). Inputs are the shared cases' clips and token ids
(``inputs.json`` names the source). Only small outputs are stored (embeddings, pooled features,
projections, logits, flags; no spectrograms).

Usage: .venv/bin/python benchmarks/parity_fixtures.py hf-clap-htsat-fused
       /work/benchenv-h20/bin/python benchmarks/parity_fixtures.py laion-htsat-base
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "parity"))  # the shared weight rule

from rule import parity_dir, state_dict, tensor_sha256, value  # noqa: E402

OUT = ROOT / "tests" / "parity" / "fixtures"
SOURCES = {"hf-clap-htsat-fused": "hf-clap", "laion-htsat-base": "laion-htsat-tiny-unfused"}


def _seeded(model: torch.nn.Module, prefix: str = "") -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """The published state dict with the rule's values, and its ``keys.json`` entries."""
    params = {prefix + n for n, p in model.named_parameters() if p.requires_grad}  # not torchlibrosa's STFT
    shared = {}
    for case in sorted(set(SOURCES.values())):  # buffers are pointers to bit-identical shared tensors
        for key, tensor in state_dict(parity_dir() / case).items():
            shared.setdefault(tensor_sha256(tensor), (case, key))
    sd, entries = {}, []
    for name, tensor in model.state_dict().items():
        name = prefix + name
        seeded = name in params or name.endswith(("running_mean", "running_var"))
        v = value(name, tuple(tensor.shape)) if seeded else tensor.detach().clone()
        entry = {"name": name, "shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch."),
                 "kind": "seeded" if seeded else "buffer", "sha256": tensor_sha256(v)}
        if not seeded:
            if entry["sha256"] not in shared:
                raise SystemExit(f"buffer {name} has no bit-identical tensor in the shared cases")
            entry["same_as"] = list(shared[entry["sha256"]])
        sd[name] = v.contiguous()
        entries.append(entry)
    return sd, entries


def _write(case: str, entries: list[dict[str, Any]], expected: dict[str, torch.Tensor], info: dict) -> None:
    folder = OUT / case
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keys.json").write_text(json.dumps(entries, separators=(",", ":")) + "\n")
    save_file({k: v.contiguous() for k, v in expected.items()}, str(folder / "expected.safetensors"))
    (folder / "inputs.json").write_text(json.dumps(info, indent=1) + "\n")
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"wrote {folder} ({size / 1e3:.0f} kB): {', '.join(sorted(expected))}")


def _inputs(case: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    src = parity_dir() / SOURCES[case]
    texts = json.loads((src / "inputs.json").read_text())["texts"]
    return load_file(str(src / "inputs.safetensors")), texts


@torch.no_grad()
def hf_fused() -> None:
    import transformers
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    case = "hf-clap-htsat-fused"
    inputs, texts = _inputs(case)
    torch.manual_seed(0)
    model = ClapModel(ClapConfig(audio_config={"enable_fusion": True})).eval()
    sd, entries = _seeded(model)
    model.load_state_dict(sd, strict=True)
    clips = [inputs[k].numpy() for k in ("clip0", "clip1", "clip2")]
    extractor = ClapFeatureExtractor(frequency_min=50, truncation="fusion", padding="repeatpad")
    np.random.seed(4242)
    feats = extractor(clips, sampling_rate=48000, return_tensors="pt")
    tokens = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    audio = model.audio_model(input_features=feats["input_features"], is_longer=feats["is_longer"])
    text = model.text_model(**tokens)
    out = model(**tokens, input_features=feats["input_features"], is_longer=feats["is_longer"])
    expected = {
        "is_longer": feats["is_longer"].reshape(-1).bool(),
        "audio_pooled": audio.pooler_output,
        "audio_proj": model.audio_projection(audio.pooler_output),
        "audio_embeds": out.audio_embeds,
        "text_pooled": text.pooler_output,
        "text_proj": model.text_projection(text.pooler_output),
        "text_embeds": out.text_embeds,
        "logit_scale_a": model.logit_scale_a.detach().clone(),
        "logit_scale_t": model.logit_scale_t.detach().clone(),
        "logits_per_audio": out.logits_per_audio,
        "logits_per_text": out.logits_per_text,
    }
    info = {"inputs": f"../shared/parity/{SOURCES[case]}/inputs.safetensors", "texts": texts,
            "reference": f"transformers {transformers.__version__} ClapModel(ClapConfig(audio_config="
                         "{'enable_fusion': True})), load_state_dict(strict=True)",
            "reference_audio_call": "np.random.seed(4242); ClapFeatureExtractor(frequency_min=50, "
                                    "truncation='fusion', padding='repeatpad')([clip0, clip1, clip2], "
                                    "sampling_rate=48000, return_tensors='pt')",
            "torch": torch.__version__, "numpy": np.__version__}
    _write(case, entries, expected, info)


class _Absent(types.ModuleType):
    """A module laion_clap imports but the unfused inference path never uses: any use raises."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def unused(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"{self.__name__}.{name} is stubbed out in this benchmark environment")

        return type(name, (), {"__init__": unused, "__call__": unused})


def _stub(*names: str) -> None:
    for name in names:
        sys.modules.setdefault(name, _Absent(name))


@torch.no_grad()
def laion_base() -> None:
    import transformers
    from transformers import BartTokenizer, BertTokenizer, RobertaConfig, RobertaModel, RobertaTokenizer

    _stub("torchvision", "torchvision.ops", "torchvision.ops.misc", "torchvision.datasets",
          "torchvision.transforms", "torchaudio", "torchaudio.transforms", "h5py", "wget", "ftfy", "pandas")

    from laion_offline import ROBERTA_BASE  # roberta-base's config.json

    RobertaModel.from_pretrained = classmethod(lambda cls, name, **kw: cls(RobertaConfig(**ROBERTA_BASE)))
    for tokenizer in (BertTokenizer, RobertaTokenizer, BartTokenizer):  # made at import, never used here
        tokenizer.from_pretrained = classmethod(lambda cls, name, **kw: None)
    import laion_clap

    case = "laion-htsat-base"
    inputs, texts = _inputs(case)
    torch.manual_seed(0)
    clap = laion_clap.CLAP_Module(enable_fusion=False, amodel="HTSAT-base", device="cpu")
    sd, entries = _seeded(clap.model)
    extra = "text_branch.embeddings.position_ids"  # in the published files, deleted by load_ckpt
    if extra not in sd:
        v = torch.arange(514).unsqueeze(0)
        sd[extra] = v
        entries.append({"name": extra, "shape": [1, 514], "dtype": "int64", "kind": "buffer",
                        "sha256": tensor_sha256(v), "same_as": [SOURCES[case], extra]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "630k-best.pt"
        torch.save({"epoch": 45, "state_dict": {"module." + k: v for k, v in sd.items()}}, path)
        clap.load_ckpt(str(path), verbose=False)
    model = clap.model.eval()
    seen: dict[str, Any] = {}
    hooks = [model.audio_branch.register_forward_hook(lambda m, a, o: seen.__setitem__("branch", o)),
             model.audio_projection.register_forward_hook(lambda m, a, o: seen.__setitem__("aproj", o)),
             model.text_branch.register_forward_hook(lambda m, a, o: seen.__setitem__("text", o)),
             model.text_projection.register_forward_hook(lambda m, a, o: seen.__setitem__("tproj", o))]
    audio = torch.from_numpy(clap.get_audio_embedding_from_data([inputs["clip0"].numpy(),
                                                                  inputs["clip1"].numpy()]))
    branch, aproj = seen["branch"], seen["aproj"]
    ids = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    text = clap.get_text_embedding(texts, tokenizer=lambda _: ids, use_tensor=True)
    for hook in hooks:
        hook.remove()
    scale_a, scale_t = model.logit_scale_a.detach().clone(), model.logit_scale_t.detach().clone()
    expected = {
        "longer": torch.tensor([False, False]),
        "audio_pooled": branch["embedding"],
        "audio_proj": aproj,
        "audio_embeds": audio,
        "clipwise_output": branch["clipwise_output"],
        "text_pooled": seen["text"].pooler_output,
        "text_proj": seen["tproj"],
        "text_embeds": text,
        "logit_scale_a": scale_a,
        "logit_scale_t": scale_t,
        "similarity": audio @ text.T,
        "logits_per_audio": scale_a.exp() * audio @ text.T,
    }
    info = {"inputs": f"../shared/parity/{SOURCES[case]}/inputs.safetensors", "texts": texts,
            "reference": f"laion_clap 1.1.7 CLAP_Module(enable_fusion=False, amodel='HTSAT-base'), "
                         f"load_ckpt; transformers {transformers.__version__}",
            "reference_audio_call": "get_audio_embedding_from_data(x=[clip0, clip1], use_tensor=False)",
            "torch": torch.__version__, "numpy": np.__version__}
    _write(case, entries, expected, info)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=sorted(SOURCES))
    args = parser.parse_args()
    if parity_dir() is None:
        raise SystemExit("the shared parity vectors (../shared/parity) are needed for inputs and buffers")
    torch.set_num_threads(2)
    {"hf-clap-htsat-fused": hf_fused, "laion-htsat-base": laion_base}[args.case]()


if __name__ == "__main__":
    main()
