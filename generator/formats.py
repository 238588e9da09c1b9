"""Readers for the headers of model files, from their bytes alone: nothing here loads a framework.

Each reader takes the file's bytes (an mmap: a large model is paged in only where it is read) and
returns the few facts deploygen needs, or raises FormatError when the bytes are not what they claim
to be (corrupt or cut short). The formats are public: protocol buffers' wire format (ONNX),
Universal Binary JSON (XGBoost's .ubj), LightGBM's text model and safetensors' JSON header.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any


class FormatError(ValueError):
    """The bytes do not hold a well-formed file of the expected kind."""


# --- protocol buffers (ONNX) -------------------------------------------------------------------

def _varint(data, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise FormatError("ends inside a number")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise FormatError("holds a number longer than 64 bits")


def _fields(data, start: int = 0, end: int | None = None):
    """(field number, wire type, value) of one message; value is an int or (start, end) of the bytes."""
    pos, end = start, len(data) if end is None else end
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise FormatError("holds field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = (pos, pos + 8), pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = (pos, pos + length), pos + length
        elif wire == 5:
            value, pos = (pos, pos + 4), pos + 4
        else:
            raise FormatError(f"uses wire type {wire}, which ONNX never writes")
        if pos > end:
            raise FormatError("ends inside a field")
        yield number, wire, value


def _text(data, span: tuple[int, int]) -> str:
    return bytes(data[span[0]:span[1]]).decode("utf-8", "replace")


@dataclass(frozen=True)
class TensorInput:
    name: str
    elem_type: int  # TensorProto.DataType: 1 float, 11 double, 7 int64, 6 int32, 8 string, 9 bool
    shape: tuple[int | str | None, ...] | None  # int: fixed; str: symbolic; None: unknown


@dataclass(frozen=True)
class OnnxHeader:
    ir_version: int
    opsets: dict[str, int]  # domain ("" is ai.onnx) -> version
    producer: str
    inputs: tuple[TensorInput, ...]  # graph inputs that are not initializers
    outputs: tuple[str, ...]


def onnx_header(data) -> OnnxHeader:
    """The ModelProto's IR version, opsets, producer and graph inputs."""
    ir_version, opsets, producer, graph = None, {}, "", None
    for number, wire, value in _fields(data):
        if number == 1 and wire == 0:
            ir_version = value
        elif number == 2 and wire == 2:
            producer = _text(data, value)
        elif number == 7 and wire == 2:
            graph = value
        elif number == 8 and wire == 2:
            domain, version = "", None
            for n, w, v in _fields(data, *value):
                if n == 1 and w == 2:
                    domain = _text(data, v)
                elif n == 2 and w == 0:
                    version = v
            if version is not None:
                opsets[domain or "ai.onnx"] = version
    if not ir_version or graph is None or not opsets:
        raise FormatError("lacks the IR version, the graph or the opset of an ONNX model")
    inputs, outputs, initializers = [], [], set()
    for number, wire, value in _fields(data, *graph):
        if number == 11 and wire == 2:
            inputs.append(_value_info(data, value))
        elif number == 12 and wire == 2:
            outputs.append(_value_info(data, value).name)
        elif number == 5 and wire == 2:  # an initializer (TensorProto); its name is field 8
            initializers.update(_text(data, v) for n, w, v in _fields(data, *value) if n == 8 and w == 2)
    return OnnxHeader(ir_version, opsets, producer,
                      tuple(i for i in inputs if i.name not in initializers), tuple(outputs))


def _value_info(data, span) -> TensorInput:
    name, elem_type, shape = "", 0, None
    for number, wire, value in _fields(data, *span):
        if number == 1 and wire == 2:
            name = _text(data, value)
        elif number == 2 and wire == 2:  # TypeProto; field 1 is a tensor type
            for n, w, v in _fields(data, *value):
                if n == 1 and w == 2:
                    elem_type, shape = _tensor_type(data, v)
    return TensorInput(name, elem_type, shape)


def _tensor_type(data, span):
    elem_type, shape = 0, None
    for number, wire, value in _fields(data, *span):
        if number == 1 and wire == 0:
            elem_type = value
        elif number == 2 and wire == 2:
            shape = []
            for n, w, dim in _fields(data, *value):
                if n == 1 and w == 2:
                    size = None
                    for dn, dw, dv in _fields(data, *dim):
                        size = dv if dn == 1 and dw == 0 else _text(data, dv) if dn == 2 and dw == 2 else size
                    shape.append(size)
            shape = tuple(shape)
    return elem_type, shape


