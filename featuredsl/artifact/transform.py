"""Streaming transform: the features of a file, directory, glob or partitioned dataset, written
to one Parquet file batch by batch, in source order, one float64 column per feature name.

Memory is bounded by the batch: one input batch, its feed and its feature rows are alive at a
time. The Parquet file carries the build's fingerprint and spec name in its schema metadata
(`featuredsl.fingerprint`, `featuredsl.spec`), so a reader can tell which build made it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from featuredsl.errors import FeatureDSLError
from featuredsl.ingest.batches import DEFAULT_BATCH_ROWS, BatchSource, open_source

RowsHook = Callable[[str, int, int], None]

FEATURE_CELLS = 1 << 22
"""At most this many feature values (32 MiB of float64) are computed in one call: a batch of a
wide spec (a one-hot of thousands of columns) is cut into slices of FEATURE_CELLS // width
rows, so memory stays bounded by the batch size whatever the output width."""


def width_slices(feed: Mapping[str, np.ndarray], width: int) -> Iterator[Mapping[str, np.ndarray]]:
    """`feed` cut into consecutive slices of at most max(1, FEATURE_CELLS // width) rows."""
    rows = len(next(iter(feed.values()), ()))
    step = max(1, FEATURE_CELLS // max(width, 1))
    if rows <= step:
        yield feed
        return
    for start in range(0, rows, step):
        yield {name: values[start : start + step] for name, values in feed.items()}


class Transformer(Protocol):
    """What a streaming transform needs: a loaded build (`featuredsl.load`) or a FittedSpec."""

    fingerprint: str
    feature_names: tuple[str, ...]

    def transform_feed(
        self, feed: Mapping[str, np.ndarray], float32: bool = False
    ) -> np.ndarray: ...


def sparse_features(
    transform_feed: Callable[..., np.ndarray],
    feed: Mapping[str, np.ndarray],
    width: int,
    float32: bool = False,
) -> Any:
    """The features of `feed` as a scipy.sparse CSR matrix [rows, width] (float64, or float32
    with `float32`): the module runs on row slices of at most FEATURE_CELLS values, each slice
    is kept as CSR, so the dense matrix never exists. Stored entries are the non-zero values
    (NaN and infinities included); every value equals the dense output's, bit for bit."""
    from scipy import sparse

    parts = [
        sparse.csr_matrix(transform_feed(piece, float32=float32))
        for piece in width_slices(feed, width)
    ]
    if not parts:
        return sparse.csr_matrix((0, width), dtype=np.float32 if float32 else np.float64)
    return sparse.vstack(parts, format="csr") if len(parts) > 1 else parts[0]


def output_schema(names: Sequence[str], float32: bool, metadata: Mapping[str, str]) -> pa.Schema:
    """One non-null float64 (float32 with `float32`) column per feature name, with metadata."""
    dtype = pa.float32() if float32 else pa.float64()
    return pa.schema(
        [pa.field(name, dtype) for name in names],
        metadata={k.encode(): v.encode() for k, v in metadata.items()},
    )


def features_table(values: np.ndarray, schema: pa.Schema) -> pa.Table:
    """A [rows, features] array as an Arrow table of `schema` (columns share no memory)."""
    columns = [pa.array(np.ascontiguousarray(values[:, i])) for i in range(values.shape[1])]
    return pa.Table.from_arrays(columns, schema=schema)


def transform_batches(
    transformer: Transformer,
    stream: BatchSource,
    out: str | Path,
    *,
    float32: bool = False,
    spec_name: str = "",
    progress: RowsHook | None = None,
) -> int:
    """Write the features of every batch of `stream` to the Parquet file `out`, in order.

    Returns the number of rows written. Raises DataError for bad input data (column and source
    row named) and FeatureDSLError when `out` cannot be written; a failed run leaves no file
    at `out` (it is written next to it and renamed at the end)."""
    import pyarrow.parquet as pq

    out = Path(out)
    metadata = {"featuredsl.fingerprint": transformer.fingerprint, "featuredsl.spec": spec_name}
    schema = output_schema(transformer.feature_names, float32, metadata)
    partial = out.with_name(f".{out.name}.partial")
    rows = stream.rows if progress is not None else 0  # CSV: a counting pass, only for a bar
    written = 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(partial, schema) as writer:
            width = len(transformer.feature_names)
            for _, batch in stream.batches():
                for feed in width_slices(batch, width):
                    values = transformer.transform_feed(feed, float32=float32)
                    writer.write_table(features_table(values, schema))
                    written += values.shape[0]
                if progress is not None:
                    progress("transforming", written, max(rows, written))
        partial.replace(out)
    except OSError as err:
        raise FeatureDSLError(f"{out}: cannot write the features ({err})") from None
    finally:
        partial.unlink(missing_ok=True)
    return written


def transform_path(
    transformer: Transformer,
    inputs: Sequence[Any],
    data: str | Path,
    out: str | Path,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    null_values: Sequence[str] = (),
    float32: bool = False,
    spec_name: str = "",
    progress: RowsHook | None = None,
    timestamp_unit: str | None = None,
) -> int:
    """`transform_batches` over a path (file, directory, glob or partitioned Parquet dataset)
    read in batches of `batch_rows` rows with the declared `inputs` (`timestamp_unit`: the unit
    of bare integers in timestamp columns, see `Spec.fit`)."""
    stream = open_source(
        data,
        inputs,
        batch_rows=batch_rows,
        null_values=null_values,
        timestamp_unit=timestamp_unit,
    )
    return transform_batches(
        transformer, stream, out, float32=float32, spec_name=spec_name, progress=progress
    )


__all__ = [
    "FEATURE_CELLS",
    "Transformer",
    "features_table",
    "output_schema",
    "sparse_features",
    "transform_batches",
    "transform_path",
    "width_slices",
]
