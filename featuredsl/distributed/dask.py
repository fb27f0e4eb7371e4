"""Fit and transform on a dask.distributed cluster (extra `featuredsl[dask]`).

Fit: the source is cut into units (runs of Parquet row groups of about `partition_rows` rows,
one CSV/TSV file, or one partition of a dask DataFrame). For each phase of analyzers, every unit
is one task: the worker re-checks the spec from its text, folds in the results of the earlier
phases, reads its unit batch by batch and returns the analyzers' accumulators as JSON
(`featuredsl.fit.analyzers.to_json`, never pickle). The client merges them in a tree and
extracts the results. The analyzers are exact and order-independent, so the constants are
bit-identical to a single-process fit whatever the partitioning. A last task per unit measures
data quality and returns the sample rows the conformance kit and the parity check need; the
build then finishes in the client exactly as `featuredsl build` does.

Transform: one task per unit loads the build directory on the worker (the path must be
readable there), runs its numpy module on the unit batch by batch and writes
`part-NNNNN.parquet` into the output directory; reading the directory in name order gives the
rows in source order.

No scheduler address: a LocalCluster of worker processes (`n_workers`, one thread each) is
started for the call and closed after it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.conformance import kit
from featuredsl.artifact.quality import QualityTally
from featuredsl.artifact.spec import FittedSpec, Spec, SpecLike, as_spec
from featuredsl.artifact.transform import width_slices
from featuredsl.backends.numpy.codegen import ModuleSpec, render_module
from featuredsl.backends.numpy.evaluate import evaluate, load_transform
from featuredsl.compiler.ir import Node, Program
from featuredsl.errors import FeatureDSLError
from featuredsl.fit.analyzers import from_json, plan_from_json, plan_to_json, to_json
from featuredsl.fit.fitting import Merger, accumulate, analyzer_of, fit_phases, run_passes
from featuredsl.ingest.batches import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_PARTITION_ROWS,
    BatchSource,
    open_source,
)
from featuredsl.ingest.feed import Feed, to_feed
from featuredsl.parity.build import BuildReport, finish_build, sample_indices

EXTRA_HINT = "the Dask engine needs the extra: pip install 'featuredsl[dask]'"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise FeatureDSLError(EXTRA_HINT) from None
    return distributed


@contextlib.contextmanager
def connect(scheduler: Any = None, n_workers: int = 2) -> Iterator[Any]:
    """A dask.distributed Client: `scheduler` may be a Client (used as is), an address
    ('tcp://host:8786') or None (a LocalCluster of `n_workers` processes, closed on exit)."""
    distributed = _distributed()
    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler
        return
    if scheduler is not None:
        with distributed.Client(scheduler) as client:
            yield client
        return
    import dask

    with (
        dask.config.set(LOCAL_CLUSTER_CONFIG),
        distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}
"""Dask settings of the LocalCluster `connect` starts for one call: no statistical profiler
(a stack sample every 10 ms on every worker), no GIL monitor, and the system and memory
monitors polled every 1-2 s instead of 0.1-0.5 s. Nobody watches that cluster's dashboard; on
2 cores these timers cost about a quarter of an idle cluster's CPU (measured: 1.9 s of CPU per
20 s idle with dask's defaults, 1.4 s with these)."""


# ----------------------------------------------------------------------------- units of work


class _Source:
    """What a worker reads: a path's BatchSource with its units, or one dask DataFrame
    partition per unit (the partitions travel as tasks' results, never through the client)."""

    def __init__(
        self,
        data: Any,
        inputs: Sequence[Any],
        batch_rows: int,
        null_values: Sequence[str],
        partition_rows: int,
        timestamp_unit: str | None = None,
    ) -> None:
        self.frame = None
        if isinstance(data, (str, Path)):
            self.stream: BatchSource | None = open_source(
                data,
                inputs,
                batch_rows=batch_rows,
                null_values=null_values,
                timestamp_unit=timestamp_unit,
            )
            self.units: list[Any] = list(self.stream.units(partition_rows))
            self.offsets = [u.offset for u in self.units]
        else:
            self.stream = None
            self.frame = data
            self.units = list(range(data.npartitions))
            self.offsets = []

    def pieces(self, client: Any) -> list[Any]:
        """One task argument per unit: a Unit, or the future of a DataFrame partition."""
        if self.frame is None:
            return self.units
        parts = self.frame.to_delayed()
        return client.compute(parts)

    def lengths(self, client: Any, pieces: list[Any]) -> list[int]:
        """Rows per unit (Parquet: from the footers; otherwise counted by the workers)."""
        if self.stream is not None and self.stream.kind == "parquet":
            return [int(u.rows) for u in self.units]
        futures = client.map(_unit_rows, [self.stream] * len(pieces), pieces, pure=False)
        return [int(n) for n in client.gather(futures)]


