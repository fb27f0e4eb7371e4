"""The conformance encoding: request rows and outputs as lossless, language-neutral JSON.

One rule per type, so that a client in any language reads back exactly the bits the numpy
module saw (docs/serving.md, "Serving from another language"):

    float      a JSON number when finite and not -0.0 (the shortest decimal that reads back to
               the same float64, as Python's repr and JavaScript's JSON.stringify write it);
               otherwise one of the strings "NaN", "Infinity", "-Infinity", "-0.0"
    int        always a string of decimal digits ("-9223372036854775808"): JSON numbers lose
               integers beyond 2^53 in JavaScript and many other parsers
    timestamp  as int: int64 microseconds since 1970-01-01T00:00:00Z, as a decimal string
    bool       true / false
    string     a JSON string (the file is ASCII; other characters are \\u escapes)
    null       JSON null, allowed in nullable columns only. A client builds the graph's inputs
               from it per the contract: NaN in a float column; in any other column a
               placeholder value (0, false, "", 0) plus True in the companion mask input
               `<name>.is_null`

NaN payloads are not kept (every NaN is "NaN"); parity compares NaN equal to NaN.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from featuredsl.artifact import contract
from featuredsl.errors import FeatureDSLError

FORMAT = "featuredsl-conformance/1"
FLOAT_TAGS: dict[str, float] = {
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
    "-0.0": -0.0,
}
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
INTEGER_PATTERN = "^" + _INTEGER.pattern + "$"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Graph-level tensor dtypes a conformance document can carry (Runtime.run's feeds and outputs).
TENSOR_DTYPES = ("float64", "float32", "int64", "int32", "bool", "string")
PLACEHOLDERS: dict[str, Any] = {"int": 0, "timestamp": 0, "bool": False, "string": ""}


class EncodingError(FeatureDSLError, ValueError):
    """A value that the conformance encoding cannot carry, or a document that breaks it."""


def encode_float(value: float) -> float | str:
    """A float64 as a JSON number, or as a tag for NaN, +-inf and -0.0 (see the module doc)."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0.0 and math.copysign(1.0, value) < 0:
        return "-0.0"
    return value


