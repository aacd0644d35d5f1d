"""Legacy checkpoints are read by torch's weights-only unpickler only (protocols 3-5 after a parse-only
rewrite in ``openclap.convert.safe_pickle``): round trips of real ``torch.save`` output, and an adversarial
set of hand-assembled pickles, each refused with a one-line ``ConversionError`` and no side effect.

What is tried: forbidden callables through GLOBAL, STACK_GLOBAL (plain, framed, operands fetched from the
memo, operands that are not strings, a name smuggling a line break), INST / OBJ / NEWOBJ_EX / EXT1 / text
PERSID / POP / DUP / ADDITEMS, persistent ids other than storages, allowlisted callables with hostile
arguments (nested REDUCE, ``bytearray`` and numpy's ``_reconstruct`` asked for terabytes, a tensor view
past the end of its storage, a storage larger than its record), memo gets of missing slots, a stack
underflow, a length field of 2**60 and a truncated stream, inside a raw pickle and inside torch's zip
container. The zip cases reuse the records of a real ``torch.save`` file with its ``data.pkl`` replaced.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from openclap.convert import safe_pickle
from openclap.convert.common import ConversionError, load_legacy

P = pickle
HEAD = P.PROTO + b"\x04"


def s(text: str) -> bytes:
    raw = text.encode()
    return P.SHORT_BINUNICODE + bytes([len(raw)]) + raw


def g(module: str, name: str) -> bytes:
    """Protocol 4's way to push a global: two memoised strings and STACK_GLOBAL."""
    return s(module) + P.MEMOIZE + s(name) + P.MEMOIZE + P.STACK_GLOBAL


