"""Reference profiles: mergeable per-column summaries stored as JSON at build time.

A profile keeps what skew checks need without the raw training data: exact counts, nulls,
infinities, min/max and moments; exact per-value counts while a column has few distinct values
(a complete histogram); a KLL quantile sketch; exact category counts, or a frequent-items sketch
past EXACT_CATEGORIES_MAX. merge() of the profiles of two partitions equals the profile of the
whole: exactly for every count, within the sketches' documented error for the sketches.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.errors import DataError
from featuredsl.monitor.columns import NUMERIC, Column, Dataset, as_dataset
from featuredsl.monitor.summary import CategoricalSummary, NumericSummary, Summary, category_counts

PROFILE_FORMAT = "featuredsl.profile"
PROFILE_VERSION = 1
# KLL k=400: normalised rank error about 0.7% (single rank, 99% confidence), about 10 KB a column.
KLL_K = 400
# Numeric columns keep exact per-value counts while they have at most this many distinct values.
EXACT_VALUES_MAX = 1024
# Categorical columns keep exact counts up to this many categories, then a frequent-items sketch.
EXACT_CATEGORIES_MAX = 10_000
# frequent_strings_sketch with 2**12 counters: estimates within 3.5/4096 of the total weight.
FREQUENT_LG_MAX_K = 12


def _sketches() -> Any:
    try:
        import datasketches
    except ImportError as err:  # pragma: no cover - datasketches is a declared dependency
        raise DataError(
            "profiles need the 'datasketches' package: pip install 'featuredsl[sketches]'"
        ) from err
    return datasketches


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class NumericProfile:
    rows: int
    nulls: int
    pos_inf: int
    neg_inf: int
    mean: float  # of the finite values; NaN when there are none
    m2: float  # sum of squared deviations from the mean (Welford), for the std
    min: float
    max: float
    values: tuple[float, ...] | None  # distinct finite values, sorted; None past EXACT_VALUES_MAX
    counts: tuple[int, ...] | None
    kll: bytes

    kind = NUMERIC

    @property
    def finite(self) -> int:
        return self.rows - self.nulls - self.pos_inf - self.neg_inf

    @classmethod
    def from_column(cls, column: Column) -> NumericProfile:
        present = column.values[~column.null]
        finite = present[np.isfinite(present)]
        sketch = _sketches().kll_doubles_sketch(KLL_K)
        if len(finite):
            sketch.update(finite)
        distinct, counts = np.unique(finite, return_counts=True)
        exact = len(distinct) <= EXACT_VALUES_MAX
        mean = float(finite.mean()) if len(finite) else float("nan")
        return cls(
            rows=len(column),
            nulls=int(column.null.sum()),
            pos_inf=int(np.sum(present == np.inf)),
            neg_inf=int(np.sum(present == -np.inf)),
            mean=mean,
            m2=float(np.sum((finite - mean) ** 2)) if len(finite) else 0.0,
            min=float(distinct[0]) if len(finite) else float("nan"),
            max=float(distinct[-1]) if len(finite) else float("nan"),
            values=tuple(float(v) for v in distinct) if exact else None,
            counts=tuple(int(c) for c in counts) if exact else None,
            kll=sketch.serialize(),
        )

    def merge(self, other: NumericProfile) -> NumericProfile:
        na, nb = self.finite, other.finite
        n = na + nb
        if na == 0 or nb == 0:
            mean, m2 = (self.mean, self.m2) if nb == 0 else (other.mean, other.m2)
        else:
            # Chan et al.'s pairwise update: exact merge of mean and M2.
            delta = other.mean - self.mean
            mean = self.mean + delta * nb / n
            m2 = self.m2 + other.m2 + delta * delta * na * nb / n
        sketch = _sketches().kll_doubles_sketch.deserialize(self.kll)
        sketch.merge(_sketches().kll_doubles_sketch.deserialize(other.kll))
        values, counts = _merge_counts(self.values, self.counts, other.values, other.counts)
        return NumericProfile(
            rows=self.rows + other.rows,
            nulls=self.nulls + other.nulls,
            pos_inf=self.pos_inf + other.pos_inf,
            neg_inf=self.neg_inf + other.neg_inf,
            mean=mean,
            m2=m2,
            min=float(np.fmin(self.min, other.min)),
            max=float(np.fmax(self.max, other.max)),
            values=values,
            counts=counts,
            kll=sketch.serialize(),
        )

    def summary(self) -> NumericSummary:
        values: np.ndarray
        weights: np.ndarray
        if self.values is not None and self.counts is not None:
            values = np.asarray(self.values, dtype=np.float64)
            weights = np.asarray(self.counts, dtype=np.float64)
            exact = True
        else:
            items = list(_sketches().kll_doubles_sketch.deserialize(self.kll))
            raw = np.array([item for item, _ in items], dtype=np.float64)
            raw_weights = np.array([weight for _, weight in items], dtype=np.float64)
            values, inverse = np.unique(raw, return_inverse=True)
            weights = np.bincount(inverse, weights=raw_weights, minlength=len(values))
            exact = False
        return NumericSummary(
            values=values,
            weights=weights,
            rows=self.rows,
            nulls=self.nulls,
            pos_inf=self.pos_inf,
            neg_inf=self.neg_inf,
            mean=self.mean,
            std=math.sqrt(self.m2 / self.finite) if self.finite else float("nan"),
            min=self.min,
            max=self.max,
            exact=exact,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": NUMERIC,
            "rows": self.rows,
            "nulls": self.nulls,
            "pos_inf": self.pos_inf,
            "neg_inf": self.neg_inf,
            "mean": _num(self.mean),
            "m2": self.m2,
            "min": _num(self.min),
            "max": _num(self.max),
            "values": None if self.values is None else list(self.values),
            "counts": None if self.counts is None else list(self.counts),
            "kll_k": KLL_K,
            "kll": _b64(self.kll),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        def flt(key: str) -> float:
            value = data[key]
            return float("nan") if value is None else float(value)

        values, counts = data.get("values"), data.get("counts")
        return cls(
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            pos_inf=int(data["pos_inf"]),
            neg_inf=int(data["neg_inf"]),
            mean=flt("mean"),
            m2=float(data["m2"]),
            min=flt("min"),
            max=flt("max"),
            values=None if values is None else tuple(float(v) for v in values),
            counts=None if counts is None else tuple(int(c) for c in counts),
            kll=_unb64(data["kll"]),
        )


def _merge_counts(
    va: tuple[float, ...] | None,
    ca: tuple[int, ...] | None,
    vb: tuple[float, ...] | None,
    cb: tuple[int, ...] | None,
) -> tuple[tuple[float, ...] | None, tuple[int, ...] | None]:
    # One side past the cap means the whole is past it: the distinct count only grows.
    if va is None or ca is None or vb is None or cb is None:
        return None, None
    merged: dict[float, int] = dict(zip(va, ca, strict=True))
    for value, count in zip(vb, cb, strict=True):
        merged[value] = merged.get(value, 0) + count
    if len(merged) > EXACT_VALUES_MAX:
        return None, None
    keys = sorted(merged)
    return tuple(keys), tuple(merged[k] for k in keys)


@dataclass(frozen=True)
class CategoricalProfile:
    rows: int
    nulls: int
    counts: Mapping[str, int] | None  # exact counts; None once a sketch took over
    frequent: bytes | None  # serialized frequent_strings_sketch

    kind = "categorical"

    @classmethod
    def from_column(cls, column: Column) -> CategoricalProfile:
        keys, counts = category_counts(column.values[~column.null])
        exact = {k: int(c) for k, c in zip(keys, counts, strict=True)}
        return cls._from_counts(len(column), int(column.null.sum()), exact)

    @classmethod
    def _from_counts(cls, rows: int, nulls: int, counts: dict[str, int]) -> CategoricalProfile:
        if len(counts) <= EXACT_CATEGORIES_MAX:
            return cls(rows, nulls, dict(sorted(counts.items())), None)
        sketch = _sketches().frequent_strings_sketch(FREQUENT_LG_MAX_K)
        for key, count in counts.items():
            sketch.update(key, count)
        return cls(rows, nulls, None, sketch.serialize())

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        rows, nulls = self.rows + other.rows, self.nulls + other.nulls
        if self.counts is not None and other.counts is not None:
            merged = dict(self.counts)
            for key, count in other.counts.items():
                merged[key] = merged.get(key, 0) + count
            return self._from_counts(rows, nulls, merged)
        sketch = self._sketch()
        if other.counts is not None:
            for key, count in other.counts.items():
                sketch.update(key, count)
        else:
            sketch.merge(other._sketch())
        return CategoricalProfile(rows, nulls, None, sketch.serialize())

    def _sketch(self) -> Any:
        fs = _sketches().frequent_strings_sketch
        if self.frequent is not None:
            return fs.deserialize(self.frequent)
        sketch = fs(FREQUENT_LG_MAX_K)
        for key, count in (self.counts or {}).items():
            sketch.update(key, count)
        return sketch

    def summary(self) -> CategoricalSummary:
        present = self.rows - self.nulls
        if self.counts is not None:
            keys = tuple(self.counts)
            counts = np.array([self.counts[k] for k in keys], dtype=np.float64)
            return CategoricalSummary(
                keys,
                counts,
                self.rows,
                self.nulls,
                singletons=int(np.sum(counts == 1)),
                doubletons=int(np.sum(counts == 2)),
            )
        ds = _sketches()
        items = self._sketch().get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
        items = sorted(items, key=lambda item: item[0])
        keys = tuple(item[0] for item in items)
        estimates = np.array([item[1] for item in items], dtype=np.float64)
        other = max(0, present - int(estimates.sum()))
        return CategoricalSummary(
            keys, estimates, self.rows, self.nulls, other=other, complete=False, singletons=None
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "rows": self.rows,
            "nulls": self.nulls,
            "counts": None if self.counts is None else dict(self.counts),
            "frequent_lg_max_k": FREQUENT_LG_MAX_K,
            "frequent": None if self.frequent is None else _b64(self.frequent),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        counts = data.get("counts")
        frequent = data.get("frequent")
        if counts is None and frequent is None:
            raise ValueError("categorical column has neither counts nor a sketch")
        return cls(
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            counts=None if counts is None else {str(k): int(v) for k, v in counts.items()},
            frequent=None if frequent is None else _unb64(frequent),
        )


ColumnProfile = NumericProfile | CategoricalProfile


def profile_column(column: Column) -> ColumnProfile:
    if column.kind == NUMERIC:
        return NumericProfile.from_column(column)
    return CategoricalProfile.from_column(column)


@dataclass(frozen=True)
class Profile:
    """Column profiles by group ("features", "inputs"), tagged with the artifact fingerprint."""

    groups: Mapping[str, Mapping[str, ColumnProfile]]
    fingerprint: str | None = None
    source: str = "profile"

    def rows(self, group: str) -> int:
        columns = self.groups.get(group, {})
        return next(iter(columns.values())).rows if columns else 0

    def summary(self, group: str, name: str) -> Summary:
        return self.groups[group][name].summary()

    def merge(self, other: Profile) -> Profile:
        if self.fingerprint and other.fingerprint and self.fingerprint != other.fingerprint:
            raise DataError(
                f"cannot merge profiles of different artifacts "
                f"(fingerprints {self.fingerprint[:12]} and {other.fingerprint[:12]})"
            )
        groups: dict[str, dict[str, ColumnProfile]] = {}
        for group in dict.fromkeys([*self.groups, *other.groups]):
            mine, theirs = self.groups.get(group, {}), other.groups.get(group, {})
            if list(mine) != list(theirs):
                only = sorted(set(mine) ^ set(theirs)) or list(mine)
                raise DataError(
                    f"cannot merge profiles: group '{group}' has different columns "
                    f"(e.g. '{only[0]}')"
                )
            merged: dict[str, ColumnProfile] = {}
            for name, column in mine.items():
                other_column = theirs[name]
                if isinstance(column, NumericProfile) and isinstance(other_column, NumericProfile):
                    merged[name] = column.merge(other_column)
                    continue
                if isinstance(column, CategoricalProfile) and isinstance(
                    other_column, CategoricalProfile
                ):
                    merged[name] = column.merge(other_column)
                else:
                    raise DataError(
                        f"cannot merge profiles: column '{name}' is {column.kind} in one "
                        f"and {other_column.kind} in the other"
                    )
            groups[group] = merged
        return Profile(groups, self.fingerprint or other.fingerprint, self.source)

    def _repr_html_(self) -> str:
        """Per group, one row per column: rows, nulls, and its distribution or categories."""
        from featuredsl.artifact.display import notebook_html

        return notebook_html(profile_document(self))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "fingerprint": self.fingerprint,
            "groups": {
                group: {name: column.to_dict() for name, column in columns.items()}
                for group, columns in self.groups.items()
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "profile") -> Profile:
        if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
            raise DataError(f'{source}: not a featuredsl profile (no "format": "{PROFILE_FORMAT}")')
        if data.get("version") != PROFILE_VERSION:
            raise DataError(
                f"{source}: profile version {data.get('version')!r} is not supported "
                f"(this featuredsl reads version {PROFILE_VERSION})"
            )
        raw_groups = data.get("groups")
        if not isinstance(raw_groups, dict):
            raise DataError(f'{source}: malformed profile: no "groups" object')
        groups: dict[str, dict[str, ColumnProfile]] = {}
        for group, columns in raw_groups.items():
            if not isinstance(columns, dict):
                raise DataError(f"{source}: malformed profile: group '{group}' is not an object")
            groups[group] = {}
            for name, column in columns.items():
                try:
                    groups[group][name] = _column_from_dict(column)
                except (KeyError, TypeError, ValueError, AttributeError) as err:
                    raise DataError(
                        f"{source}: malformed profile column '{name}' in group '{group}': {err}"
                    ) from None
        return cls(groups, data.get("fingerprint"), source)

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{path}: profile not found") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"{path}: not a JSON profile ({err})") from None
        return cls.from_dict(data, source=str(path))


def _column_from_dict(data: Any) -> ColumnProfile:
    kind = data.get("kind")
    if kind == NUMERIC:
        return NumericProfile.from_dict(data)
    if kind == "categorical":
        return CategoricalProfile.from_dict(data)
    raise ValueError(f"unknown kind {kind!r}")


def profile_dataset(dataset: Dataset, *, fingerprint: str | None = None) -> Profile:
    groups = {
        group: {name: profile_column(column) for name, column in columns.items()}
        for group, columns in dataset.groups.items()
    }
    return Profile(groups, fingerprint, dataset.source)


def profile_data(data: Any, *, group: str = "features", fingerprint: str | None = None) -> Profile:
    """Profile a DataFrame / Arrow table / dict of arrays as one group."""
    return profile_dataset(as_dataset(data, group=group), fingerprint=fingerprint)


def profile_document(profile: Profile) -> Any:
    """A Profile as a display Document (featuredsl.artifact.display): one table per group."""
    from featuredsl.artifact.display import Document, Table, fmt, share

    tables = []
    for group, columns in profile.groups.items():
        rows = []
        for name, column in columns.items():
            summary = column.summary()
            nulls = share(summary.nulls / summary.rows if summary.rows else None)
            if isinstance(summary, NumericSummary):
                spread = (
                    f"mean {fmt(summary.mean)}, std {fmt(summary.std)}, "
                    f"range [{fmt(summary.min)}, {fmt(summary.max)}]"
                )
                if summary.pos_inf or summary.neg_inf:
                    spread += f"; +inf {summary.pos_inf:,}, -inf {summary.neg_inf:,}"
            else:
                order = np.argsort(-summary.counts, kind="stable")[:5]
                top = ", ".join(
                    f"{summary.categories[i]!r} {int(summary.counts[i]):,}" for i in order
                )
                spread = f"{len(summary.categories):,} categories; top: {top}"
            exact = (
                "exact"
                if getattr(summary, "exact", getattr(summary, "complete", True))
                else "sketch"
            )
            rows.append((name, column.kind, fmt(summary.rows), nulls, spread, exact))
        tables.append(
            Table(
                f"Group: {group}",
                ("column", "kind", "rows", "null", "distribution", "from"),
                tuple(rows),
                numeric=(False, False, True, True, False, False),
            )
        )
    facts = (("source", profile.source), ("fingerprint", profile.fingerprint or "none"))
    return Document("featuredsl profile", facts, tuple(tables))
