"""Read a skew side from a file: Parquet, CSV/TSV, a serving log (SQLite) or a profile (JSON).

Text files follow featuredsl.ingest's rules (ingest.files.text_options): no line skipped, an
empty field is null, "NA" stays text unless given as a null token."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from featuredsl.artifact.contract import OUTPUT
from featuredsl.errors import DataError
from featuredsl.ingest.batches import data_files, is_stream_path
from featuredsl.ingest.files import text_delimiter, text_options
from featuredsl.monitor.columns import (
    FEATURES,
    INPUTS,
    SCORES,
    Column,
    Dataset,
    column_from_array,
    columns_from_feed,
    columns_from_matrix,
    columns_from_table,
)
from featuredsl.monitor.profile import Profile
from featuredsl.monitor.serving_log import artifact_feature_names, read_log

SQLITE_MAGIC = b"SQLite format 3\x00"


def _kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if text_delimiter(path) is not None:
        return "csv"
    if suffix == ".json":
        return "profile"
    with path.open("rb") as handle:
        head = handle.read(16)
    if head == SQLITE_MAGIC:
        return "log"
    if head[:4] == b"PAR1":
        return "parquet"
    raise DataError(
        f"{path}: cannot tell the format; use .parquet, .csv, .json (profile) or a serving log (SQLite)"
    )


def _files(path: str | Path) -> list[Path] | None:
    """The data files of a directory or glob (featuredsl.ingest.batches.data_files), in path
    order; None for a single path (read as before)."""
    if not is_stream_path(path):
        return None
    return data_files(path)[1]


def read_table(path: str | Path, null_values: Sequence[str] = ()) -> pa.Table:
    """A Parquet/CSV file, or every file of a directory or glob concatenated in path order."""
    files = _files(path)
    if files is not None:
        return pa.concat_tables(
            [read_table(f, null_values) for f in files], promote_options="default"
        )
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    kind = _kind_of(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if kind == "csv":
            import pyarrow.csv as pacsv

            parse, convert = text_options(text_delimiter(path) or ",", null_values)
            return pacsv.read_csv(path, parse_options=parse, convert_options=convert)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: cannot read {kind} data ({err})") from None
    raise DataError(f"{path}: expected a Parquet or CSV file, found a {kind}")


def parquet_rows(path: str | Path) -> int:
    """The rows of a Parquet file, directory or glob (from the footers); 0 for CSV/TSV (whose
    rows are known only by reading them) and for what is not data."""
    import pyarrow.parquet as pq

    files = _files(path) or [Path(path)]
    try:
        if any(_kind_of(f) != "parquet" for f in files):
            return 0
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except (pa.ArrowException, OSError, DataError):
        return 0


def iter_batches(
    path: str | Path, batch_rows: int = 262_144, null_values: Sequence[str] = ()
) -> Iterator[pa.Table]:
    """Parquet/CSV in slices of at most batch_rows rows, so a profile or skew side of a large
    file stays in memory (CSV is parsed in blocks of 4 MiB, each cut into such slices); a
    directory or glob is read file by file, in path order."""
    for table in _file_batches(path, batch_rows, null_values):
        for start in range(0, table.num_rows, batch_rows):
            yield table.slice(start, batch_rows)


def _file_batches(
    path: str | Path, batch_rows: int, null_values: Sequence[str]
) -> Iterator[pa.Table]:
    files = _files(path)
    if files is not None:
        for file in files:
            yield from _file_batches(file, batch_rows, null_values)
        return
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    kind = _kind_of(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
                yield pa.Table.from_batches([batch])
            return
        if kind == "csv":
            import pyarrow.csv as pacsv

            parse, convert = text_options(text_delimiter(path) or ",", null_values)
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=1 << 22),
                parse_options=parse,
                convert_options=convert,
            )
            for batch in reader:
                yield pa.Table.from_batches([batch])
            return
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: cannot read {kind} data ({err})") from None
    raise DataError(f"{path}: expected a Parquet or CSV file, found a {kind}")


def load_source(
    path: str | Path, *, label: str | None = None, null_values: Sequence[str] = ()
) -> Dataset | Profile:
    if is_stream_path(path):  # a directory or glob of Parquet/CSV files
        table = read_table(path, null_values)
        where = f"{path}: "
        return Dataset(
            {FEATURES: columns_from_table(table, where=where)}, source=label or str(path)
        )
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    kind = _kind_of(path)
    if kind == "profile":
        return Profile.load(path)
    if kind == "log":
        return dataset_from_log(path)
    table = read_table(path, null_values)
    where = f"{path}: "
    return Dataset({FEATURES: columns_from_table(table, where=where)}, source=label or str(path))


def _concat(parts: list[Column], where: str) -> Column:
    kinds = {p.kind for p in parts}
    if len(kinds) > 1:
        raise DataError(f"{where}column '{parts[0].name}' changes type between requests")
    return Column(
        parts[0].name,
        parts[0].kind,
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.null for p in parts]),
    )


def dataset_from_log(path: str | Path, *, features_output: str = OUTPUT) -> Dataset:
    """Served features ("features"), raw inputs ("inputs") and other outputs ("scores")."""
    path = Path(path)
    where = f"{path}: "
    names_by_fp = artifact_feature_names(path)
    groups: dict[str, dict[str, list[Column]]] = {FEATURES: {}, INPUTS: {}, SCORES: {}}
    fingerprints: dict[str, None] = {}
    for record in read_log(path):
        fingerprints[record.fingerprint] = None
        for name, column in columns_from_feed(record.inputs, where=where).items():
            groups[INPUTS].setdefault(name, []).append(column)
        for output, array in record.outputs.items():
            values = np.asarray(array)
            if output == features_output:
                matrix = values.reshape(len(values), -1).astype(np.float64)
                names = names_by_fp.get(record.fingerprint) or tuple(
                    f"feature[{j}]" for j in range(matrix.shape[1])
                )
                columns = columns_from_matrix(names, matrix, where=where)
                target = groups[FEATURES]
            else:
                columns = _score_columns(output, values, where)
                target = groups[SCORES]
            for name, column in columns.items():
                target.setdefault(name, []).append(column)
    if not fingerprints:
        raise DataError(f"{path}: the serving log has no records")
    merged = {
        group: {name: _concat(parts, where) for name, parts in columns.items()}
        for group, columns in groups.items()
        if columns
    }
    return Dataset(merged, source=str(path), fingerprints=tuple(fingerprints))


def _score_columns(output: str, values: np.ndarray, where: str) -> dict[str, Column]:
    if values.ndim <= 1 or (values.ndim == 2 and values.shape[1] == 1):
        return {output: column_from_array(output, values.reshape(-1), where=where)}
    flat = values.reshape(len(values), -1)
    return {
        f"{output}[{j}]": column_from_array(f"{output}[{j}]", flat[:, j], where=where)
        for j in range(flat.shape[1])
    }
