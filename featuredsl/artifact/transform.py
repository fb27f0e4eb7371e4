"""Streaming transform: the features of a file, directory, glob or partitioned dataset, written
to one Parquet file batch by batch, in source order, one float64 column per feature name.

Memory is bounded by the batch: one input batch, its feed and its feature rows are alive at a
time. The Parquet file carries the build's fingerprint and spec name in its schema metadata
(`featuredsl.fingerprint`, `featuredsl.spec`), so a reader can tell which build made it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from featuredsl.errors import FeatureDSLError
from featuredsl.ingest.batches import DEFAULT_BATCH_ROWS, BatchSource, open_source

RowsHook = Callable[[str, int, int], None]


class Transformer(Protocol):
    """What a streaming transform needs: a loaded build (`featuredsl.load`) or a FittedSpec."""

    fingerprint: str
    feature_names: tuple[str, ...]

    def transform_feed(
        self, feed: Mapping[str, np.ndarray], float32: bool = False
    ) -> np.ndarray: ...


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
            for _, feed in stream.batches():
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
) -> int:
    """`transform_batches` over a path (file, directory, glob or partitioned Parquet dataset)
    read in batches of `batch_rows` rows with the declared `inputs`."""
    stream = open_source(data, inputs, batch_rows=batch_rows, null_values=null_values)
    return transform_batches(
        transformer, stream, out, float32=float32, spec_name=spec_name, progress=progress
    )


__all__ = ["Transformer", "features_table", "output_schema", "transform_batches", "transform_path"]