# --- Universal Binary JSON (XGBoost .ubj) ------------------------------------------------------

_UBJ_NUMBERS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q", b"d": ">f", b"D": ">d"}


@dataclass
class _Ubj:
    data: Any
    pos: int = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError("ends before its last value")
        chunk = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return chunk

    def value(self, marker: bytes | None = None) -> Any:
        marker = marker or self.take(1)
        if marker in _UBJ_NUMBERS:
            fmt = _UBJ_NUMBERS[marker]
            return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        if marker in (b"S", b"H"):
            return self.take(self.length()).decode("utf-8", "replace")
        if marker == b"C":
            return self.take(1).decode("latin-1")
        if marker in (b"T", b"F", b"Z"):
            return {b"T": True, b"F": False, b"Z": None}[marker]
        if marker == b"[":
            return self.container(array=True)
        if marker == b"{":
            return self.container(array=False)
        raise FormatError(f"holds an unknown UBJSON marker {marker!r}")

    def length(self) -> int:
        n = self.value()
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise FormatError("holds a negative or non-integer length")
        return n

    def container(self, array: bool):
        kind = count = None
        if self.data[self.pos:self.pos + 1] == b"$":
            self.pos += 1
            kind = self.take(1)
        if self.data[self.pos:self.pos + 1] == b"#":
            self.pos += 1
            count = self.length()
        if array and kind in _UBJ_NUMBERS and count is not None:
            self.take(count * struct.calcsize(_UBJ_NUMBERS[kind]))  # a typed array: skipped, its size kept
            return _SkippedArray(count)
        items: list = []
        result: dict = {}
        while count is None or len(items if array else result) < count:
            if count is None and self.data[self.pos:self.pos + 1] in (b"]", b"}"):
                self.pos += 1
                break
            if not array:
                key = self.take(self.length()).decode("utf-8", "replace")
            item = self.value(kind)
            if array:
                items.append(item)
            else:
                result[key] = item
        return items if array else result


@dataclass(frozen=True)
class _SkippedArray:
    count: int


def ubjson(data) -> dict:
    """The document of a UBJSON file, with typed numeric arrays skipped (XGBoost's tree arrays)."""
    reader = _Ubj(data)
    if reader.take(1) != b"{":
        raise FormatError("does not start with a UBJSON object")
    document = reader.container(array=False)
    if reader.pos != len(data):
        raise FormatError("holds bytes after its end")
    return document


# --- LightGBM text model -----------------------------------------------------------------------

@dataclass(frozen=True)
class LightGBMHeader:
    version: str  # the model format, e.g. v4
    num_class: int
    max_feature_idx: int
    objective: str
    feature_names: tuple[str, ...] = ()
    feature_infos: tuple[str, ...] = field(default=())


def lightgbm_header(data) -> LightGBMHeader:
    end = data.find(b"\n\n")
    head = bytes(data[:end if end >= 0 else 65536]).decode("utf-8", "replace")
    lines = head.replace("\r\n", "\n").split("\n")
    if lines[0] != "tree":
        raise FormatError("does not start with LightGBM's 'tree' line")
    values = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    try:
        header = LightGBMHeader(values["version"], int(values["num_class"]), int(values["max_feature_idx"]),
                                values.get("objective", ""), tuple(values.get("feature_names", "").split()),
                                tuple(values.get("feature_infos", "").split()))
    except (KeyError, ValueError) as err:
        raise FormatError(f"has a header without a valid {err}") from None
    if data.rfind(b"end of trees") < 0:
        raise FormatError("has no 'end of trees' line: it was cut short")
    return header


# --- safetensors -------------------------------------------------------------------------------

def safetensors_header(data) -> dict:
    """The JSON header of a safetensors file, after checking that the tensors it lists fit the file."""
    if len(data) < 8:
        raise FormatError("is shorter than the safetensors header")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8 or size > 100 * 1024**2:
        raise FormatError("has a header longer than the file")
    try:
        header = json.loads(bytes(data[8:8 + size]))
    except ValueError:
        raise FormatError("has a header that is not JSON") from None
    if not isinstance(header, dict):
        raise FormatError("has a header that is not a JSON object")
    ends = [entry["data_offsets"][1] for name, entry in header.items()
            if name != "__metadata__" and isinstance(entry, dict) and len(entry.get("data_offsets", ())) == 2]
    if 8 + size + max(ends, default=0) != len(data):
        raise FormatError("does not hold the bytes its header lists: it was cut short or padded")
    return header
