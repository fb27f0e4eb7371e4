"""File readers: Parquet, CSV and TSV into a pyarrow Table, text cells parsed by their declared type."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featuredsl.compiler.ir import InputColumn
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError
from featuredsl.ingest.problems import Problem, join_problems, show_value

COMPRESSED = ("", ".gz", ".bz2", ".zst")
DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}


def read_table(
    path: str | Path,
    inputs: Sequence[InputColumn] | None = None,
    *,
    source: str | None = None,
    null_values: Sequence[str] = (),
) -> pa.Table:
    """Read a Parquet, CSV or TSV file into a pyarrow Table (a directory or glob of them:
    concatenated in path order, all in memory; `featuredsl.ingest.batches` streams instead).

    Text columns declared in `inputs` are read as text and parsed by their declared type (so a
    string column keeps "00123"); an empty cell is null, a quoted empty cell `""` is the empty
    string; timestamps are ISO-8601 with an offset ('Z' or '+01:00'), or plain epoch integers
    (kept as int64, which `to_feed` reads only with a stated `timestamp_unit`). `null_values` adds
    tokens (e.g. "NA", "NULL") that mean null in every column of a text file, strings included.
    No line is skipped: an empty line is a row of nulls (what pandas writes for a one-column
    row holding a null).
    """
    where = source or str(path)
    from featuredsl.ingest.batches import data_files, is_stream_path

    if is_stream_path(path):  # a directory or glob: the files concatenated in path order
        files = data_files(path)[1]
        tables = [read_table(f, inputs, source=where, null_values=null_values) for f in files]
        return pa.concat_tables(tables, promote_options="default")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{where}: no such file; check the path")
    if p.name.lower().endswith((".parquet", ".pq")):
        return _read_parquet(p, where)
    delimiter = text_delimiter(p)
    if delimiter is not None:
        return _read_csv(p, inputs or (), where, delimiter, tuple(null_values))
    raise DataError(
        f"{where}: unknown file type; featuredsl reads .parquet, .csv and .tsv files "
        "(.csv and .tsv also compressed: .gz, .bz2, .zst)"
    )


def text_delimiter(path: str | Path) -> str | None:
    """The delimiter of a CSV (',') or TSV ('\\t') file name, compressed or not; else None."""
    name = Path(path).name.lower()
    for extension, delimiter in DELIMITERS.items():
        if name.endswith(tuple(extension + z for z in COMPRESSED)):
            return delimiter
    return None


def text_options(
    delimiter: str = ",",
    null_values: Sequence[str] = (),
    column_types: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """pyarrow (ParseOptions, ConvertOptions) of every text-file reader in featuredsl: no line
    skipped (an empty line is a row of nulls), an unquoted empty field or one of `null_values`
    is null in every column, a quoted "" is the empty string, and "NA" stays text unless it is
    one of `null_values`."""
    import pyarrow.csv as pcsv

    parse = pcsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False)
    convert = pcsv.ConvertOptions(
        column_types=column_types or {},
        null_values=["", *null_values],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    return parse, convert


def _read_parquet(path: Path, where: str) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{where}: cannot read Parquet ({err}); is it a Parquet file?") from None


_CSV_PARSE: dict[DType, Any] = {
    DType.FLOAT: pa.float64(),
    DType.INT: pa.int64(),
    DType.BOOL: pa.bool_(),
    DType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}


def _read_csv(
    path: Path,
    inputs: Sequence[InputColumn],
    where: str,
    delimiter: str = ",",
    null_values: tuple[str, ...] = (),
) -> pa.Table:
    import pyarrow.csv as pcsv

    # Declared columns are read as text and parsed below, with row numbers in the errors.
    parse, convert = text_options(delimiter, null_values, {c.name: pa.string() for c in inputs})
    kind = "TSV" if delimiter == "\t" else "CSV"
    try:
        table = pcsv.read_csv(path, parse_options=parse, convert_options=convert)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{where}: cannot read {kind} ({err})") from None
    return parse_declared(table, inputs, where)


def parse_declared(
    table: pa.Table | pa.RecordBatch,
    inputs: Sequence[InputColumn],
    where: str,
    row_offset: int = 0,
) -> pa.Table:
    """Parse the text columns of a CSV/TSV table (or one batch of it) by their declared types.

    String columns stay text; every other declared column is cast, and the first cell that
    does not parse is a DataError naming the column and its row (`row_offset` plus the row
    in `table`: the row of the whole file when `table` is one batch of it)."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    names = table.schema.names
    for col in inputs:
        places = [i + 1 for i, name in enumerate(names) if name == col.name]
        if len(places) > 1:
            raise DataError(
                f"{where}: column {col.name!r} appears {len(places)} times in the header "
                f"(columns {', '.join(map(str, places))}); keep one"
            )
    problems = []
    for col in inputs:
        if col.name not in table.schema.names or col.dtype is DType.STRING:
            continue
        i = table.schema.get_field_index(col.name)
        text = table.column(i).combine_chunks()
        # A quoted "" is the empty string only where strings are declared; elsewhere it can only
        # be a null (pandas writes a one-column row holding NaN as "").
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        try:
            parsed = _parse_text(text, col.dtype)
        except Problem as problem:
            problems.append(problem.render(col.name, row_offset))
            continue
        table = table.set_column(i, col.name, parsed)
    if problems:
        raise DataError(join_problems(where, problems))
    return table


