"""Published weights by name against a local Hub: download, verify, convert once, cache, resume,
refuse bad checksums, offline messages, corrupt-cache detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openclap import CheckpointError, ClapModel, create_model
from openclap.cli import main
from openclap.hub import PublishedFile, WeightsNotFoundError, find_entry, is_on_machine
from openclap.hub.download import fetch_hub_file
from openclap.hub.pretrained import MARKER, converted_dir
from tests.hub.conftest import REPO
from tests.hub.local_hub import COMMIT, LocalHub, sha256_of

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _same_weights(a: ClapModel, b: ClapModel) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_first_use_downloads_verifies_converts_then_second_use_is_offline(
    env: Path, hub: LocalHub, tiny_model: ClapModel
) -> None:
    model = create_model("test-tiny")
    assert _same_weights(model, tiny_model)
    assert len(hub.gets("/model.safetensors")) == 1
    folder = converted_dir(find_entry("test-tiny"))  # type: ignore[arg-type]
    assert (folder / MARKER).is_file() and folder.is_relative_to(env)
    before, stamp = len(hub.requests), (folder / "model.safetensors").stat().st_mtime_ns
    again = create_model("test-tiny")
    assert len(hub.requests) == before  # cached: no request at all
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # and not converted again
    assert _same_weights(again, tiny_model)


def test_checksum_mismatch_is_refused_and_nothing_is_cached(env: Path, hub: LocalHub) -> None:
    with pytest.raises(CheckpointError, match=r"sha256 .* differs from the published 0000"):
        create_model("test-tiny-badsum")
    blobs = [p for p in env.rglob("*") if p.is_file() and p.stat().st_size > 1000]
    assert blobs == []
    assert not is_on_machine(find_entry("test-tiny-badsum"))  # type: ignore[arg-type]


def test_cut_download_resumes_with_a_range_request(env: Path, hub: LocalHub, tmp_path: Path) -> None:
    """huggingface_hub keeps what it wrote in 10 MB chunks and asks for the rest with a Range request."""
    big = tmp_path / "big.bin"
    big.write_bytes(np.random.default_rng(0).bytes(24 << 20))
    path = hub.add_hub_file(REPO, COMMIT, "big.bin", big)
    hub.drop_after[path] = 15 << 20
    got = fetch_hub_file(REPO, COMMIT, PublishedFile("big.bin", big.stat().st_size, sha256_of(big)))
    ranges = [r for _, p, r in hub.gets() if p == path]
    assert ranges == [None, f"bytes={10 << 20}-"]
    assert got.read_bytes() == big.read_bytes()


def test_cut_small_download_is_fetched_again_and_verified(env: Path, hub: LocalHub,
                                                          tiny_model: ClapModel) -> None:
    path = f"/{REPO}/resolve/{COMMIT}/model.safetensors"
    hub.drop_after[path] = 100_000
    model = create_model("test-tiny")
    assert len([r for _, p, r in hub.gets() if p == path]) == 2
    assert _same_weights(model, tiny_model)


def test_plain_url_download_resumes_a_partial_file(env: Path, hub: LocalHub, tiny_published: Path,
                                                   tiny_model: ClapModel) -> None:
    part = env / "openclap" / "downloads" / "test-tiny-url" / "model.safetensors.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(tiny_published.read_bytes()[:50_000])  # left by an interrupted run
    hub.drop_after["/files/model.safetensors"] = 1_000_000  # and this run's transfer is cut once more
    model = create_model("test-tiny-url")
    ranges = [r for _, p, r in hub.gets("/files/model.safetensors")]
    assert ranges[0] == "bytes=50000-" and ranges[1] == "bytes=1050000-"
    assert _same_weights(model, tiny_model) and not part.exists()


def test_offline_names_the_model_and_openclap_pull(env: Path, hub: LocalHub, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as err:
        create_model("test-tiny")
    message = str(err.value)
    assert "\n" not in message and "test-tiny" in message and "openclap pull test-tiny" in message
    assert "HF_HUB_OFFLINE" in message and hub.requests == []
    assert main(["embed", str(Path(__file__)), "--out", "x.npz", "--model", "test-tiny"]) == 2
    assert main(["classify", "--model", "test-tiny", "--labels", "a,b", "/nonexistent.wav"]) == 2


def test_cli_offline_error_is_one_line(env: Path, hub: LocalHub, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tests.helpers import sine, write

    clip = write(tmp_path / "tone.wav", sine(440, 1.0, 16000), 16000)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["classify", "--model", "test-tiny", "--labels", "a,b", str(clip)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: test-tiny:") and "openclap pull test-tiny" in err[0]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert main(["classify", "--model", "test-tiny", "--labels", "a,b", str(clip)]) == 0  # fetched now


def test_corrupt_cached_file_is_detected_and_pull_force_repairs(env: Path, hub: LocalHub,
                                                                tiny_model: ClapModel) -> None:
    create_model("test-tiny")
    weights = converted_dir(find_entry("test-tiny")) / "model.safetensors"  # type: ignore[arg-type]
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF  # one flipped bit pattern inside a tensor: safetensors itself would not notice
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"is corrupt .* `openclap pull --force test-tiny`"):
        create_model("test-tiny")
    assert main(["pull", "--force", "test-tiny"]) == 0
    assert _same_weights(create_model("test-tiny"), tiny_model)


def test_untrained_on_purpose_needs_no_weights(env: Path, hub: LocalHub) -> None:
    model = create_model("test-tiny", pretrained=False)
    assert model.config.name == "tiny-test" and hub.requests == []
