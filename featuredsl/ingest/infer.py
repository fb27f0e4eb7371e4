"""Infer a spec's input columns from a data file (`featuredsl init --from-data PATH`).

Each column gets a featuredsl type and nullability from the file's own types (Parquet) or from
pyarrow's inference on the text (CSV/TSV, read with the same null rules as `featuredsl build`:
an empty field is null, "NA" is text). A column whose type is a guess gets a note saying why:

* integers whose every value lies in the range of Unix times in seconds, milliseconds,
  microseconds or nanoseconds between 2001 and 2100 (featuredsl never reads integer time in a
  guessed unit: declared `int`, and the note says how to make it a `timestamp`);
* integer-looking text with leading zeros ("00123": a code, declared `string`);
* date-times without a UTC offset (featuredsl refuses naive timestamps), dates, decimals;
* columns with no value at all (type unknown, declared `string?`);
* columns featuredsl cannot take as an input (lists, structs, binary): listed and skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from featuredsl.compiler.types import DType
from featuredsl.errors import DataError
from featuredsl.ingest.files import read_table, text_delimiter, text_options

EPOCH_FLAG = {"seconds": "s", "milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}
# Unix time of 2001-09-09 (1e9 s) to 2100-01-01 in each unit, as [low, high] bounds.
EPOCH_SECONDS = (1_000_000_000, 4_102_444_800)
EPOCH_UNITS = {
    "seconds": 1,
    "milliseconds": 1_000,
    "microseconds": 1_000_000,
    "nanoseconds": 1_000_000_000,
}


@dataclass(frozen=True)
class InferredColumn:
    """One column of the file: its name, featuredsl type (None: cannot be an input),
    nullability, and a note when the type is a guess or the column is skipped."""

    name: str
    dtype: DType | None
    nullable: bool
    note: str = ""
    all_null: bool = False


def infer_columns(path: str | Path, *, null_values: Sequence[str] = ()) -> list[InferredColumn]:
    """The columns of a Parquet, CSV or TSV file, in file order.

    Raises:
        DataError: the file cannot be read, or has no columns.
    """
    delimiter = text_delimiter(path)
    if delimiter is None:
        table = read_table(path)
        text = None
    else:
        table, text = _read_text(Path(path), delimiter, null_values)
    if not table.column_names:
        raise DataError(f"{path}: has no columns")
    return [
        _infer(
            name,
            table.column(i),
            None if text is None else text.column(i),
        )
        for i, name in enumerate(table.column_names)
    ]


def _read_text(path: Path, delimiter: str, null_values: Sequence[str]) -> tuple[pa.Table, pa.Table]:
    """The file with pyarrow's type inference, and the same file as text."""
    import pyarrow.csv as pcsv

    parse, convert = text_options(delimiter, null_values)
    try:
        inferred = pcsv.read_csv(path, parse_options=parse, convert_options=convert)
        names = inferred.column_names
        _, as_text = text_options(delimiter, null_values, {n: pa.string() for n in names})
        text = pcsv.read_csv(path, parse_options=parse, convert_options=as_text)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: cannot read it ({err})") from None
    return inferred, text


def _infer(name: str, column: pa.ChunkedArray, text: pa.ChunkedArray | None) -> InferredColumn:
    kind = column.type
    nulls = column.null_count
    nullable = nulls > 0
    if (len(column) > 0 and nulls == len(column)) or pa.types.is_null(kind):
        return InferredColumn(
            name,
            DType.STRING,
            True,
            "every value is null: its type cannot be inferred; declare the type it holds",
            all_null=True,
        )
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_boolean(kind):
        return InferredColumn(name, DType.BOOL, nullable)
    if pa.types.is_integer(kind):
        if text is not None and _leading_zeros(text):
            return InferredColumn(
                name,
                DType.STRING,
                nullable,
                "integer-looking text with leading zeros (a code?): declared string, which "
                "keeps them; declare int if it is a number",
            )
        return InferredColumn(name, DType.INT, nullable, _epoch_note(column))
    if pa.types.is_floating(kind):
        # NaN is a float column's null (the rule of every featuredsl reader).
        nan = int(pc.sum(pc.is_nan(column.combine_chunks()).cast(pa.int64())).as_py() or 0)
        return InferredColumn(name, DType.FLOAT, nullable or nan > 0)
    if pa.types.is_decimal(kind):
        return InferredColumn(
            name,
            DType.FLOAT,
            nullable,
            "decimal in the file: featuredsl does not round decimals silently, so build refuses "
            "the column as it is; cast it to float64 in the file (or to int if it is scaled) first",
        )
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            return InferredColumn(
                name,
                DType.TIMESTAMP,
                nullable,
                "date-times without a UTC offset: featuredsl refuses naive timestamps; write "
                "them with an offset ('Z' or '+01:00') or as tz-aware values",
            )
        return InferredColumn(name, DType.TIMESTAMP, nullable)
    if pa.types.is_date(kind):
        return InferredColumn(
            name,
            DType.TIMESTAMP,
            nullable,
            "dates: featuredsl takes instants; write them as midnight UTC ('2024-01-31T00:00:00Z')"
            " or declare string",
        )
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return InferredColumn(name, DType.STRING, nullable)
    return InferredColumn(
        name,
        None,
        nullable,
        f"type {kind} cannot be an input (featuredsl reads scalar columns only)",
    )


def _leading_zeros(text: pa.ChunkedArray) -> bool:
    matches = pc.match_substring_regex(text, r"^-?0[0-9]")
    return bool(pc.any(matches).as_py())


def _epoch_note(column: pa.ChunkedArray) -> str:
    """A note when every value lies in one unit's range of plausible Unix times."""
    low, high = pc.min(column).as_py(), pc.max(column).as_py()
    if low is None:
        return ""
    for unit, scale in EPOCH_UNITS.items():
        if EPOCH_SECONDS[0] * scale <= low and high <= EPOCH_SECONDS[1] * scale:
            return (
                f"integers that look like Unix time in {unit}: declared int, since featuredsl "
                "never reads integer time in a guessed unit; to use it as time, declare it "
                f"timestamp and state the unit: --timestamp-unit {EPOCH_FLAG[unit]} "
                f"(timestamp_unit='{EPOCH_FLAG[unit]}' in Python)"
            )
    return ""
