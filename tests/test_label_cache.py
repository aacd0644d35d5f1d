"""LabelCache: cached classifier rows equal freshly built ones; the key holds model, templates and label."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from openclap import ClapModel, ZeroShotClassifier, create_model
from openclap.text.label_cache import LabelCache, text_fingerprint
from openclap.zero_shot import build_classifier

LABELS = ["dog", "rain", "church bells", "a very long label with many words in it", "siren"]
TEMPLATES = ["{}", "a sound of {}"]


def test_cached_rows_equal_uncached(tiny_model: ClapModel, tmp_path: Path) -> None:
    cache = LabelCache(tmp_path)
    first = build_classifier(tiny_model, LABELS[:2], TEMPLATES, cache=cache)
    torch.testing.assert_close(first, build_classifier(tiny_model, LABELS[:2], TEMPLATES), rtol=0, atol=1e-6)
    assert (cache.hits, cache.misses) == (0, 2)
    mixed = build_classifier(tiny_model, LABELS[::-1], TEMPLATES, cache=cache)  # 2 hits, 3 misses
    assert (cache.hits, cache.misses) == (2, 5)
    torch.testing.assert_close(
        mixed, build_classifier(tiny_model, LABELS[::-1], TEMPLATES), rtol=0, atol=1e-6
    )

    fresh = LabelCache(tmp_path)  # a new process: the rows come from the folder, nothing is embedded
    again = ZeroShotClassifier(tiny_model, LABELS, templates=TEMPLATES, cache=fresh).classifier
    assert (fresh.hits, fresh.misses) == (5, 0)
    torch.testing.assert_close(again, mixed.flip(0), rtol=0, atol=0)


def test_key_holds_templates_and_model(tiny_model: ClapModel) -> None:
    cache = LabelCache()
    build_classifier(tiny_model, LABELS, TEMPLATES, cache=cache)
    other_templates = build_classifier(tiny_model, LABELS, ["{} noise"], cache=cache)
    assert cache.misses == 2 * len(LABELS)
    uncached = build_classifier(tiny_model, LABELS, ["{} noise"])
    torch.testing.assert_close(other_templates, uncached, rtol=0, atol=1e-6)

    torch.manual_seed(1)
    other_model = create_model("tiny-test")
    assert text_fingerprint(other_model) != text_fingerprint(tiny_model)
    rows = build_classifier(other_model, LABELS, TEMPLATES, cache=cache)
    assert cache.misses == 3 * len(LABELS)
    torch.testing.assert_close(rows, build_classifier(other_model, LABELS, TEMPLATES), rtol=0, atol=1e-6)

    before = text_fingerprint(other_model)  # a weight changed in place (a training step): a new key
    with torch.no_grad():
        other_model.text_projection.parameters().__next__().add_(0.5)
    assert text_fingerprint(other_model) != before


def test_damaged_cache_file_is_rebuilt(tiny_model: ClapModel, tmp_path: Path) -> None:
    build_classifier(tiny_model, LABELS, TEMPLATES, cache=LabelCache(tmp_path))
    (file,) = tmp_path.glob("labels-*.npz")
    file.write_bytes(b"not an npz")
    cache = LabelCache(tmp_path)
    rows = build_classifier(tiny_model, LABELS, TEMPLATES, cache=cache)
    assert cache.misses == len(LABELS)
    torch.testing.assert_close(rows, build_classifier(tiny_model, LABELS, TEMPLATES), rtol=0, atol=1e-6)


@pytest.mark.parametrize("batch_size", [2, 64])
def test_length_sorted_batches_keep_order(tiny_model: ClapModel, batch_size: int) -> None:
    texts = [f"{label} {i}" for i, label in enumerate(LABELS * 2)]
    from openclap.inference import embed_texts

    one_by_one = torch.cat([tiny_model.encode_text([t]) for t in texts]).detach()
    got = torch.from_numpy(embed_texts(tiny_model, texts, batch_size=batch_size))
    torch.testing.assert_close(got, one_by_one, rtol=0, atol=1e-5)


def test_aliases_answer_by_files_identity_and_miss_on_a_change(tiny_model: ClapModel, tmp_path: Path) -> None:
    from openclap.text.label_cache import files_identity

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    identity = files_identity([weights], precision="fp32")
    cache = LabelCache(tmp_path / "cache")
    assert cache.lookup(identity, LABELS, TEMPLATES) is None  # nothing remembered yet
    built = build_classifier(tiny_model, LABELS, TEMPLATES, cache=cache)
    cache.remember(identity, tiny_model)

    fresh = LabelCache(tmp_path / "cache")  # a new process: the folder answers without the model
    torch.testing.assert_close(fresh.lookup(identity, LABELS, TEMPLATES), built, rtol=0, atol=0)
    assert fresh.lookup(identity, [*LABELS, "thunder"], TEMPLATES) is None  # a label it lacks
    assert fresh.lookup(identity, LABELS, ["{} noise"]) is None  # other templates
    assert files_identity([weights], precision="bf16") != identity
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # the file changed
    assert fresh.lookup(files_identity([weights], precision="fp32"), LABELS, TEMPLATES) is None
    (tmp_path / "cache" / "aliases.json").write_text("{not json")  # damaged: rebuilt, never trusted
    assert LabelCache(tmp_path / "cache").lookup(identity, LABELS, TEMPLATES) is None


CLASSIFY = """
import sys
import openclap.cli as cli
code = cli.main(sys.argv[1:])
print("transformers loaded:", "transformers" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def _classify(args: list[str], cache_dir: Path) -> tuple[str, bool]:
    env = {**os.environ, "OPENCLAP_CACHE_DIR": str(cache_dir)}
    out = subprocess.run(
        [sys.executable, "-c", CLASSIFY, "classify", *args, "--json"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return out.stdout, "transformers loaded: True" in out.stderr


@pytest.mark.slow
def test_a_warm_classify_builds_no_text_tower_and_answers_the_same(tmp_path: Path) -> None:
    """The README's main job twice: the second run answers from the label cache without importing
    transformers; a changed weights file (``--checkpoint``, its modification time moved) misses."""
    from openclap.registry import bundled_weights

    clip = str(Path(__file__).parents[2] / "shared" / "data" / "esc50-fold4" / "audio" / "4-184575-A-0.flac")
    labels = ["--labels", "dog,rain,siren,church bells,hand saw"]
    cold, built = _classify([clip, *labels], tmp_path / "c")
    warm, built_again = _classify([clip, *labels], tmp_path / "c")
    assert built and not built_again
    assert json.loads(warm) == json.loads(cold)
    _, built = _classify([clip, "--labels", "dog,rain,thunder"], tmp_path / "c")  # a new label
    assert built

    weights = tmp_path / "copy.safetensors"
    shutil.copyfile(bundled_weights("openclap-yamnet"), weights)  # type: ignore[arg-type]
    args = [clip, *labels, "--checkpoint", str(weights)]
    first, built = _classify(args, tmp_path / "d")
    second, built_again = _classify(args, tmp_path / "d")
    assert built and not built_again and json.loads(second) == json.loads(first) == json.loads(cold)
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    third, built = _classify(args, tmp_path / "d")
    assert built and json.loads(third) == json.loads(cold)


def test_an_alias_that_is_not_a_digest_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "aliases.json").write_text(json.dumps({"id": "../../elsewhere/x", "ok": "a" * 40}))
    aliases = LabelCache(tmp_path).aliases
    assert aliases is not None and aliases.read() == {"ok": "a" * 40}


def test_an_unwritable_cache_folder_keeps_rows_in_memory(tiny_model: ClapModel, tmp_path: Path) -> None:
    """A file where the folder should be: rows are computed and kept in memory, the first write's
    problem is recorded (not raised), and remembering an alias does not fail either."""
    (tmp_path / "blocker").write_text("x")
    cache = LabelCache(tmp_path / "blocker" / "labels")
    rows = build_classifier(tiny_model, LABELS[:2], TEMPLATES, cache=cache)
    torch.testing.assert_close(rows, build_classifier(tiny_model, LABELS[:2], TEMPLATES), rtol=0, atol=1e-6)
    assert cache.write_error is not None and "cannot write the label cache" in cache.write_error
    cache.remember("identity", tiny_model)
    build_classifier(tiny_model, LABELS[:2], TEMPLATES, cache=cache)
    assert cache.hits == 2  # the second call answers from memory


def test_classify_with_an_unwritable_cache_warns_and_answers(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from openclap.cli import main
    from tests.helpers import ESC50_AUDIO

    clip = ESC50_AUDIO / "4-184575-A-0.flac"
    if not clip.is_file():
        pytest.skip(f"real audio not found at {clip}")
    (tmp_path / "blocker").write_text("x")
    monkeypatch.setenv("OPENCLAP_CACHE_DIR", str(tmp_path / "blocker"))
    assert main(["classify", str(clip), "--labels", "dog,rain", "--checkpoint", str(tiny_checkpoint)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(str(clip)) and "dog (" in out
    assert "warning: " in err and "cannot write the label cache" in err