def _unit_feeds(
    stream: BatchSource | None, piece: Any, inputs: Sequence[Any], index: int
) -> Iterator[tuple[int, Feed]]:
    """(row offset in the unit, feed) pairs of one unit."""
    if stream is not None:
        start = None
        for offset, feed in stream.unit_batches(piece):
            start = offset if start is None else start
            yield offset - start, feed
        return
    yield 0, to_feed(piece, inputs, source=f"dask partition {index}")


def _unit_rows(stream: BatchSource | None, piece: Any) -> int:
    if stream is None:
        return len(piece)
    return sum(len(next(iter(feed.values()), ())) for _, feed in stream.unit_batches(piece))


# ----------------------------------------------------------------------------- worker tasks


def _program_at(spec: Spec, known: list[list[Any]]) -> tuple[Program, list[Node]]:
    """The program and the analyzers of the phase after the `known` ones (their results)."""

    class Reached(Exception):
        def __init__(self, program: Program, ready: list[Node]) -> None:
            self.program, self.ready = program, ready

    phases = iter(known)

    def run_phase(program: Program, ready: list[Node]) -> list[Any]:
        for results in phases:
            return results
        raise Reached(program, ready)

    try:
        fit_phases(spec.program, run_phase, spec.builder, evaluate)
    except Reached as reached:
        return reached.program, reached.ready
    raise FeatureDSLError("internal: every analyzer is already fitted")  # pragma: no cover


# Worker-side caches: a worker runs every pass of a fit, so the spec is checked and each
# phase's program folded once per worker, and the numpy module that evaluates a phase's
# analyzer inputs is rendered and compiled once, not once per task and batch.
_PHASE_CACHE: dict[str, tuple[Program, list[Node]]] = {}
_MODULE_CACHE: dict[tuple[int, ...], tuple[Program, tuple[Node, ...], Any]] = {}
_CACHE_MAX = 8


def _phase_program(text: str, filename: str, known: list[list[Any]]) -> tuple[Program, list[Node]]:
    """`_program_at` of the spec text, cached on the worker by (text, filename, results)."""
    key = repr((text, filename, known))
    hit = _PHASE_CACHE.get(key)
    if hit is None:
        if len(_PHASE_CACHE) >= _CACHE_MAX:
            _PHASE_CACHE.clear()
        hit = _PHASE_CACHE[key] = _program_at(Spec(text, filename), known)
    return hit


def _evaluate_cached(
    program: Program, nodes: list[Node], feed: Mapping[str, np.ndarray]
) -> dict[Node, np.ndarray]:
    """`featuredsl.backends.numpy.evaluate.evaluate` with the module rendered once per
    (program, nodes) on this worker: the same generated code, so the same values."""
    key = (id(program), *(id(node) for node in nodes))
    hit = _MODULE_CACHE.get(key)
    if (
        hit is None
        or hit[0] is not program
        or any(a is not b for a, b in zip(hit[1], nodes, strict=True))
    ):
        module = ModuleSpec(
            spec_name=program.name,
            fingerprint="",
            inputs=program.inputs,
            outputs=tuple((f"n{i}", node) for i, node in enumerate(nodes)),
            column_names=(),
            widths=tuple(1 for _ in nodes),
            stack=False,
        )
        if len(_MODULE_CACHE) >= _CACHE_MAX:
            _MODULE_CACHE.clear()
        hit = _MODULE_CACHE[key] = (program, tuple(nodes), load_transform(render_module(module)))
    values = hit[2](feed)
    return dict(zip(nodes, values, strict=True))