def long1(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return P.LONG1 + bytes([len(raw)]) + raw


def storage() -> bytes:
    """A persistent id of the 6-float storage '0' of the zip template."""
    return P.MARK + s("storage") + g("torch", "FloatStorage") + s("0") + s("cpu") + P.BININT1 + b"\x06" + (
        P.TUPLE + P.BINPERSID)  # fmt: skip


def rebuild(size: int, numel_storage: bytes | None = None) -> bytes:
    store = numel_storage if numel_storage is not None else storage()
    return g("torch._utils", "_rebuild_tensor_v2") + P.MARK + store + P.BININT1 + b"\x00" + long1(size) + (
        P.TUPLE1 + P.BININT1 + b"\x01" + P.TUPLE1 + P.NEWFALSE + g("collections", "OrderedDict")
        + P.EMPTY_TUPLE + P.REDUCE + P.TUPLE + P.REDUCE)  # fmt: skip


RAW_CASES = {  # name -> (pickle, expected message)
    "GLOBAL os.mkdir": (P.PROTO + b"\x02" + b"cos\nmkdir\n" + s("{marker}") + P.TUPLE1 + P.REDUCE + P.STOP,
                        "needs the class or function os.mkdir"),
    "STACK_GLOBAL os.mkdir": (HEAD + g("os", "mkdir") + s("{marker}") + P.TUPLE1 + P.REDUCE + P.STOP,
                              "needs the class or function os.mkdir"),
    "framed STACK_GLOBAL": (HEAD + P.FRAME + struct.pack("<Q", 30) + g("os", "system") + P.STOP,
                            "needs the class or function os.system"),
    "STACK_GLOBAL from the memo": (
        HEAD + P.MARK + s("os") + P.MEMOIZE + s("junk") + P.TUPLE + P.BINGET + b"\x00" + s("mkdir")
        + P.STACK_GLOBAL + s("{marker}") + P.TUPLE1 + P.REDUCE + P.STOP, "class or function os.mkdir"),
    "STACK_GLOBAL of ints": (HEAD + P.BININT1 + b"\x05" + P.BININT1 + b"\x06" + P.STACK_GLOBAL + P.STOP,
                             "needs objects other than tensors"),
    "STACK_GLOBAL line break": (HEAD + s("collections\nOrderedDict\ncos") + s("system") + P.STACK_GLOBAL
                                + P.STOP, "needs objects other than tensors"),
    "builtins.getattr": (HEAD + g("builtins", "getattr") + P.STOP, "needs the class or function getattr"),
    "builtins.eval": (HEAD + g("builtins", "eval") + s("1") + P.TUPLE1 + P.REDUCE + P.STOP,
                      "needs the class or function eval"),
    "torch.load": (HEAD + g("torch", "load") + P.STOP, "needs the class or function torch.load"),
    "numpy.load": (HEAD + g("numpy", "load") + P.STOP, "needs the class or function numpy.load"),
    "INST": (HEAD + P.MARK + s("{marker}") + b"ios\nmkdir\n" + P.STOP, "needs objects other than tensors"),
    "OBJ": (HEAD + P.MARK + g("os", "mkdir") + s("{marker}") + P.OBJ + P.STOP, "needs objects other than"),
    "NEWOBJ_EX": (HEAD + g("collections", "OrderedDict") + P.EMPTY_TUPLE + P.EMPTY_DICT + P.NEWOBJ_EX
                  + P.STOP, "needs objects other than tensors"),
    "EXT1": (HEAD + P.EXT1 + b"\x01" + P.STOP, "needs objects other than tensors"),
    "text PERSID": (HEAD + b"Pfoo\n" + P.STOP, "needs objects other than tensors"),
    "BINPERSID module": (HEAD + s("module") + s("x") + P.TUPLE2 + P.BINPERSID + P.STOP, "other than tensors"),
    "POP": (HEAD + P.NONE + P.NONE + P.POP + P.STOP, "needs objects other than tensors"),
    "DUP": (HEAD + P.NONE + P.DUP + P.TUPLE2 + P.STOP, "needs objects other than tensors"),
    "ADDITEMS": (HEAD + P.EMPTY_SET + P.MARK + P.NONE + P.ADDITEMS + P.STOP, "needs objects other than"),
    "nested REDUCE": (HEAD + g("collections", "OrderedDict") + g("_codecs", "encode") + s("ab") + s("latin1")
                      + P.TUPLE2 + P.REDUCE + P.TUPLE1 + P.REDUCE + P.STOP, "not a readable checkpoint"),
    "bytearray(2**44)": (HEAD + g("builtins", "bytearray") + long1(2**44) + P.TUPLE1 + P.REDUCE + P.STOP,
                         "not a readable checkpoint \\(MemoryError"),
    "_reconstruct 32 TiB": (
        HEAD + g("numpy._core.multiarray", "_reconstruct") + g("numpy", "ndarray") + long1(2**45) + P.TUPLE1
        + s("b") + P.TUPLE3 + P.REDUCE + P.STOP, "not a readable checkpoint \\(MemoryError"),
    "missing memo slot": (HEAD + P.BINGET + b"\x07" + P.STOP, "not a readable checkpoint \\(KeyError"),
    "stack underflow": (HEAD + P.REDUCE + P.STOP, "not a readable checkpoint \\(IndexError"),
    "length 2**60": (HEAD + P.BINUNICODE8 + struct.pack("<Q", 2**60) + b"abc", "not a readable checkpoint"),
    "truncated": (HEAD + s("abc")[:-1], "not a readable checkpoint"),
}  # fmt: skip

ZIP_CASES = {  # data.pkl inside a real torch zip file -> expected message
    "view past the storage": (HEAD + rebuild(10**6) + P.STOP, "not a readable checkpoint"),
    "negative size": (HEAD + rebuild(-5) + P.STOP, "not a readable checkpoint"),
    "storage larger than its record": (
        HEAD + rebuild(6, P.MARK + s("storage") + g("torch", "FloatStorage") + s("0") + s("cpu")
                       + long1(2**40) + P.TUPLE + P.BINPERSID) + P.STOP, "not a readable checkpoint"),
    "storage record that does not exist": (
        HEAD + rebuild(6, P.MARK + s("storage") + g("torch", "FloatStorage") + s("../../etc/passwd")
                       + s("cpu") + P.BININT1 + b"\x06" + P.TUPLE + P.BINPERSID) + P.STOP,
        "not a readable checkpoint"),
    "STACK_GLOBAL os.mkdir": (HEAD + g("os", "mkdir") + s("{marker}") + P.TUPLE1 + P.REDUCE + P.STOP,
                              "needs the class or function os.mkdir"),
    "allowlisted tensor, then os.mkdir": (
        HEAD + P.MARK + rebuild(6) + g("os", "mkdir") + s("{marker}") + P.TUPLE1 + P.REDUCE + P.TUPLE
        + P.STOP,
        "needs the class or function os.mkdir"),
}  # fmt: skip


def _with_marker(data: bytes, marker: Path) -> bytes:
    """Put the marker path into the {marker} string (fixing its length byte)."""
    old, new = b"{marker}", str(marker).encode()
    return data.replace(bytes([len(old)]) + old, bytes([len(new)]) + new)


def _zip_with(template: Path, data_pkl: bytes, out: Path) -> Path:
    """A copy of a real torch zip checkpoint with its data.pkl replaced."""
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info, data_pkl if info.filename.endswith("/data.pkl") else src.read(info))
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zip") / "t.pt"
    torch.save({"w": torch.arange(6.0)}, path, pickle_protocol=4)
    return path


