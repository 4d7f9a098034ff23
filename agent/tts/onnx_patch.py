"""Expose a Piper voice's phoneme durations without the ``onnx`` package.

Piper's alignments are the VITS duration tensor (the output of the graph's single ``Ceil``
node). ``piper-tts[alignment]`` marks it as a graph output with the ``onnx`` package. Without
that package, this module does the same edit on the protobuf bytes. It finds the Ceil node's
output name, then appends a second ``graph`` field that holds just that one output. Protobuf
merges repeated occurrences of a message field, so ONNX Runtime reads one graph with one more
output. Only ``ModelProto.graph`` (7), ``GraphProto.node`` (1) / ``output`` (12),
``NodeProto.output`` (2) / ``op_type`` (4) and ``ValueInfoProto.name`` (1) are read; their
numbers are fixed by onnx.proto.
"""

from __future__ import annotations

from collections.abc import Iterator

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_MODEL_GRAPH, _GRAPH_NODE, _GRAPH_OUTPUT = 7, 1, 12
_NODE_OUTPUT, _NODE_OP_TYPE, _VALUE_INFO_NAME = 2, 4, 1


class PatchError(ValueError):
    """The model is not shaped as expected (no single Ceil node, or already patched)."""


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise PatchError("malformed varint")


def _fields(buf: memoryview) -> Iterator[tuple[int, int, memoryview | int]]:
    """(field number, wire type, payload) of each field of one message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, kind = key >> 3, key & 7
        if kind == _VARINT:
            value, i = _varint(buf, i)
            yield number, kind, value
        elif kind == _LEN:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise PatchError("truncated field")
            yield number, kind, buf[i:i + n]
            i += n
        elif kind == _I64:
            i += 8
        elif kind == _I32:
            i += 4
        else:
            raise PatchError(f"unsupported wire type {kind}")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _LEN) + _encode_varint(len(payload)) + payload


def ceil_output(model: bytes) -> str:
    """The name of the tensor that the graph's only Ceil node writes (the phoneme durations)."""
    found: list[str] = []
    outputs: set[str] = set()
    for number, kind, graph in _fields(memoryview(model)):
        if number != _MODEL_GRAPH or kind != _LEN:
            continue
        assert isinstance(graph, memoryview)
        for gnum, gkind, item in _fields(graph):
            if gkind != _LEN:
                continue
            assert isinstance(item, memoryview)
            if gnum == _GRAPH_NODE:
                op, outs = b"", []
                for nnum, nkind, value in _fields(item):
                    if nkind == _LEN and nnum == _NODE_OP_TYPE:
                        op = bytes(value)
                    elif nkind == _LEN and nnum == _NODE_OUTPUT:
                        outs.append(bytes(value).decode())
                if op == b"Ceil":
                    found.extend(outs)
            elif gnum == _GRAPH_OUTPUT:
                for vnum, vkind, value in _fields(item):
                    if vkind == _LEN and vnum == _VALUE_INFO_NAME:
                        outputs.add(bytes(value).decode())
    if len(found) != 1:
        raise PatchError(f"expected one Ceil tensor (the durations), found {len(found)}")
    if found[0] in outputs:
        raise PatchError(f"{found[0]} is already an output")
    return found[0]


def with_alignment_output(model: bytes) -> bytes:
    """``model`` with its duration tensor added to the graph outputs."""
    name = ceil_output(model).encode()
    value_info = _len_field(_VALUE_INFO_NAME, name)
    return model + _len_field(_MODEL_GRAPH, _len_field(_GRAPH_OUTPUT, value_info))