def _group_feeds(
    stream: BatchSource | None, pieces: Sequence[Any], inputs: Sequence[Any], indices: list[int]
) -> Iterator[tuple[int, Feed]]:
    """(row offset in the group, feed) pairs of a group of consecutive units."""
    base = 0
    for piece, index in zip(pieces, indices, strict=True):
        rows = 0
        for offset, feed in _unit_feeds(stream, piece, inputs, index):
            rows = offset + len(next(iter(feed.values()), ()))
            yield base + offset, feed
        base += rows


def _phase_task(
    text: str,
    filename: str,
    known: list[list[Any]],
    todo: list[int],
    plans: list[Any],
    stream: BatchSource | None,
    pieces: list[Any],
    indices: list[int],
) -> list[dict[str, Any]]:
    """Worker: the JSON accumulators of the next phase's analyzers number `todo`, with their
    plans (JSON; None for a first pass), over a group of consecutive units, merged here."""
    program, ready = _phase_program(text, filename, known)
    nodes = [ready[i] for i in todo]
    decoded = [None if plan is None else plan_from_json(plan) for plan in plans]
    feeds = (feed for _, feed in _group_feeds(stream, pieces, program.inputs, indices))
    return [to_json(acc) for acc in accumulate(program, nodes, feeds, _evaluate_cached, decoded)]


_FITTED_CACHE: dict[tuple[str, str, str], FittedSpec] = {}


def _fitted_on_worker(text: str, filename: str, known: list[list[Any]]) -> FittedSpec:
    key = (text, filename, repr(known))
    if key not in _FITTED_CACHE:
        _FITTED_CACHE.clear()
        spec = Spec(text, filename)
        program, constants = _fit_known(spec, known)
        _FITTED_CACHE[key] = spec._fitted(program, constants)
    return _FITTED_CACHE[key]


def _fit_known(spec: Spec, known: list[list[Any]]) -> Any:
    phases = iter(known)
    return fit_phases(spec.program, lambda program, ready: next(phases), spec.builder, evaluate)


def _quality_task(
    text: str,
    filename: str,
    known: list[list[Any]],
    stream: BatchSource | None,
    pieces: list[Any],
    indices: list[int],
    wanted: np.ndarray,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Worker: the data-quality counts of a group of consecutive units and its rows among
    `wanted` (row numbers from the group's start), as a feed."""
    fitted = _fitted_on_worker(text, filename, known)
    tally = QualityTally(fitted.program, fitted.feature_names)
    parts = []
    for offset, feed in _group_feeds(stream, pieces, fitted.program.inputs, indices):
        n = len(next(iter(feed.values()), ()))
        for rows in width_slices(feed, len(fitted.feature_names)):
            tally.add(rows, fitted.transform_feed(rows))
        local = wanted[(wanted >= offset) & (wanted < offset + n)] - offset
        parts.append({name: values[local] for name, values in feed.items()})
    sample = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]} if parts else {}
    return tally.counts(), sample


def _transform_task(
    build_dir: str, stream: BatchSource | None, piece: Any, index: int, out: str, float32: bool
) -> int:
    """Worker: the features of one unit written to out/part-NNNNN.parquet; -> rows written."""
    import pyarrow.parquet as pq

    from featuredsl.artifact.load import load
    from featuredsl.artifact.transform import features_table, output_schema, width_slices

    artifacts = load(build_dir)
    metadata = {
        "featuredsl.fingerprint": artifacts.fingerprint,
        "featuredsl.spec": artifacts.manifest["spec"],
    }
    schema = output_schema(artifacts.feature_names, float32, metadata)
    path = Path(out) / f"part-{index:05d}.parquet"
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for _, batch in _unit_feeds(stream, piece, artifacts.program_inputs, index):
            for feed in width_slices(batch, len(artifacts.feature_names)):
                values = artifacts.transform_feed(feed, float32=float32)
                writer.write_table(features_table(values, schema))
                rows += values.shape[0]
    return rows


# ----------------------------------------------------------------------------- client side