@pytest.mark.parametrize("name", list(RAW_CASES))
def test_hostile_raw_pickle_is_refused_without_effect(tmp_path: Path, name: str) -> None:
    data, message = RAW_CASES[name]
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(_with_marker(data, marker))
    with pytest.raises(ConversionError, match=message) as err:
        load_legacy(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("name", list(ZIP_CASES))
def test_hostile_zip_checkpoint_is_refused_without_effect(tmp_path: Path, template: Path, name: str) -> None:
    data, message = ZIP_CASES[name]
    marker = tmp_path / "pwned"
    path = _zip_with(template, _with_marker(data, marker), tmp_path / "t.pt")
    with pytest.raises(ConversionError, match=message):
        load_legacy(path)
    assert not marker.exists()


def test_the_zip_template_itself_loads(tmp_path: Path, template: Path) -> None:
    """The hostile zip cases fail because of their data.pkl, not the container: a good one loads."""
    good = _zip_with(template, HEAD + P.MARK + rebuild(6) + P.TUPLE + P.STOP, tmp_path / "t.pt")
    (tensor,) = load_legacy(good)
    assert torch.equal(tensor, torch.arange(6.0))


def _checkpoint() -> dict:
    state = collections.OrderedDict((f"module.layer{i}.weight", torch.randn(3, 2)) for i in range(3))
    state["module.p"] = torch.nn.Parameter(torch.ones(2))
    return {"epoch": 3, "metric": np.float32(0.5), "name": "x" * 300, "bytes": b"\x00\xffab" * 100,
            "big": 2**70, "t": (1, "a", None, True, -5, 1.5), "state_dict": state,
            "shared": state["module.p"]}


@pytest.mark.parametrize("zipped", [True, False])
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_real_torch_save_output_round_trips(tmp_path: Path, protocol: int, zipped: bool) -> None:
    obj = _checkpoint()
    if protocol < 5:  # protocol 5 spells arrays with numpy._core.numeric._frombuffer: not allowlisted
        obj["hist"] = np.arange(5.0)
    path = tmp_path / "c.pt"
    torch.save(obj, path, pickle_protocol=protocol, _use_new_zipfile_serialization=zipped)
    got = load_legacy(path)
    assert got.keys() == obj.keys()
    for key, value in obj.items():
        if key == "state_dict":
            assert list(got[key]) == list(value)
            assert all(torch.equal(got[key][k], v) for k, v in value.items())
        elif key == "shared":
            assert torch.equal(got[key], value)
        elif key == "hist":
            assert np.array_equal(got[key], value)
        else:
            assert got[key] == value and type(got[key]) is type(value), key
    assert got["shared"] is got["state_dict"]["module.p"]  # memo references survive the rewrite


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_rewrite_reads_plain_pickles_like_python(protocol: int) -> None:
    value = {"a": [1, 2, "xx", b"yy" * 200], "b": ("m", "m"), "c": {"m": -(2**40)}}
    assert safe_pickle.load(io.BytesIO(pickle.dumps(value, protocol=protocol))) == value
