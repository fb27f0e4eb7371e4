"""What a build holds, for people: the input contract, the fitted constants (statistics,
boundaries, vocabularies with their training counts), the features and the data-quality summary,
read from the manifest. `featuredsl show DIR` prints it as terminal tables; FittedSpec and
Artifacts show it in notebooks (`_repr_html_`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from featuredsl.artifact.display import Document, Table, fmt, share
from featuredsl.language.durations import human_duration

# Analyzers whose value is a list of cut points (bucketize boundaries).
BOUNDARY_ANALYZERS = frozenset({"quantiles"})
VOCABULARY_ANALYZERS = frozenset({"vocab"})
SHOWN_VALUES = 50  # vocabulary entries listed per vocabulary (the rest are counted)


def build_document(manifest: Mapping[str, Any], *, where: str = "") -> Document:
    """The Document of a build's manifest.

    Args:
        manifest: a manifest as `FittedSpec.manifest()` returns it or manifest.json holds it.
        where: the build directory, shown as a fact when given.
    """
    quality = manifest.get("data_quality") or {}
    rows = quality.get("rows")
    facts: list[tuple[str, str]] = [("spec", str(manifest.get("spec", "")))]
    if where:
        facts.append(("build", where))
    facts += [
        ("fingerprint", str(manifest.get("fingerprint", ""))),
        ("featuredsl", str(manifest.get("featuredsl_version", ""))),
        ("training rows", fmt(rows) if rows is not None else "unknown"),
        (
            "features",
            f"{len(manifest.get('features', []))} ({len(manifest.get('feature_names', []))} "
            "output columns)",
        ),
    ]
    findings = tuple(str(f) for f in quality.get("findings", []))
    tables = [
        _inputs(manifest, quality),
        *_events(manifest),
        *_constants(manifest.get("constants", [])),
        _features(manifest),
        _quality(quality),
    ]
    return Document(
        f"featuredsl build: {manifest.get('spec', '')}",
        tuple(facts),
        tuple(t for t in tables if t.rows),
        findings,
        "warning" if findings else "ok",
    )


def _inputs(manifest: Mapping[str, Any], quality: Mapping[str, Any]) -> Table:
    nulls = quality.get("input_null_shares", {})
    rows = tuple(
        (
            c["name"],
            str(c["dtype"]),
            "yes" if c["nullable"] else "no",
            str(c.get("null_encoding", "")),
            share(nulls.get(c["name"])),
        )
        for c in manifest.get("inputs", [])
    )
    return Table(
        "Input contract",
        ("column", "type", "nullable", "null at serving", "null in training"),
        rows,
        "Every request must carry these columns with these types (timestamps: int64 "
        "microseconds UTC).",
        (False, False, False, False, True),
    )


def _events(manifest: Mapping[str, Any]) -> list[Table]:
    """The event sources and window aggregates of a build with windows (docs/windows.md)."""
    sources = manifest.get("events") or []
    if not sources:
        return []
    events = Table(
        "Event sources",
        ("source", "key", "event time", "lag", "event columns"),
        tuple(
            (
                s["name"],
                s["key"],
                s["time"],
                human_duration(int(s["lag_us"])),
                ", ".join(
                    f"{c['name']}: {c['dtype']}{'?' if c['nullable'] else ''}" for c in s["columns"]
                ),
            )
            for s in sources
        ),
        "Each request row carries its entity's recent events, in event-time order (graph "
        "inputs SOURCE.offsets, int64 rows + 1, and SOURCE.COLUMN per column); a window holds "
        "the events with prediction time - lag - length <= event time < prediction time - lag.",
    )
    windows = Table(
        "Window aggregates",
        ("expression", "column (backfilled tables)", "type", "length", "empty window"),
        tuple(
            (
                w["expression"],
                w["column"],
                str(w["dtype"]) + ("?" if w["nullable"] else ""),
                human_duration(int(w["length_us"])),
                "null" if w["nullable"] else "0",
            )
            for w in manifest.get("windows", [])
        ),
        "Backfilled for training, computed from the request's events in serving: the same bits.",
    )
    return [events, windows]


def _constants(constants: Sequence[Mapping[str, Any]]) -> list[Table]:
    scalars, boundaries, vocabularies = [], [], []
    for c in constants:
        if c["analyzer"] in VOCABULARY_ANALYZERS:
            vocabularies.append(_vocabulary(c))
        elif c["analyzer"] in BOUNDARY_ANALYZERS or isinstance(c["value"], list):
            values = c["value"]
            boundaries.append(
                (c["expression"], c["at"], fmt(len(values)), ", ".join(fmt(v) for v in values))
            )
        else:
            scalars.append((c["expression"], c["analyzer"], c["at"], _exact(c["value"])))
    tables = [
        Table(
            "Fitted statistics",
            ("expression", "statistic", "spec line:col", "value"),
            tuple(scalars),
            "Computed once on the training data; both artifacts carry these constants.",
            (False, False, False, True),
        ),
        Table(
            "Boundaries",
            ("expression", "spec line:col", "count", "values"),
            tuple(boundaries),
            numeric=(False, False, True, False),
        ),
    ]
    return tables + vocabularies


def _exact(value: Any) -> str:
    """A fitted value as stored: floats as the shortest text that reads back to the same bits."""
    return repr(value) if isinstance(value, float) else fmt(value)


def _vocabulary(constant: Mapping[str, Any]) -> Table:
    values = constant["value"]
    counts = constant.get("counts")
    total = sum(counts) if counts else 0
    rows = []
    for index, value in enumerate(values[:SHOWN_VALUES]):
        count = counts[index] if counts else None
        rows.append(
            (
                fmt(index),
                repr(value) if isinstance(value, str) else fmt(value),
                "n/a" if count is None else fmt(count),
                "n/a" if count is None else share(count / total if total else None),
            )
        )
    more = len(values) - SHOWN_VALUES
    params = ", ".join(f"{k}={v}" for k, v in constant.get("params", {}).items())
    note = f"{len(values)} values ({params}) at spec {constant['at']}"
    if more > 0:
        note += f"; the first {SHOWN_VALUES} are shown"
    if counts is None:
        note += "; training counts not recorded (built by an older featuredsl)"
    return Table(
        f"Vocabulary: {constant['expression']}",
        ("index", "value", "training count", "share of kept"),
        tuple(rows),
        note,
        (True, False, True, True),
    )


def _features(manifest: Mapping[str, Any]) -> Table:
    rows = tuple(
        (f["name"], str(f["dtype"]), ", ".join(f.get("columns", [])), ", ".join(f["inputs"]))
        for f in manifest.get("features", [])
    )
    return Table("Features", ("feature", "type", "output columns", "reads"), rows)


def _quality(quality: Mapping[str, Any]) -> Table:
    columns = quality.get("columns", {})
    rows = tuple(
        (
            name,
            share(q.get("nan")),
            share(q.get("posinf")),
            share(q.get("neginf")),
            "yes" if q.get("constant") else "no",
        )
        for name, q in columns.items()
    )
    return Table(
        "Data quality of the training features",
        ("output column", "NaN", "+inf", "-inf", "constant"),
        rows,
        f"On {fmt(quality.get('rows'))} training rows." if quality else "",
        (False, True, True, True, False),
    )
