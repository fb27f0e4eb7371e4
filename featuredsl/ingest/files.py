"""File readers: Parquet and CSV into a pyarrow Table, CSV cells parsed by their declared type."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featuredsl.compiler.ir import InputColumn
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError
from featuredsl.ingest.problems import Problem, join_problems, show_value


def read_table(
    path: str | Path, inputs: Sequence[InputColumn] | None = None, *, source: str | None = None
) -> pa.Table:
    """Read a Parquet or CSV file into a pyarrow Table.

    CSV columns declared in `inputs` are read as text and parsed by their declared type (so a
    string column keeps "00123"); an empty cell is null, a quoted empty cell `""` is the empty
    string; timestamps must be ISO-8601 with an offset ('Z' or '+01:00').
    """
    where = source or str(path)
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{where}: no such file; check the path")
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        return _read_parquet(p, where)
    if name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zst")):
        return _read_csv(p, inputs or (), where)
    raise DataError(f"{where}: unknown file type; featuredsl reads .parquet and .csv files")


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


def _read_csv(path: Path, inputs: Sequence[InputColumn], where: str) -> pa.Table:
    import pyarrow.csv as pcsv

    # Declared columns are read as text and parsed below, with row numbers in the errors.
    convert = pcsv.ConvertOptions(
        column_types={c.name: pa.string() for c in inputs},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,  # "" (quoted) is the empty string, not null
    )
    try:
        table = pcsv.read_csv(path, convert_options=convert)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{where}: cannot read CSV ({err})") from None
    problems = []
    for col in inputs:
        if col.name not in table.schema.names or col.dtype is DType.STRING:
            continue
        i = table.schema.get_field_index(col.name)
        try:
            parsed = _parse_text(table.column(i).combine_chunks(), col.dtype)
        except Problem as problem:
            problems.append(problem.render(col.name))
            continue
        table = table.set_column(i, col.name, parsed)
    if problems:
        raise DataError(join_problems(where, problems))
    return table


def _parse_text(text: Any, dtype: DType) -> Any:
    if dtype is DType.INT:
        # arrow's cast also takes '0x10'; a CSV int is decimal digits with an optional '-'.
        plain = pc.match_substring_regex(text, r"^-?[0-9]+$").fill_null(True)
        if not pc.all(plain).as_py():
            row = int(np.argmax(~plain.to_numpy(zero_copy_only=False)))
            value = text[row].as_py()
            raise Problem(row, f"{value!r} is not a decimal integer", "fix the value in the file")
    try:
        return pc.cast(text, _CSV_PARSE[dtype])
    except pa.ArrowInvalid:
        pass
    row = _first_unparsable(text, _CSV_PARSE[dtype])
    value = text[row].as_py()
    if dtype is DType.TIMESTAMP:
        message, hint = _timestamp_text_problem(value)
        raise Problem(row, message.replace("{row}", str(row)), hint)
    spelled = {
        DType.FLOAT: "a number",
        DType.INT: "an int64 integer",
        DType.BOOL: "a bool (true/false/1/0)",
    }[dtype]
    raise Problem(row, f"{value!r} is not {spelled}", "fix the value in the file")


def _timestamp_text_problem(value: str) -> tuple[str, str]:
    try:
        pc.cast(pa.array([value]), pa.timestamp("ns"))
    except pa.ArrowInvalid:
        return (
            f"{value!r} is not an ISO-8601 timestamp with a UTC offset",
            "write instants like 2024-05-01T12:00:00Z or 2024-05-01T13:00:00+01:00, "
            "with at most 6 fractional digits",
        )
    return (
        "holds time-zone-naive timestamps (first at row {row}: "
        + show_value(value)
        + "); featuredsl "
        "needs instants: write them with an offset, e.g. 2024-05-01T12:00:00Z or "
        "2024-05-01T13:00:00+01:00",
        "",
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
