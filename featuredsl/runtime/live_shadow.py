"""Live shadow reports: how a candidate served in shadow (`featuredsl serve A --shadow B --log
LOG`) disagreed with the primary on the requests it really received.

Reads the serving log's requests and the candidate's records (featuredsl.monitor.shadow_log),
and compares them exactly as `featuredsl shadow A B` compares two builds on a file
(featuredsl.runtime.shadow.compare_outputs): per output, the share of rows that differ, the
distribution of |a - b|, argmax or label changes, and the rows that differ most with their
raw inputs. Nothing is recomputed: both sides' outputs are the ones that were served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.compiler.ir import InputColumn
from featuredsl.compiler.types import DType
from featuredsl.errors import ArtifactError
from featuredsl.monitor.shadow_log import PairRecords, ShadowRecord, read_pairs
from featuredsl.runtime.shadow import (
    DEFAULT_TOP,
    RowContext,
    ShadowReport,
    Side,
    _concat,
    compare_outputs,
)


def live_shadow(
    log: str | Path,
    *,
    outputs: Sequence[str] = (),
    atol: float = 0.0,
    top: int = DEFAULT_TOP,
    limit: int | None = None,
    fail_above: float | None = None,
) -> list[ShadowReport]:
    """One ShadowReport per (primary, candidate) pair served in shadow into `log`.

    Args:
        log: a serving log written by `featuredsl serve --shadow`.
        outputs, atol, top, fail_above: as featuredsl.runtime.shadow.shadow.
        limit: at most this many shadowed requests per pair.

    Returns:
        Reports whose rows are the rows of the shadowed requests (`request <id> row <k>`); the
        notes count requests the candidate refused and requests logged without a candidate
        record (in flight when the server stopped, or skipped under load).

    Raises:
        ArtifactError: not a serving log, or one without live shadow records.
    """
    return [
        _report(entry, str(log), outputs, atol, top, fail_above)
        for entry in read_pairs(log, limit=limit)
    ]


def _report(
    entry: PairRecords,
    source: str,
    outputs: Sequence[str],
    atol: float,
    top: int,
    fail_above: float | None,
) -> ShadowReport:
    pair = entry.pair
    compared = [r for r in entry.records if r.candidate is not None]
    refused = [r for r in entry.records if r.candidate is None]
    schema = tuple(
        InputColumn(c["name"], DType(c["dtype"]), bool(c["nullable"])) for c in pair.inputs
    )
    labels = tuple(f"request {r.request_id} row {k}" for r in compared for k in range(r.rows))
    feed = _stack([r.inputs for r in compared], [c.name for c in schema], schema)
    ctx = RowContext(len(labels), labels, feed, schema, atol, top)
    names_a = _names([r.primary for r in compared])
    names_b = _names([r.candidate for r in compared if r.candidate is not None])
    side_a = Side(
        pair.primary_path,
        pair.primary_fingerprint,
        names_a,
        pair.primary_feature_names,
        _outputs([r.primary for r in compared], names_a),
    )
    side_b = Side(
        pair.candidate_path,
        pair.candidate_fingerprint,
        names_b,
        pair.candidate_feature_names,
        _outputs([r.candidate for r in compared if r.candidate is not None], names_b),
    )
    notes = [
        f"live shadow: {len(compared)} request(s) served by A and run by B in shadow",
    ]
    if pair.primary_fingerprint == pair.candidate_fingerprint:
        notes.append("A and B compute the same features (same fingerprint)")
    else:
        notes.append("A and B compute different features (different fingerprints)")
    if refused:
        notes.append(f"B refused or failed on {len(refused)} request(s); first: {_first(refused)}")
    if entry.unshadowed:
        notes.append(
            f"{entry.unshadowed} request(s) logged by A have no B record (still in flight when "
            "the server stopped, or skipped because the shadow backlog was full)"
        )
    return compare_outputs(
        side_a,
        side_b,
        ctx,
        source=source,
        outputs=outputs if compared else (),
        fail_above=fail_above,
        notes=notes,
    )


def _first(records: Sequence[ShadowRecord]) -> str:
    return f"request {records[0].request_id}: {records[0].error}"


def _names(outputs: Sequence[Mapping[str, np.ndarray] | None]) -> tuple[str, ...]:
    present = [o for o in outputs if o is not None]
    if not present:
        return ()
    first = tuple(present[0])
    for other in present[1:]:
        if tuple(other) != first:
            raise ArtifactError(
                f"the shadow records hold different outputs ({list(first)} and {list(other)}) "
                "for one pair; the log is not from one server"
            )
    return first


def _outputs(
    outputs: Sequence[Mapping[str, np.ndarray] | None], names: Sequence[str]
) -> dict[str, Any]:
    present = [o for o in outputs if o is not None]
    return {n: _concat([np.asarray(o[n]) for o in present]) for n in names}


def _stack(
    feeds: Sequence[Mapping[str, np.ndarray]], names: Sequence[str], schema: Sequence[InputColumn]
) -> dict[str, np.ndarray]:
    """The logged feeds of the compared requests as one feed (columns and null masks)."""
    wanted = list(names) + [c.mask_name for c in schema if c.mask_name is not None]
    stacked: dict[str, np.ndarray] = {}
    for name in wanted:
        parts = [np.asarray(f[name]) for f in feeds if name in f]
        if len(parts) != len(feeds):
            raise ArtifactError(f"the logged requests do not all carry input {name!r}")
        stacked[name] = np.concatenate(parts) if parts else np.zeros(0)
    return stacked
