"""Read pickle protocols 3-5 with torch's weights-only unpickler, never Python's general one.

torch's weights-only unpickler (``torch.load(weights_only=True)``) builds only allowlisted types, but it
parses only the opcodes of protocol 2. Checkpoints saved with ``pickle_protocol=4`` (LAION-CLAP's, for
one) use a few more: FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL, BINBYTES. ``to_protocol2`` rewrites
such a stream opcode by opcode into the protocol-2 opcodes that mean the same thing, *parsing only*
(``pickletools.genops`` decodes opcodes and arguments; nothing is built or called), and
``WeightsOnlyUnpickler`` hands the result to torch's weights-only unpickler, which alone builds objects.

The rewrite:
- PROTO n -> PROTO 2; FRAME (a read-ahead hint) is dropped.
- Every string push becomes BINUNICODE. A memo slot that receives a string is resolved here: the put is
  dropped and each later get of that slot pushes the string again (equal value; strings have no identity
  worth keeping), so that STACK_GLOBAL, whose two operands are then always the two string pushes just
  before it, becomes ``GLOBAL module name``. A STACK_GLOBAL whose operands are anything else is refused.
- MEMOIZE -> LONG_BINPUT of the next slot; BINBYTES / SHORT_BINBYTES / BINBYTES8 -> the protocol-2
  spelling ``_codecs.encode(latin-1 text, "latin1")`` (an allowlisted call); BYTEARRAY8 -> ``bytearray``
  of that (allowlisted too).
- The opcodes torch's unpickler parses pass through unchanged; any other opcode (INST, OBJ, NEWOBJ_EX,
  EXT*, POP, DUP, PERSID, ADDITEMS / FROZENSET, protocol-0 text opcodes, out-of-band buffers, ...) is
  refused.
Whatever passes, torch's unpickler then checks exactly as for any ``weights_only=True`` load: globals
against its allowlist, REDUCE / NEWOBJ / BUILD only on allowlisted callables and types.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
from typing import IO, Any

from torch import _weights_only_unpickler

# Opcodes torch's weights-only unpickler parses, copied byte for byte.
_PASS = {
    "GLOBAL", "NEWOBJ", "REDUCE", "BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "MARK", "TUPLE",
    "TUPLE1", "TUPLE2", "TUPLE3", "NONE", "NEWFALSE", "NEWTRUE", "EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT",
    "EMPTY_SET", "BININT", "BININT1", "BININT2", "BINFLOAT", "SHORT_BINSTRING", "BINPERSID", "LONG1",
    "STOP",
}  # fmt: skip
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}
_BYTES = {"SHORT_BINBYTES", "BINBYTES", "BINBYTES8"}
_PIECE = 1 << 20
_PUTS = {"BINPUT", "LONG_BINPUT", "PUT"}
_GETS = {"BINGET", "LONG_BINGET", "GET"}


def _unicode(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    return pickle.BINUNICODE + struct.pack("<I", len(raw)) + raw


class _Recorder:
    """A file wrapper that keeps the bytes read since the last ``take()`` (one opcode and its argument)."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file, self.buf = file, bytearray()

    def read(self, n: int = -1) -> bytes:
        """At most ``n`` bytes, read in 1 MiB pieces: a hostile length field costs no allocation beyond
        the bytes the file really holds."""
        start = len(self.buf)
        while n < 0 or len(self.buf) - start < n:
            piece = self.file.read(_PIECE if n < 0 else min(_PIECE, n - (len(self.buf) - start)))
            if not piece:
                break
            self.buf += piece
        return bytes(self.buf[start:])

    def readline(self) -> bytes:
        data = self.file.readline()
        self.buf += data
        return data

    def take(self) -> bytes:
        data, self.buf = bytes(self.buf), bytearray()
        return data


