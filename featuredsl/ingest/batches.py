"""Streaming sources: a file, a directory, a glob or a partitioned Parquet dataset, read as feeds
of at most `batch_rows` rows, in a fixed order, with errors naming the row of the whole source.

Memory is bounded by the batch: one Arrow batch of at most `batch_rows` rows and its feed are
alive at a time (plus what the consumer keeps), whatever the number of rows. The order is the
files' paths in code-point order, then the rows of each file as stored; it is the order of
`featuredsl transform`'s output. Directories are read recursively; a Parquet directory may be
hive-partitioned (`year=2024/part-0.parquet`): the partition keys become columns, so a declared
input can be one. Files whose name starts with '.' or '_' (`_SUCCESS`, `.crc`) are skipped.

pyarrow.dataset reads Parquet (only the declared columns, one row group at a time) and
pyarrow.csv's streaming reader reads CSV/TSV (compressed too), parsing declared columns by their
declared type as `featuredsl.ingest.read_table` does.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from featuredsl.compiler.ir import InputColumn
from featuredsl.errors import DataError
from featuredsl.ingest.feed import Feed, to_feed
from featuredsl.ingest.files import parse_declared, text_delimiter, text_options
from featuredsl.ingest.sources import check_names

DEFAULT_BATCH_ROWS = 65_536
"""Rows per batch when none is given: about 40 MB of feed and features for a 50-column spec."""

PARQUET_SUFFIXES = (".parquet", ".pq")
_GLOB_CHARS = frozenset("*?[")


def is_glob(path: str | Path) -> bool:
    """True when `path` holds a glob pattern character (*, ? or [)."""
    return any(c in _GLOB_CHARS for c in str(path))


def data_files(path: str | Path) -> tuple[str, list[Path]]:
    """('parquet' | 'text', the files) that `path` names: a file, a directory (recursively) or
    a glob, in code-point order of their paths.

    Raises:
        DataError: nothing matches, a directory holds no data file, or Parquet and text files
            are mixed.
    """
    text = str(path)
    if is_glob(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"{text}: no file matches this pattern; check the path")
    elif Path(text).is_dir():
        files = sorted(
            p
            for p in Path(text).rglob("*")
            if p.is_file()
            and not any(part.startswith((".", "_")) for part in p.relative_to(text).parts)
        )
        files = [p for p in files if _kind(p) is not None]
        if not files:
            raise DataError(
                f"{text}: the directory holds no .parquet, .csv or .tsv file; check the path"
            )
    elif Path(text).is_file():
        files = [Path(text)]
    else:
        raise DataError(f"{text}: no such file or directory; check the path")
    kinds = {_kind(p) for p in files}
    if None in kinds:
        bad = next(p for p in files if _kind(p) is None)
        raise DataError(
            f"{bad}: unknown file type; featuredsl reads .parquet, .csv and .tsv files "
            "(.csv and .tsv also compressed: .gz, .bz2, .zst)"
        )
    if len(kinds) > 1:
        raise DataError(f"{text}: mixes Parquet and CSV/TSV files; keep one format per dataset")
    return str(kinds.pop()), files


def _kind(path: Path) -> str | None:
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        return "parquet"
    if text_delimiter(path) is not None:
        return "text"
    return None


def is_stream_path(data: Any) -> bool:
    """True when `data` is a path naming a directory or a glob (what only streaming reads)."""
    return isinstance(data, (str, Path)) and (is_glob(data) or Path(data).is_dir())


DEFAULT_PARTITION_ROWS = 262_144
"""Rows per unit of work of a distributed engine (row groups are never split)."""


@dataclass(frozen=True)
class Unit:
    """One unit of work: row groups `row_groups` of file number `file` (None: the whole file),
    whose first row is row `offset` of the whole source (None: unknown, a CSV/TSV file)."""

    index: int
    file: int
    row_groups: tuple[int, ...] | None
    offset: int | None
    rows: int | None = None  # known for Parquet (from the footers)


@dataclass
class BatchSource:
    """A re-iterable stream of feeds over a file, directory, glob or partitioned dataset.

    Args:
        path: a .parquet/.csv/.tsv file, a directory of them (hive partitions allowed) or a glob.
        inputs: the declared input columns (their names are read, text parsed by their type).
        batch_rows: at most this many rows per batch (default DEFAULT_BATCH_ROWS).
        null_values: extra tokens meaning null in text files (as `read_table`).
        source: how errors name the data (default: the path).
        timestamp_unit: the unit of bare integers in timestamp columns ("s", "ms", "us", "ns");
            without it they are refused (see `featuredsl.ingest.to_feed`).

    Iterating `batches()` again reads the files again (fitting needs one pass per phase).
    """

    path: str | Path
    inputs: Sequence[InputColumn]
    batch_rows: int = DEFAULT_BATCH_ROWS
    null_values: Sequence[str] = ()
    source: str = ""
    timestamp_unit: str | None = None
    kind: str = field(init=False)
    files: list[Path] = field(init=False)
    _rows: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, got {self.batch_rows}")
        self.source = self.source or str(self.path)
        self.kind, self.files = data_files(self.path)

    @property
    def rows(self) -> int:
        """The number of rows (Parquet: from the file footers; CSV/TSV: one counting pass)."""
        if self._rows is None:
            if self.kind == "parquet":
                self._rows = int(self._dataset().count_rows())
            else:
                self._rows = sum(b.num_rows for _, b in self._text_batches())
        return self._rows

    def tables(self) -> Iterator[tuple[int, pa.RecordBatch | pa.Table]]:
        """(row offset, Arrow batch) pairs: the declared columns as stored (text parsed)."""
        batches = self._parquet_batches() if self.kind == "parquet" else self._text_batches()
        for offset, batch in batches:
            for start in range(0, max(batch.num_rows, 1), self.batch_rows):
                if batch.num_rows:
                    yield offset + start, batch.slice(start, self.batch_rows)

    def batches(self) -> Iterator[tuple[int, Feed]]:
        """(row offset, feed) pairs of at most `batch_rows` rows each, in source order.

        Raises:
            DataError: a declared column is missing, or a value does not fit its declared type
                (naming the column and the row counted from the start of the whole source).
        """
        for offset, batch in self.tables():
            yield offset, self._feed(batch, offset)

    def _feed(self, batch: pa.RecordBatch | pa.Table, offset: int) -> Feed:
        """One batch converted; errors name rows counted from `offset`."""
        return to_feed(
            batch,
            self.inputs,
            source=self.source,
            row_offset=offset,
            timestamp_unit=self.timestamp_unit,
        )

    def feeds(self) -> Iterator[Feed]:
        """The feeds of `batches()` without their offsets."""
        for _, feed in self.batches():
            yield feed

    def units(self, partition_rows: int = DEFAULT_PARTITION_ROWS) -> list[Unit]:
        """The source cut into units of work for a distributed engine, in source order: runs
        of consecutive Parquet row groups of about `partition_rows` rows (never splitting a row
        group), or one unit per CSV/TSV file (whose rows are counted per file)."""
        if self.kind != "parquet":
            return [Unit(i, i, None, None) for i in range(len(self.files))]
        out: list[Unit] = []
        offset = 0
        for i, fragment in enumerate(self._dataset().get_fragments()):
            metadata = fragment.metadata
            groups: list[int] = []
            start = offset
            for g in range(metadata.num_row_groups):
                groups.append(g)
                offset += metadata.row_group(g).num_rows
                if offset - start >= partition_rows:
                    out.append(Unit(len(out), i, tuple(groups), start, offset - start))
                    groups, start = [], offset
            if groups:
                out.append(Unit(len(out), i, tuple(groups), start, offset - start))
        return out

    def unit_batches(self, unit: Unit) -> Iterator[tuple[int, Feed]]:
        """(row offset, feed) pairs of one unit (see `units`). Offsets count from the start of
        the whole source for Parquet, from the start of the file for CSV/TSV, whose errors then
        name the file."""
        if self.kind == "parquet":
            dataset = self._dataset()
            fragment = list(dataset.get_fragments())[unit.file]
            columns = self._wanted(dataset.schema.names)
            offset = unit.offset or 0
            groups = unit.row_groups or ()
            try:
                for batch in (
                    b
                    for group in groups
                    for b in _row_group_batches(
                        fragment, group, dataset.schema, columns, self.batch_rows
                    )
                ):
                    yield offset, self._feed(batch, offset)
                    offset += batch.num_rows
            except (pa.ArrowException, OSError) as err:
                raise DataError(f"{self.source}: cannot read Parquet ({err})") from None
            return
        one = BatchSource(
            self.files[unit.file],
            self.inputs,
            self.batch_rows,
            self.null_values,
            str(self.files[unit.file]),
        )
        yield from one.batches()

    def _wanted(self, names: Sequence[str]) -> list[str]:
        check_names(list(names), self.inputs, self.source, "ignore")
        declared = {n for c in self.inputs for n in (c.name, c.mask_name) if n is not None}
        return [n for n in names if n in declared]

    def _dataset(self) -> Any:
        import pyarrow.dataset as ds

        base = Path(self.path) if Path(self.path).is_dir() else None
        try:
            return ds.dataset(
                [str(p) for p in self.files],
                format="parquet",
                partitioning="hive" if base is not None else None,
                partition_base_dir=str(base) if base is not None else None,
            )
        except (pa.ArrowException, OSError) as err:
            raise DataError(f"{self.source}: cannot read Parquet ({err})") from None

    def _parquet_batches(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        """One row group at a time, file by file, read in this thread. (A threaded dataset
        scan reads ahead of a slow consumer whatever its readahead settings: a streaming
        transform of bench.fdsl held ~550 MB of Arrow batches read ahead, and spent more CPU
        on the reader threads than this takes in all.)"""
        dataset = self._dataset()
        columns = self._wanted(dataset.schema.names)
        offset = 0
        try:
            for fragment in dataset.get_fragments():
                for group in range(fragment.metadata.num_row_groups):
                    for batch in _row_group_batches(
                        fragment, group, dataset.schema, columns, self.batch_rows
                    ):
                        yield offset, batch
                        offset += batch.num_rows
        except (pa.ArrowException, OSError) as err:
            raise DataError(f"{self.source}: cannot read Parquet ({err})") from None

    def _text_batches(self) -> Iterator[tuple[int, pa.Table]]:
        import pyarrow.csv as pcsv

        offset = 0
        for path in self.files:
            delimiter = text_delimiter(path) or ","
            kind = "TSV" if delimiter == "\t" else "CSV"
            parse, convert = text_options(
                delimiter, tuple(self.null_values), {c.name: pa.string() for c in self.inputs}
            )
            where = self.source
            read = pcsv.ReadOptions(block_size=1 << 22)
            try:
                # The header first, then only the declared columns: an undeclared column whose
                # inferred type would change from one block to the next is never converted.
                header = pcsv.open_csv(
                    path, read_options=read, parse_options=parse, convert_options=convert
                )
                convert.include_columns = self._wanted(header.schema.names)
                header.close()
                reader = pcsv.open_csv(
                    path, read_options=read, parse_options=parse, convert_options=convert
                )
                for batch in reader:
                    yield offset, parse_declared(batch, self.inputs, where, offset).combine_chunks()
                    offset += batch.num_rows
            except (pa.ArrowException, OSError) as err:
                raise DataError(f"{where}: cannot read {kind} ({err})") from None


def _row_group_batches(
    fragment: Any, group: int, schema: pa.Schema, columns: list[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Batches of at most `batch_rows` rows of one row group of a Parquet fragment (with the
    dataset's schema: hive partition keys as columns), read in the calling thread: alive at a
    time are that row group's column chunks and one batch."""
    part = fragment.subset(row_group_ids=[group])
    yield from part.to_batches(
        schema=schema,
        columns=columns,
        batch_size=batch_rows,
        use_threads=False,
        batch_readahead=0,
        fragment_readahead=0,
    )


def open_source(
    data: Any,
    inputs: Sequence[InputColumn],
    *,
    batch_rows: int | None = None,
    null_values: Sequence[str] = (),
    source: str = "",
    timestamp_unit: str | None = None,
) -> BatchSource:
    """A BatchSource over a path (file, directory, glob); see BatchSource. `batch_rows` None
    is DEFAULT_BATCH_ROWS."""
    rows = DEFAULT_BATCH_ROWS if batch_rows is None else batch_rows
    return BatchSource(data, inputs, rows, tuple(null_values), source, timestamp_unit)


__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_PARTITION_ROWS",
    "BatchSource",
    "Unit",
    "data_files",
    "is_glob",
    "is_stream_path",
    "open_source",
]