def _parse_text(text: Any, dtype: DType) -> Any:
    if dtype is DType.INT:
        text = _integral_text(text)
    try:
        return pc.cast(text, _CSV_PARSE[dtype])
    except pa.ArrowInvalid:
        pass
    if dtype is DType.TIMESTAMP and _all_integers(text):
        # Epoch numbers: kept as bare integers, which the feed reads only in a stated unit.
        return pc.cast(text, pa.int64())
    row = _first_unparsable(text, _CSV_PARSE[dtype])
    value = text[row].as_py()
    if dtype is DType.TIMESTAMP:
        message, hint, shown = _timestamp_text_problem(value)
        raise Problem(row, message, hint, shown)
    spelled = {
        DType.FLOAT: "a number",
        DType.INT: "an int64 integer",
        DType.BOOL: "a bool (true/false/1/0)",
    }[dtype]
    raise Problem(row, f"{{value}} is not {spelled}", "fix the value in the file", repr(value))


def _all_integers(text: Any) -> bool:
    """Every non-null cell is a plain decimal integer within int64."""
    plain = pc.match_substring_regex(text, r"^-?[0-9]{1,19}$").fill_null(True)
    if not pc.all(plain, min_count=0).as_py():
        return False
    try:
        pc.cast(text, pa.int64())
    except pa.ArrowInvalid:
        return False
    return True


def _integral_text(text: Any) -> Any:
    """An int column's text as plain decimal integers. arrow's cast also takes '0x10', so a
    CSV int is checked first: decimal digits with an optional '-', or a decimal or exponent
    number with no fractional part ('1400.0', '1.4e3'), taken exactly, the rule for a whole
    float from any other source. A fractional part is refused, naming row and value."""
    plain = pc.match_substring_regex(text, r"^-?[0-9]+$").fill_null(True)
    if pc.all(plain, min_count=0).as_py():
        return text
    values = text.to_pylist()
    rows = np.flatnonzero(~plain.to_numpy(zero_copy_only=False))
    for row in rows:
        values[row] = _whole(values[row], int(row))
    return pa.array(values, pa.string())


def _whole(value: str, row: int) -> str:
    if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", value.strip()):
        number = Decimal(value.strip())
        if number == number.to_integral_value():
            if abs(number) > 10**20:  # out of int64 anyway: the cast names it
                return value
            return str(int(number))
        raise Problem(
            row,
            "{value} has a fractional part but the column is int",
            "round it in the file, or declare the column float",
            repr(value),
        )
    raise Problem(row, "{value} is not a decimal integer", "fix the value in the file", repr(value))


def _timestamp_text_problem(value: str) -> tuple[str, str, str]:
    """(message, hint, the value as shown) for a timestamp text that does not parse."""
    try:
        pc.cast(pa.array([value]), pa.timestamp("ns"))
    except pa.ArrowInvalid:
        return (
            "{value} is not an ISO-8601 timestamp with a UTC offset",
            "write instants like 2024-05-01T12:00:00Z or 2024-05-01T13:00:00+01:00, "
            "with at most 6 fractional digits",
            repr(value),
        )
    return (
        "holds time-zone-naive timestamps (first at row {row}: {value}); featuredsl "
        "needs instants: write them with an offset, e.g. 2024-05-01T12:00:00Z or "
        "2024-05-01T13:00:00+01:00",
        "",
        show_value(value),
    )


def _first_unparsable(text: Any, target: Any) -> int:
    """The first row whose text does not cast: bisect on slices, O(n) work in total."""
    lo, hi = 0, len(text)  # invariant: the first bad row is in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pc.cast(text.slice(lo, mid - lo), target)
        except pa.ArrowInvalid:
            hi = mid
        else:
            lo = mid
    return lo