class _Rewriter:
    def __init__(self) -> None:
        self.out: list[tuple[bytes, str | None]] = []  # (opcode bytes, the string it pushes, if it does)
        self.memo_strings: dict[int, str] = {}
        self.memo_slots: set[int] = set()

    def put(self, slot: int) -> None:
        if slot < 0:
            raise pickle.UnpicklingError("negative memo slot")
        self.memo_slots.add(slot)
        if self.out and self.out[-1][1] is not None:  # the top of the stack is a string just pushed
            self.memo_strings[slot] = self.out[-1][1]
            return
        self.memo_strings.pop(slot, None)
        self.out.append((pickle.LONG_BINPUT + struct.pack("<I", slot), None))

    def get(self, slot: int) -> None:
        if slot in self.memo_strings:
            self.out.append((_unicode(self.memo_strings[slot]), self.memo_strings[slot]))
        else:
            self.out.append((pickle.LONG_BINGET + struct.pack("<I", slot), None))

    def stack_global(self) -> None:
        if len(self.out) < 2 or self.out[-1][1] is None or self.out[-2][1] is None:
            raise pickle.UnpicklingError("Unsupported operand STACK_GLOBAL (operands not strings)")
        name, module = self.out.pop()[1], self.out.pop()[1]
        if "\n" in f"{module}{name}":
            raise pickle.UnpicklingError("Unsupported operand STACK_GLOBAL (a name with a line break)")
        self.out.append((pickle.GLOBAL + f"{module}\n{name}\n".encode(), None))

    def feed(self, name: str, arg: Any, raw: bytes) -> None:
        if name in _PASS:
            self.out.append((raw, None))
        elif name == "PROTO":
            self.out.append((pickle.PROTO + b"\x02", None))
        elif name == "FRAME":
            pass
        elif name in _STRINGS:
            self.out.append((_unicode(arg), arg))
        elif name in _BYTES:
            self.out.append((_latin1_bytes(arg), None))
        elif name == "BYTEARRAY8":
            spelled = pickle.GLOBAL + b"builtins\nbytearray\n" + _latin1_bytes(arg) + pickle.TUPLE1
            self.out.append((spelled + pickle.REDUCE, None))
        elif name == "MEMOIZE":
            self.put(len(self.memo_slots))
        elif name in _PUTS:
            self.put(int(arg))
        elif name in _GETS:
            self.get(int(arg))
        elif name == "STACK_GLOBAL":
            self.stack_global()
        else:
            raise pickle.UnpicklingError(f"Unsupported operand {name}")


def _latin1_bytes(data: bytes) -> bytes:
    """``_codecs.encode(data.decode("latin1"), "latin1")``: how protocol 2 spells a bytes object."""
    return (pickle.GLOBAL + b"_codecs\nencode\n" + _unicode(data.decode("latin1")) + _unicode("latin1")
            + pickle.TUPLE2 + pickle.REDUCE)  # fmt: skip


def to_protocol2(file: IO[bytes]) -> bytes:
    """One pickle read from ``file`` (up to its STOP), rewritten into torch-parsable protocol 2."""
    source, rewriter = _Recorder(file), _Rewriter()
    try:
        for opcode, arg, _ in pickletools.genops(source):
            rewriter.feed(opcode.name, arg, source.take())
    except (ValueError, struct.error) as err:  # truncated or malformed stream
        raise ValueError(f"malformed pickle: {err}") from None
    return b"".join(raw for raw, _ in rewriter.out)


class WeightsOnlyUnpickler(_weights_only_unpickler.Unpickler):
    """torch's weights-only unpickler over the protocol-2 rewrite of the stream (see the module doc)."""

    def __init__(self, file: IO[bytes], *, encoding: str = "bytes", **_: Any) -> None:
        super().__init__(io.BytesIO(to_protocol2(file)), encoding=encoding)


def load(file: IO[bytes], **kwargs: Any) -> Any:
    return WeightsOnlyUnpickler(file, **kwargs).load()


Unpickler = WeightsOnlyUnpickler  # torch.load(pickle_module=this module) subclasses and calls these
