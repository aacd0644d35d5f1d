"""A real server for the serve tests: the tiny-test model, an index of real clips, uvicorn on loopback."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openclap import ClapModel
from openclap.serve import ServeLimits, create_app, serve_in_thread

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
ESC50 = DATA / "esc50-fold4"
AUDIOCAPS = DATA / "audiocaps-demo" / "audio"
CATEGORIES = ("dog", "rain", "siren", "church_bells", "crying_baby")
# Small limits so that the abuse tests stay fast; the real clips (5 s, ~300 KB) fit inside them.
TEST_LIMITS = ServeLimits(
    max_upload_bytes=1_000_000,
    max_audio_seconds=8.0,
    max_labels=32,
    max_label_chars=50,
    max_texts=8,
    max_text_chars=200,
    max_top_k=100,
    body_timeout_seconds=1.5,
    header_timeout_seconds=1.5,
)


def esc50_clips(per_category: int = 2) -> dict[str, list[Path]]:
    """Real ESC-50 fold-4 clips by category (the first ``per_category`` of each test category)."""
    for folder in (ESC50, AUDIOCAPS):
        if not folder.is_dir():
            pytest.skip(
                f"real audio missing: {folder} (see ../shared/data/README.md)", allow_module_level=True
            )
    found: dict[str, list[Path]] = {c: [] for c in CATEGORIES}
    with open(ESC50 / "metadata.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["category"] in found and len(found[row["category"]]) < per_category:
                found[row["category"]].append(ESC50 / row["filename"])
    return found


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of symlinks to 10 real ESC-50 clips (by category) and one 10 s AudioCaps clip."""
    root = tmp_path_factory.mktemp("collection")
    for category, paths in esc50_clips().items():
        (root / category).mkdir()
        for path in paths:
            (root / category / path.name).symlink_to(path)
    (root / "long").mkdir()
    long_clip = sorted(AUDIOCAPS.glob("*.flac"))[0]
    (root / "long" / long_clip.name).symlink_to(long_clip)
    return root


@pytest.fixture(scope="session")
def index_dir(tiny_model: ClapModel, tiny_checkpoint: Path, clip_folder: Path, tmp_path_factory) -> Path:
    """An index of ``clip_folder`` made with the tiny model (1 s windows), its checkpoint recorded."""
    from openclap.index import build_index

    out = tmp_path_factory.mktemp("index") / "sounds"
    build_index([clip_folder], out, tiny_model, checkpoint=tiny_checkpoint)
    return out


@pytest.fixture(scope="session")
def server(tiny_model: ClapModel, index_dir: Path) -> Iterator[str]:
    """Base URL of a running server (tiny model + index, ``TEST_LIMITS``), shared by the serve tests."""
    from openclap.index import SoundIndex

    index = SoundIndex.open(index_dir, model=tiny_model)
    with serve_in_thread(create_app(tiny_model, index, TEST_LIMITS, str(index_dir)), 1.5) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as http:
        yield http
