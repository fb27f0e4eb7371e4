"""Exact, pickle-free encoding of a dict of numpy arrays as Arrow IPC bytes.

Each entry becomes one large_list column holding a single row: the array's values flattened
in C order. The field metadata keeps the numpy dtype and shape, so decoding gives back the same
dtype, shape and bits (NaN payloads, -0.0, inf, int64 extremes, bools, any unicode string).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa

from featuredsl.errors import DataError

_OBJECT = "object"


def _values(name: str, array: np.ndarray) -> tuple[pa.Array, str]:
    flat = np.ascontiguousarray(array).reshape(-1)
    kind = array.dtype.kind
    if kind in "biuf":
        return pa.array(flat), array.dtype.str
    if kind in "mM":
        return pa.array(flat.view(np.int64)), array.dtype.str
    if kind == "U":
        return _strings(name, flat.tolist()), array.dtype.str
    if kind == "O":
        items = flat.tolist()
        bad_at = next((i for i, v in enumerate(items) if not isinstance(v, str)), None)
        if bad_at is not None:
            bad = items[bad_at]
            raise DataError(
                f"input '{name}' holds a {type(bad).__name__} ({bad!r}); string inputs must hold "
                f"str only (nulls go in '{name}.is_null')"
            )
        return _strings(name, items), _OBJECT
    raise DataError(f"input '{name}' has dtype {array.dtype}, which the serving log cannot store")


def _strings(name: str, items: list[str]) -> pa.Array:
    try:
        return pa.array(items, type=pa.large_string())
    except (pa.ArrowException, UnicodeEncodeError) as err:
        raise DataError(
            f"input '{name}' holds a string that is not valid Unicode ({err})"
        ) from None


# Explicit options: the default looks up environment variables on every writer.
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions()


@lru_cache(maxsize=256)
def _schema(signature: tuple[tuple[str, str, str, str], ...]) -> pa.Schema:
    """One schema per feed layout (names, dtypes, trailing shape), built once and reused."""
    return pa.schema(
        pa.field(
            name,
            pa.large_list(pa.type_for_alias(value_type)),
            nullable=False,
            metadata={"dtype": dtype, "shape": shape},
        )
        for name, value_type, dtype, shape in signature
    )


def _shape_text(shape: tuple[int, ...]) -> str:
    # The leading (row) dimension is stored as -1 so that one schema serves every batch size;
    # it comes back from the number of values. Exact shapes when that would be ambiguous.
    if len(shape) == 0 or 0 in shape[1:]:
        return json.dumps(list(shape))
    return json.dumps([-1, *shape[1:]])


def encode_arrays(arrays: Mapping[str, Any]) -> bytes:
    signature, columns = [], []
    for name, value in arrays.items():
        array = np.asarray(value)
        values, dtype = _values(name, array)
        offsets = pa.array(np.array([0, len(values)], dtype=np.int64))
        columns.append(pa.LargeListArray.from_arrays(offsets, values))
        signature.append((name, str(values.type), dtype, _shape_text(array.shape)))
    batch = pa.RecordBatch.from_arrays(columns, schema=_schema(tuple(signature)))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=_WRITE_OPTIONS) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def decode_arrays(data: bytes) -> dict[str, np.ndarray]:
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    out: dict[str, np.ndarray] = {}
    for index, field in enumerate(table.schema):
        meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
        shape = tuple(json.loads(meta["shape"]))
        dtype = meta["dtype"]
        chunk = table.column(index).chunk(0)
        values = chunk.values.slice(chunk.offsets[0].as_py(), chunk.value_lengths()[0].as_py())
        flat = values.to_numpy(zero_copy_only=False)
        if dtype == _OBJECT:
            array = np.empty(len(flat), dtype=object)
            array[:] = list(flat)
        elif np.dtype(dtype).kind in "mM":
            array = np.asarray(flat, dtype=np.int64).view(np.dtype(dtype))
        else:
            array = np.array(flat, dtype=np.dtype(dtype))  # a copy: writeable, owns its memory
        out[field.name] = array.reshape(shape)
    return out
