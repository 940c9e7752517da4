"""Checkpoints as bytes without pickle: a JSON header describing the structure,
then the raw bytes of every tensor.

Layout: 8-byte little-endian header length, the JSON header, tensor bytes.
The header is the state with each tensor replaced by
``{"__tensor__": [offset, nbytes, dtype, shape]}``. Loading executes nothing
from the data, unlike ``torch.load`` of a pickle.
"""
from __future__ import annotations

import json
import struct
from typing import Any

import torch

_MAGIC = b"MLTCKPT1"
_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8, torch.int8,
    torch.int16, torch.int32, torch.int64, torch.bool)}


class CheckpointError(ValueError):
    """The bytes are not a checkpoint this version can read."""


def pack_state(state: Any) -> bytes:
    """Serialise nested dicts / lists of tensors, numbers, strings, None."""
    blobs: list[bytes] = []
    offset = 0

    def encode(value: Any) -> Any:
        nonlocal offset
        if isinstance(value, torch.Tensor):
            t = value.detach().to("cpu").contiguous()
            name = str(t.dtype).removeprefix("torch.")
            if name not in _DTYPES:
                raise CheckpointError(f"cannot store tensors of {t.dtype}")
            raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
            blobs.append(raw)
            ref = {"__tensor__": [offset, len(raw), name, list(t.shape)]}
            offset += len(raw)
            return ref
        if isinstance(value, dict):
            if not all(isinstance(k, (str, int)) for k in value):
                raise CheckpointError("dict keys must be str or int")
            # JSON keys are strings: remember which were ints (optimizer state uses them)
            return {"__dict__": [[k, encode(v)] for k, v in value.items()]}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise CheckpointError(f"cannot store a {type(value).__name__}")

    header = json.dumps(encode(state)).encode()
    return _MAGIC + struct.pack("<Q", len(header)) + header + b"".join(blobs)


def unpack_state(data: bytes) -> Any:
    """The inverse of pack_state; tensors come back on the CPU."""
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 8:
        raise CheckpointError("not an mltrack checkpoint")
    (length,) = struct.unpack_from("<Q", data, len(_MAGIC))
    start = len(_MAGIC) + 8
    try:
        header = json.loads(data[start:start + length])
    except ValueError as exc:
        raise CheckpointError(f"corrupt checkpoint header: {exc}") from None
    body = memoryview(data)[start + length:]

    def decode(value: Any) -> Any:
        if isinstance(value, dict) and "__tensor__" in value:
            off, nbytes, name, shape = value["__tensor__"]
            if name not in _DTYPES or off + nbytes > len(body):
                raise CheckpointError("corrupt checkpoint tensor")
            raw = torch.frombuffer(bytearray(body[off:off + nbytes]), dtype=torch.uint8) \
                if nbytes else torch.empty(0, dtype=torch.uint8)
            return raw.view(_DTYPES[name]).reshape(shape)
        if isinstance(value, dict) and "__dict__" in value:
            return {k: decode(v) for k, v in value["__dict__"]}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    return decode(header)
