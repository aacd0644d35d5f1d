"""A truncated or corrupted safetensors checkpoint is a ``CheckpointError`` naming the file, from the
library (``create_model``, ``load_weights``, ``read_metadata``) and from the CLI (one line, no traceback)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from openclap import CheckpointError, ClapModel, create_model, load_weights
from openclap.checkpoint import read_metadata, tensor_summary
from openclap.cli import main


def _corruptions(good: bytes) -> dict[str, bytes]:
    header_len = struct.unpack("<Q", good[:8])[0]
    header = good[8 : 8 + header_len]
    return {
        "empty": b"",
        "cut-in-length": good[:5],
        "cut-in-header": good[: 8 + header_len // 2],
        "cut-after-header": good[: 8 + header_len],
        "cut-in-data": good[: 8 + header_len + (len(good) - 8 - header_len) // 2],
        "huge-header-length": struct.pack("<Q", 2**60) + good[8:],
        "header-not-json": good[:8] + b"{" * header_len + good[8 + header_len :],
        "offsets-past-the-end": good[:8]
        + header.replace(b'"data_offsets":[0,', b'"data_offsets":[9,', 1)
        + good[8 + header_len :],
        "metadata-not-json": good[:8] + _bad_metadata(header) + good[8 + header_len :],
    }


def _bad_metadata(header: bytes) -> bytes:
    """The same header with the openclap metadata replaced by invalid JSON of the same length."""
    data = json.loads(header)
    raw = data["__metadata__"]["openclap"]
    data["__metadata__"]["openclap"] = "{" * len(raw)
    out = json.dumps(data, separators=(",", ":")).encode()
    return out[: len(header)].ljust(len(header), b" ")


def test_corrupt_checkpoints_name_the_file(
    tmp_path: Path, tiny_model: ClapModel, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (tiny_checkpoint / "model.safetensors").read_bytes()
    for name, data in _corruptions(good).items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(data)
        for call in (
            lambda p: create_model(checkpoint=p),
            lambda p: load_weights(tiny_model, p),
            read_metadata,
            tensor_summary,
        ):
            try:
                call(path)
            except CheckpointError as err:
                assert str(path) in str(err), (name, str(err))
        with pytest.raises(CheckpointError, match=str(path)):
            create_model(checkpoint=path)
        assert main(["info", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {path}: ") and len(err.splitlines()) == 1, (name, err)