def decode_float(value: Any, where: str = "value") -> float:
    """The float64 a JSON number or tag stands for; EncodingError naming `where` otherwise."""
    if isinstance(value, str):
        if value in FLOAT_TAGS:
            return FLOAT_TAGS[value]
        raise EncodingError(
            f"{where}: {value!r} is not a float; use a JSON number or one of {sorted(FLOAT_TAGS)}"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EncodingError(f"{where}: {value!r} is not a float")
    return float(value)


def encode_int(value: int) -> str:
    """An int64 (or timestamp in microseconds) as a decimal string."""
    return str(int(value))


def decode_int(value: Any, where: str = "value") -> int:
    """The int64 a decimal string stands for; EncodingError naming `where` otherwise."""
    if not isinstance(value, str) or not _INTEGER.fullmatch(value):
        raise EncodingError(f'{where}: {value!r} is not an int64 as a decimal string (e.g. "-42")')
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise EncodingError(f"{where}: {value} is outside int64")
    return number


def column_mask(column: Mapping[str, Any]) -> str | None:
    """The companion null-mask input of a manifest input entry (nullable non-float columns)."""
    if column["nullable"] and column["dtype"] != "float":
        return contract.mask_name(column["name"])
    return None


def encode_rows(
    feed: Mapping[str, np.ndarray],
    inputs: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Feed (one 1-D array per declared column, plus masks) -> one JSON object per row.

    `inputs` are manifest entries {"name", "dtype", "nullable"}. A NaN in a nullable float
    column and a masked value in any other nullable column become null. `events` are the
    manifest's event sources (docs/windows.md): each row then holds, under a source's name, the
    list of its events, each an object of the source's columns encoded the same way (the
    request format of window aggregates; the feed holds `source.offsets` and `source.column`).
    """
    out = _encode_columns(feed, inputs)
    for source in events:
        name = source["name"]
        offsets = np.asarray(feed[f"{name}.offsets"]).tolist()
        columns = [{**c, "name": f"{name}.{c['name']}"} for c in source["columns"]]
        flat = _encode_columns(feed, columns)
        fields = [c["name"] for c in source["columns"]]
        for row, (start, end) in enumerate(pairwise(offsets)):
            out[row][name] = [
                {field: flat[e][f"{name}.{field}"] for field in fields} for e in range(start, end)
            ]
    return out


def _encode_columns(
    feed: Mapping[str, np.ndarray], inputs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One JSON object per position of the inputs' arrays (all of one length)."""
    columns = []
    for column in inputs:
        name, dtype = column["name"], column["dtype"]
        mask = column_mask(column)
        values = feed[name]
        nulls = feed[mask] if mask is not None else None
        columns.append(
            (name, [_encode_cell(dtype, column["nullable"], v) for v in values.tolist()], nulls)
        )
    rows = len(feed[inputs[0]["name"]]) if inputs else 0
    out: list[dict[str, Any]] = [{} for _ in range(rows)]
    for name, cells, nulls in columns:
        for index, cell in enumerate(cells):
            out[index][name] = None if nulls is not None and nulls[index] else cell
    return out


def _encode_cell(dtype: str, nullable: bool, value: Any) -> Any:
    if dtype == "float":
        if nullable and math.isnan(value):
            return None
        return encode_float(value)
    if dtype in ("int", "timestamp"):
        return encode_int(value)
    if dtype == "bool":
        return bool(value)
    if dtype == "string":
        return str(value)
    raise EncodingError(f"unknown input dtype {dtype!r}")


def decode_rows(
    rows: Sequence[Mapping[str, Any]], inputs: Sequence[Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """JSON rows -> the feed, masks included: the inverse of `encode_rows`."""
    feed: dict[str, np.ndarray] = {}
    for column in inputs:
        name, dtype, nullable = column["name"], column["dtype"], column["nullable"]
        values, nulls = [], []
        for index, row in enumerate(rows):
            where = f"row {index}, column {name!r}"
            if name not in row:
                raise EncodingError(f"{where}: missing")
            cell = row[name]
            nulls.append(cell is None)
            if cell is None:
                if not nullable:
                    raise EncodingError(f"{where}: null in a column that is not nullable")
                values.append(math.nan if dtype == "float" else PLACEHOLDERS[dtype])
            elif dtype == "float":
                values.append(decode_float(cell, where))
            elif dtype in ("int", "timestamp"):
                values.append(decode_int(cell, where))
            elif dtype == "bool":
                if not isinstance(cell, bool):
                    raise EncodingError(f"{where}: {cell!r} is not true or false")
                values.append(cell)
            elif not isinstance(cell, str):
                raise EncodingError(f"{where}: {cell!r} is not a string")
            else:
                values.append(cell)
        feed[name] = _array(dtype, values)
        mask = column_mask(column)
        if mask is not None:
            feed[mask] = np.array(nulls, dtype=np.bool_)
    return feed


def _array(dtype: str, values: list[Any]) -> np.ndarray:
    if dtype == "string":
        return np.array(values, dtype=object)
    kind = {"float": np.float64, "bool": np.bool_}.get(dtype, np.int64)
    return np.array(values, dtype=kind)


def encode_matrix(matrix: np.ndarray) -> list[list[float | str]]:
    """A float64 [N, F] matrix (the `features` output) as N lists of encoded floats."""
    if matrix.ndim != 2 or matrix.dtype != np.float64:
        raise EncodingError(f"expected a float64 [N, F] matrix, got {matrix.dtype} {matrix.shape}")
    # Vectorised encode_float: Python floats everywhere, tags where a number cannot stand.
    cells = matrix.astype(object)
    cells[np.isnan(matrix)] = "NaN"
    cells[np.isposinf(matrix)] = "Infinity"
    cells[np.isneginf(matrix)] = "-Infinity"
    cells[(matrix == 0.0) & np.signbit(matrix)] = "-0.0"
    out: list[list[float | str]] = cells.tolist()
    return out


def decode_matrix(rows: Sequence[Sequence[Any]], width: int) -> np.ndarray:
    """N lists of encoded floats -> a float64 [N, width] matrix."""
    out = np.empty((len(rows), width), dtype=np.float64)
    for index, row in enumerate(rows):
        if len(row) != width:
            raise EncodingError(f"row {index}: {len(row)} values, expected {width}")
        out[index] = [decode_float(v, f"row {index}") for v in row]
    return out


def tensor_dtype(array: np.ndarray) -> str:
    """The conformance name of an array's dtype: float64, float32, int64, int32, bool, string."""
    if array.dtype == object or array.dtype.kind in ("U", "T"):
        return "string"
    name = str(array.dtype)
    if name not in TENSOR_DTYPES:
        raise EncodingError(
            f"dtype {name} cannot be carried; use one of {', '.join(TENSOR_DTYPES)}"
        )
    return name


def encode_tensor(array: np.ndarray) -> dict[str, Any]:
    """Any tensor as {"dtype", "shape", "data"}: data flat in C order, each value encoded by
    its type's rule (float32 values are written as the float64 they widen to, exactly)."""
    dtype = tensor_dtype(array)
    flat = np.asarray(array).reshape(-1).tolist()
    if dtype in ("float64", "float32"):
        data: list[Any] = [encode_float(v) for v in flat]
    elif dtype in ("int64", "int32"):
        data = [encode_int(v) for v in flat]
    elif dtype == "bool":
        data = [bool(v) for v in flat]
    else:
        data = [str(v) for v in flat]
    return {"dtype": dtype, "shape": list(array.shape), "data": data}


def decode_tensor(tensor: Mapping[str, Any], where: str = "tensor") -> np.ndarray:
    """{"dtype", "shape", "data"} -> the numpy array, bit for bit (NaN payloads aside)."""
    dtype, shape, data = tensor["dtype"], tuple(tensor["shape"]), tensor["data"]
    if dtype in ("float64", "float32"):
        values: np.ndarray = np.array(
            [decode_float(v, where) for v in data], dtype=np.float64
        ).astype(dtype)
    elif dtype in ("int64", "int32"):
        values = np.array([decode_int(v, where) for v in data], dtype=dtype)
    elif dtype == "bool":
        values = np.array(data, dtype=np.bool_)
    elif dtype == "string":
        values = np.array(data, dtype=object)
    else:
        raise EncodingError(f"{where}: unknown dtype {dtype!r}")
    return values.reshape(shape)


def dumps(document: Mapping[str, Any]) -> bytes:
    """Canonical bytes of a conformance document: sorted keys, ASCII, one element of "rows"
    per line (readable diffs), a trailing newline. EncodingError if a non-finite float slipped
    through unencoded."""

    def text(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=True, allow_nan=False)

    try:
        head = text({k: v for k, v in document.items() if k != "rows"})
        if "rows" not in document:
            return (head + "\n").encode("ascii")
        rows = ",\n".join(text(row) for row in document["rows"])
    except ValueError as error:
        raise EncodingError(f"not encodable: {error}") from None
    separator = ", " if head != "{}" else ""
    return (head[:-1] + separator + '"rows": [\n' + rows + "\n]}\n").encode("ascii")