def fit_dask(
    spec: SpecLike,
    data: Any,
    *,
    client: Any = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    null_values: Sequence[str] = (),
    keep: Callable[[int], np.ndarray] | None = None,
    timestamp_unit: str | None = None,
    tasks: int | None = None,
) -> tuple[FittedSpec, dict[str, np.ndarray]]:
    """Fit `spec` on `data` with a dask.distributed cluster: accumulators of runs of units
    on the workers, merged on the client.

    Args:
        spec: a Spec, a path to a .fdsl file, or the spec text.
        data: a path (Parquet/CSV/TSV file, directory, glob, partitioned Parquet) or a
            dask.dataframe.DataFrame with the declared columns.
        client: a distributed.Client, a scheduler address, or None (a LocalCluster of 2
            worker processes for this call).
        batch_rows: rows per batch read by a worker; partition_rows: rows per unit of work.
        null_values: extra null tokens of text files.
        keep: given the row count, the sorted source rows (int64) to return as a feed.
        timestamp_unit: the unit of bare integers in a path's timestamp columns (see
            `Spec.fit`); a DataFrame's timestamps must be typed (tz-aware).
        tasks: tasks per pass (runs of consecutive units of about equal rows); default
            TASKS_PER_THREAD per worker thread of the cluster.

    Returns:
        (the FittedSpec, with quality and conformance-kit sample, equal to `Spec.fit` on the
        same rows byte for byte; the feed of the `keep` rows).

    Raises:
        FeatureDSLError: the extra is missing. DataError / DiagnosticError as `Spec.fit`.
    """
    checked = as_spec(spec, "fit_dask(spec)")
    with connect(client) as dask_client:
        return _fit(
            checked,
            data,
            dask_client,
            batch_rows,
            partition_rows,
            null_values,
            keep,
            timestamp_unit,
            tasks,
        )


def _fit(
    spec: Spec,
    data: Any,
    client: Any,
    batch_rows: int,
    partition_rows: int,
    null_values: Sequence[str],
    keep: Callable[[int], np.ndarray] | None,
    timestamp_unit: str | None = None,
    tasks: int | None = None,
) -> tuple[FittedSpec, dict[str, np.ndarray]]:
    source = _Source(data, spec.inputs, batch_rows, null_values, partition_rows, timestamp_unit)
    pieces = source.pieces(client)
    stream = source.stream
    lengths = source.lengths(client, pieces)
    groups = _groups(lengths, tasks or TASKS_PER_THREAD * _threads(client))
    grouped = [[pieces[i] for i in group] for group in groups]
    text, filename = spec.source, spec.filename
    known: list[list[Any]] = []

    def run_phase(program: Program, ready: list[Node]) -> list[Any]:
        def one_pass(nodes: list[Node], plans: list[Any]) -> list[list[Any]]:
            todo = [ready.index(node) for node in nodes]
            encoded = [None if plan is None else plan_to_json(plan) for plan in plans]
            n = len(groups)
            futures = client.map(
                _phase_task,
                [text] * n,
                [filename] * n,
                [list(known)] * n,
                [todo] * n,
                [encoded] * n,
                [stream] * n,
                grouped,
                groups,
                pure=False,
            )
            # Merged as they arrive (in any order: the merge is order-independent), so the
            # client holds one decoded accumulator per analyzer, not one per task.
            mergers = [Merger(analyzer_of(node)) for node in nodes]
            for future in _distributed().as_completed(futures):
                for merger, acc in zip(mergers, future.result(), strict=True):
                    merger.add(from_json(acc))
                future.release()
            return [[merger.result() for merger in mergers]] if pieces else []

        results = run_passes(program, ready, one_pass)
        known.append(results)
        return results

    program, constants = fit_phases(spec.program, run_phase, spec.builder, evaluate)
    fitted = spec._fitted(program, constants)
    sizes = [sum(lengths[i] for i in group) for group in groups]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    rows = int(starts[-1])
    kit_rows = kit.spread(rows, kit.DATA_ROWS)
    kept = keep(rows) if keep is not None else np.zeros(0, np.int64)
    wanted = np.union1d(kit_rows, kept)
    local = [
        wanted[(wanted >= starts[g]) & (wanted < starts[g + 1])] - starts[g]
        for g in range(len(groups))
    ]
    futures = client.map(
        _quality_task,
        [text] * len(groups),
        [filename] * len(groups),
        [known] * len(groups),
        [stream] * len(groups),
        grouped,
        groups,
        local,
        pure=False,
    )
    tally = QualityTally(program, fitted.feature_names)
    samples = []
    for counts, sample in client.gather(futures):
        tally.merge_counts(counts)
        if sample:
            samples.append(sample)
    fitted.quality = tally.result()
    if not samples:
        return fitted, {}
    feed = {name: np.concatenate([s[name] for s in samples]) for name in samples[0]}
    fitted.kit_sample = {n: v[np.searchsorted(wanted, kit_rows)] for n, v in feed.items()}
    return fitted, {n: v[np.searchsorted(wanted, kept)] for n, v in feed.items()}


