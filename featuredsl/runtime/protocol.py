"""The /predict protocol of `featuredsl serve`: the request body, its rows in the conformance
kit's lossless encoding, the error body, the encoded outputs. Pure functions, no HTTP.

    request   {"rows": [{"age": 31.5, "clicks_7d": "3", ...}], "request_id"?, "fingerprint"?}
              or a bare JSON array of rows
    answer    {"request_id", "fingerprint", "rows", "feature_names",
               "outputs": {name: {"dtype", "shape", "data"}}}
    error     {"error": kind, "message", "column", "row"}

Encoding (featuredsl.artifact.conformance.encoding): floats as JSON numbers or "NaN",
"Infinity", "-Infinity", "-0.0"; ints and timestamps (int64 microseconds UTC) as decimal
strings; bools and strings as themselves; null only in nullable columns.
"""

from __future__ import annotations

import ast
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from featuredsl.artifact.conformance.encoding import (
    EncodingError,
    decode_float,
    decode_int,
    encode_tensor,
)
from featuredsl.compiler.ir import EventSource, InputColumn
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError, FeatureDSLError
from featuredsl.runtime.serving import SOURCE

MAX_BODY_BYTES = 16 * 1024 * 1024
# A column name as the messages write it: Python's repr, in single or double quotes.
_COLUMN = re.compile(r"""column ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
_ROW = re.compile(r"\brow (\d+)\b")
_SOURCE = re.compile(r"""event source ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
_EVENT = re.compile(r"\bevent (\d+)\b")


class BadRequest(FeatureDSLError):
    """A request the server refuses: its HTTP status, error kind and message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


@dataclass(frozen=True)
class Request:
    """A parsed /predict body: the rows still in the lossless encoding, and the envelope."""

    rows: list[Any]
    request_id: str
    fingerprint: str | None


def parse_body(body: bytes) -> Request:
    """The /predict body: `{"rows": [...], "request_id"?, "fingerprint"?}` or a bare array.

    Raises:
        BadRequest: not UTF-8 JSON (kind "malformed_json"), or not that shape ("bad_request").
    """
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, "too_large", f"{SOURCE}: more than {MAX_BODY_BYTES:,} bytes")
    try:
        document = json.loads(
            body.decode("utf-8"),
            parse_constant=_no_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except UnicodeDecodeError as err:
        raise BadRequest(
            400, "malformed_json", f"{SOURCE}: is not UTF-8 (byte {err.start})"
        ) from None
    except json.JSONDecodeError as err:
        raise BadRequest(
            400,
            "malformed_json",
            f"{SOURCE}: is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})",
        ) from None
    except ValueError as err:  # NaN / Infinity as bare JSON constants
        raise BadRequest(400, "malformed_json", f"{SOURCE}: {err}") from None
    if isinstance(document, list):
        return Request(document, uuid.uuid4().hex, None)
    if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
        raise BadRequest(
            400,
            "bad_request",
            f'{SOURCE}: send {{"rows": [{{column: value, ...}}, ...]}} (or a JSON array of '
            "row objects); values in the lossless encoding of docs/serving.md",
        )
    unknown = sorted(set(document) - {"rows", "request_id", "fingerprint"})
    if unknown:
        raise BadRequest(
            400,
            "bad_request",
            f"{SOURCE}: unknown field(s) {unknown}; the body has rows, request_id, fingerprint",
        )
    request_id = document.get("request_id", uuid.uuid4().hex)
    fingerprint = document.get("fingerprint")
    for key, value in (("request_id", request_id), ("fingerprint", fingerprint)):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 200):
            raise BadRequest(400, "bad_request", f"{SOURCE}: {key} must be a non-empty string")
    return Request(document["rows"], request_id, fingerprint)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(
            f'the number {text[:40]} is beyond float64; write "Infinity" or "-Infinity" if you '
            "mean it (lossless encoding)"
        )
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all distinct: `{"age": 1, "age": 2}` is ambiguous (which
    value did the client mean?), so it is refused rather than read as the last one."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(
        f'bare {name} is not JSON; write the string "{name}" in a float column (lossless encoding)'
    )


def decode_request_rows(
    rows: Sequence[Any],
    inputs: Sequence[InputColumn],
    sources: Sequence[EventSource] = (),
) -> list[Any]:
    """JSON rows in the lossless encoding -> rows of Python values for Session.validate.

    Declared float columns take a number or a tag ("NaN", ...), int and timestamp columns a
    decimal string (timestamps in int64 microseconds UTC); bools and strings pass as they are
    and null stays None, for the Session to check. Undeclared or missing columns are left for
    the Session to name (with its typo hints). For window aggregates, a row's events (a list
    under each source's name, docs/windows.md) are decoded the same way, per event column.

    Raises:
        DataError: a value the encoding cannot read, naming the column and the row (and the
            event).
    """
    by_name = {c.name: c for c in inputs}
    event_columns = {s.name: {c.name: c for c in s.columns} for s in sources}
    decoded: list[Any] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            decoded.append(row)  # the Session names the row and what it should be
            continue
        out = {}
        for name, cell in row.items():
            if name in event_columns and isinstance(cell, list):
                out[name] = [
                    _event(name, event_columns[name], e, index, k) for k, e in enumerate(cell)
                ]
                continue
            column = by_name.get(name)
            out[name] = cell if column is None or cell is None else _cell(column, cell, index)
        decoded.append(out)
    return decoded


def _event(
    source: str, columns: Mapping[str, InputColumn], event: Any, row: int, index: int
) -> Any:
    if not isinstance(event, dict):
        return event  # the Session names the row, the event and what it should be
    return {
        name: cell
        if columns.get(name) is None or cell is None
        else _cell(columns[name], cell, row, f", event {index}", f"event source {source!r}, ")
        for name, cell in event.items()
    }


def _cell(column: InputColumn, cell: Any, row: int, event: str = "", owner: str = "") -> Any:
    where = f"{SOURCE}: {owner}column {column.name!r}, row {row}{event}"
    try:
        if column.dtype is DType.FLOAT:
            return decode_float(cell, where)
        if column.dtype in (DType.INT, DType.TIMESTAMP):
            return decode_int(cell, where)
    except EncodingError as err:
        raise DataError(f"{err}; expected {column.dtype}{'?' if column.nullable else ''}") from None
    except OverflowError:
        raise DataError(f"{where}: {cell} is beyond float64; expected {column.dtype}") from None
    return cell


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The JSON of an error response: kind, message, and the column and row it names (and,
    for a row's events, the event source and the event's position in the row's list)."""
    column = _COLUMN.search(message)
    row = _ROW.search(message)
    body = {
        "error": kind,
        "message": message,
        "column": ast.literal_eval(column.group(1)) if column else None,
        "row": int(row.group(1)) if row else None,
    }
    source = _SOURCE.search(message)
    if source:
        event = _EVENT.search(message)
        body["source"] = ast.literal_eval(source.group(1))
        body["event"] = int(event.group(1)) if event else None
    return body


def encode_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Every output as {"dtype", "shape", "data"} in the lossless encoding."""
    return {name: encode_tensor(np.asarray(value)) for name, value in outputs.items()}