TASKS_PER_THREAD = 2
"""A fit pass runs this many tasks per worker thread (each a run of consecutive units, its
accumulators merged on the worker): few enough that shipping and merging accumulators stays
small beside the pass, enough that a slow task does not leave a worker idle for long."""


def _threads(client: Any) -> int:
    """The worker threads of the cluster (at least 1)."""
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def _groups(lengths: Sequence[int], tasks: int) -> list[list[int]]:
    """Unit indices cut into at most `tasks` runs of consecutive units with about the same
    number of rows (a unit is never split)."""
    total = sum(lengths)
    groups: list[list[int]] = []
    current: list[int] = []
    done = 0
    for index, rows in enumerate(lengths):
        current.append(index)
        done += rows
        if len(groups) < tasks - 1 and done * tasks >= total * (len(groups) + 1):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def build_on_dask(
    spec: SpecLike,
    data: Any,
    out: str | Path,
    *,
    scheduler: Any = None,
    float32: bool = False,
    strict: bool = False,
    batch_rows: int | None = None,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    null_values: Sequence[str] = (),
    timestamp_unit: str | None = None,
) -> BuildReport:
    """`featuredsl build --engine dask`: fit on the cluster (`fit_dask`), then write, prove
    parity on a 2,000-row sample and publish as `featuredsl.build` does. Raises as `build`."""
    started = time.perf_counter()
    fitted, sample = fit_dask(
        spec,
        data,
        client=scheduler,
        batch_rows=batch_rows or DEFAULT_BATCH_ROWS,
        partition_rows=partition_rows,
        null_values=null_values,
        keep=sample_indices,
        timestamp_unit=timestamp_unit,
    )
    return finish_build(fitted, sample, out, time.perf_counter() - started, float32, strict)


def transform_on_dask(
    build_dir: str | Path,
    data: Any,
    out: str | Path,
    *,
    scheduler: Any = None,
    float32: bool = False,
    batch_rows: int | None = None,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    null_values: Sequence[str] = (),
) -> int:
    """The features of `data` (a path or a dask DataFrame) with the build in `build_dir`,
    written by the workers as `out/part-NNNNN.parquet` (in source order by name), one
    float64 column per feature name; -> rows written. `out` must not hold other files.

    Raises FeatureDSLError when `out` is a file or holds files, DataError for bad data."""
    from featuredsl.artifact.load import load

    artifacts = load(build_dir)
    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FeatureDSLError(
            f"{out}: exists and is not an empty directory; --engine dask writes one Parquet "
            "file per partition into a new directory"
        )
    target.mkdir(parents=True, exist_ok=True)
    with connect(scheduler) as client:
        source = _Source(
            data,
            artifacts.program_inputs,
            batch_rows or DEFAULT_BATCH_ROWS,
            null_values,
            partition_rows,
        )
        pieces = source.pieces(client)
        n = len(pieces)
        futures = client.map(
            _transform_task,
            [str(Path(build_dir).resolve())] * n,
            [source.stream] * n,
            pieces,
            list(range(n)),
            [str(target.resolve())] * n,
            [float32] * n,
            pure=False,
        )
        return sum(client.gather(futures))


__all__ = ["build_on_dask", "connect", "fit_dask", "transform_on_dask"]
