"""Baselines for bench/run.py: hand-written numpy, a scikit-learn ColumnTransformer, skl2onnx.

`fit_hand` / `transform_hand` compute exactly the 36 columns of bench/bench.fdsl, in its column
order, with the same statistics semantics (median and quantiles with linear interpolation over
non-null values; population std; IQR and ranges of 0 replaced by 1; vocabularies by descending
count, ties by code point; one OOV column; bucket i holds edges[i-1] <= x < edges[i]). It is
written the way a careful engineer would: vectorised numpy, one dict lookup per string row,
hashes computed once per distinct value, output columns written in place.

The scikit-learn pipeline expresses the same features with stock transformers (SimpleImputer,
StandardScaler, RobustScaler, MinMaxScaler, KBinsDiscretizer, OneHotEncoder, OrdinalEncoder,
MissingIndicator) plus FunctionTransformers for hashing, ratios and time features. skl2onnx
cannot convert FunctionTransformers or missing indicators, so the ONNX baseline is the stock
subset (`sklearn_pipeline(full=False)`, 29 columns: no missing indicators, hash, ratio or time
columns), and its one-hot encoder drops the OOV column (skl2onnx cannot convert infrequent
categories), so the ONNX baseline computes 28 of the 36 columns, which favours it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

Feed = dict[str, np.ndarray]
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
COUNTRY_TOP = 20
HASH_BUCKETS = 16
MASK32 = 0xFFFFFFFF
TWO_PI = 2.0 * np.pi

# ----------------------------------------------------------------------------- hand-written numpy


@dataclass(frozen=True)
class HandParams:
    """Every statistic the features need, fitted once."""

    age_median: float
    age_mean: float
    age_std: float
    age_edges: np.ndarray
    income_median: float
    income_center: float  # the median of the filled column (robust's center)
    income_iqr: float
    income_edges: np.ndarray
    balance_mean: float
    balance_std: float
    balance_min: float
    balance_range: float
    clicks_mean: float
    clicks_std: float
    country_index: dict[str, int]
    plan_index: dict[str, int]


def _scale(value: float) -> float:
    """A zero or non-finite scale is replaced by 1."""
    return value if np.isfinite(value) and value != 0.0 else 1.0


def _edges(values: np.ndarray, buckets: int) -> np.ndarray:
    levels = np.arange(1, buckets) / buckets
    return np.unique(np.quantile(values, levels))  # sorted, duplicates removed


def _vocab(values: list[str]) -> list[str]:
    """Distinct values by descending count, ties by code point."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return sorted(counts, key=lambda v: (-counts[v], v))


def _filled(values: np.ndarray, fill: float) -> np.ndarray:
    return np.where(np.isnan(values), fill, values)


def fit_hand(feed: Feed) -> HandParams:
    age = feed["age"]
    age_median = float(np.median(age[~np.isnan(age)]))
    age_f = _filled(age, age_median)
    income = feed["income"]
    income_median = float(np.median(income[~np.isnan(income)]))
    income_f = _filled(income, income_median)
    q25, q50, q75 = np.quantile(income_f, [0.25, 0.5, 0.75])
    balance = feed["balance"]
    clicks = feed["clicks_7d"].astype(np.float64)
    plan = np.where(feed["plan.is_null"], "none", feed["plan"]).tolist()
    country = _vocab(feed["country"].tolist())[:COUNTRY_TOP]
    return HandParams(
        age_median=age_median,
        age_mean=float(age_f.mean()),
        age_std=_scale(float(age_f.std())),
        age_edges=_edges(age_f, 10),
        income_median=income_median,
        income_center=float(q50),
        income_iqr=_scale(float(q75 - q25)),
        income_edges=_edges(income_f, 5),
        balance_mean=float(balance.mean()),
        balance_std=_scale(float(balance.std())),
        balance_min=float(balance.min()),
        balance_range=_scale(float(balance.max() - balance.min())),
        clicks_mean=float(clicks.mean()),
        clicks_std=_scale(float(clicks.std())),
        country_index={v: i for i, v in enumerate(country)},
        plan_index={v: i for i, v in enumerate(_vocab(plan))},
    )


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & MASK32


def murmur3_32(data: bytes) -> int:
    """MurmurHash3_x86_32, seed 0, as an unsigned int."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = 0
    full = len(data) // 4 * 4
    for i in range(0, full, 4):
        k = _rotl32((int.from_bytes(data[i : i + 4], "little") * c1) & MASK32, 15)
        h = _rotl32(h ^ ((k * c2) & MASK32), 13)
        h = (h * 5 + 0xE6546B64) & MASK32
    tail = int.from_bytes(data[full:], "little")
    if len(data) > full:
        h ^= (_rotl32((tail * c1) & MASK32, 15) * c2) & MASK32
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK32
    return h ^ (h >> 16)


def _codes(values: list[str], index: dict[str, int], missing: int) -> np.ndarray:
    """index[v] for each value (missing when absent): one C-level dict lookup per row."""
    found = map(index.get, values, itertools.repeat(missing))
    return np.fromiter(found, dtype=np.int64, count=len(values))


def _hash_buckets(values: list[str], buckets: int) -> np.ndarray:
    table = {v: murmur3_32(v.encode("utf-8")) % buckets for v in set(values)}
    return _codes(values, table, 0)


def transform_hand(feed: Feed, p: HandParams) -> np.ndarray:
    """The 36 feature columns, in bench.fdsl's order, as a C-ordered float64 matrix."""
    rows = len(feed["age"])
    out = np.empty((rows, 36), dtype=np.float64)
    _numeric_columns(feed, p, out)
    _country_columns(feed["country"].tolist(), p, out[:, 9:30])
    plan = feed["plan"].tolist()
    plan_codes = _codes(plan, p.plan_index, len(p.plan_index))
    none_code = p.plan_index.get("none", len(p.plan_index))
    out[:, 30] = np.where(feed["plan.is_null"], none_code, plan_codes)
    out[:, 31] = _hash_buckets(feed["device"].tolist(), HASH_BUCKETS)
    _activity_columns(feed, out)
    return out


def _numeric_columns(feed: Feed, p: HandParams, out: np.ndarray) -> None:
    age = feed["age"]
    age_missing = np.isnan(age)
    age_f = np.where(age_missing, p.age_median, age)
    out[:, 0] = (age_f - p.age_mean) / p.age_std
    out[:, 1] = age_missing
    out[:, 2] = np.searchsorted(p.age_edges, age_f, side="right")
    income = feed["income"]
    income_missing = np.isnan(income)
    income_f = np.where(income_missing, p.income_median, income)
    out[:, 3] = (income_f - p.income_center) / p.income_iqr
    out[:, 4] = income_missing
    out[:, 5] = np.searchsorted(p.income_edges, income_f, side="right")
    balance = feed["balance"]
    out[:, 6] = (balance - p.balance_mean) / p.balance_std
    out[:, 7] = (balance - p.balance_min) / p.balance_range
    out[:, 8] = (feed["clicks_7d"].astype(np.float64) - p.clicks_mean) / p.clicks_std


def _country_columns(values: list[str], p: HandParams, block: np.ndarray) -> None:
    codes = _codes(values, p.country_index, len(p.country_index))
    block[...] = 0.0
    block[np.arange(len(codes)), codes] = 1.0


def _activity_columns(feed: Feed, out: np.ndarray) -> None:
    impressions = np.maximum(feed["impressions_7d"], 1)
    out[:, 32] = feed["clicks_7d"].astype(np.float64) / impressions.astype(np.float64)
    event = feed["event_ts"]
    out[:, 33] = (event - feed["signup_ts"]) // DAY_US
    angle = TWO_PI * ((event % DAY_US) // HOUR_US).astype(np.float64) / 24.0
    out[:, 34] = np.sin(angle)
    out[:, 35] = np.cos(angle)


# ----------------------------------------------------------------------------- scikit-learn


def _ctr(frame: pd.DataFrame) -> np.ndarray:
    clicks = frame["clicks_7d"].to_numpy(np.float64)
    impressions = np.maximum(frame["impressions_7d"].to_numpy(), 1).astype(np.float64)
    return (clicks / impressions).reshape(-1, 1)


def _tenure_days(frame: pd.DataFrame) -> np.ndarray:
    return (frame["event_ts"] - frame["signup_ts"]).dt.days.to_numpy(np.float64).reshape(-1, 1)


def _hour_sin_cos(frame: pd.DataFrame) -> np.ndarray:
    angle = TWO_PI * frame["event_ts"].dt.hour.to_numpy(np.float64) / 24.0
    return np.column_stack([np.sin(angle), np.cos(angle)])


def _device_hash(frame: pd.DataFrame) -> np.ndarray:
    from sklearn.utils import murmurhash3_32

    codes, uniques = pd.factorize(frame["device"])
    buckets = np.array([murmurhash3_32(str(u), positive=True) % HASH_BUCKETS for u in uniques])
    return buckets[codes].astype(np.float64).reshape(-1, 1)


def _kbins(buckets: int) -> Any:
    from sklearn.preprocessing import KBinsDiscretizer

    return KBinsDiscretizer(
        n_bins=buckets,
        encode="ordinal",
        strategy="quantile",
        quantile_method="linear",
        subsample=None,
    )


def _stock_branches() -> list[tuple[str, Any, list[str]]]:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        RobustScaler,
        StandardScaler,
    )

    def imputed(step: Any) -> Pipeline:
        return Pipeline([("impute", SimpleImputer(strategy="median")), ("step", step)])

    country = OneHotEncoder(
        max_categories=COUNTRY_TOP + 1, handle_unknown="infrequent_if_exist", sparse_output=False
    )
    plan = Pipeline(
        [
            ("impute", SimpleImputer(missing_values="", strategy="constant", fill_value="none")),
            ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
        ]
    )
    return [
        ("age_z", imputed(StandardScaler()), ["age"]),
        ("age_bucket", imputed(_kbins(10)), ["age"]),
        ("income_robust", imputed(RobustScaler()), ["income"]),
        ("income_bucket", imputed(_kbins(5)), ["income"]),
        ("balance_z", StandardScaler(), ["balance"]),
        ("balance_mm", MinMaxScaler(), ["balance"]),
        ("clicks_z", StandardScaler(), ["clicks_7d"]),
        ("country_oh", country, ["country"]),
        ("plan_idx", plan, ["plan"]),
    ]


def _names(*names: str) -> Callable[[Any, Any], list[str]]:
    return lambda transformer, names_in: list(names)


def _function_branches() -> list[tuple[str, Any, list[str]]]:
    from sklearn.impute import MissingIndicator
    from sklearn.preprocessing import FunctionTransformer

    def function(f: Callable[[pd.DataFrame], np.ndarray], *names: str) -> FunctionTransformer:
        return FunctionTransformer(f, feature_names_out=_names(*names))

    return [
        ("age_missing", MissingIndicator(features="all"), ["age"]),
        ("income_missing", MissingIndicator(features="all"), ["income"]),
        ("device_hash", function(_device_hash, "device_hash"), ["device"]),
        ("ctr", function(_ctr, "ctr"), ["clicks_7d", "impressions_7d"]),
        ("tenure_days", function(_tenure_days, "tenure_days"), ["event_ts", "signup_ts"]),
        ("hour_sin_cos", function(_hour_sin_cos, "hour_sin", "hour_cos"), ["event_ts"]),
    ]


def sklearn_pipeline(full: bool = True) -> Any:
    """All 36 columns (full) or the 31 that skl2onnx can convert."""
    from sklearn.compose import ColumnTransformer

    branches = _stock_branches() + (_function_branches() if full else [])
    return ColumnTransformer(branches, remainder="drop", sparse_threshold=0.0)


def sklearn_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The DataFrame as the sklearn pipeline takes it: a null plan is "" (ONNX has no null string)."""
    out = frame.copy()
    out["plan"] = frame["plan"].fillna("").astype(object)
    return out


SKL2ONNX_COLUMNS = ("age", "income", "balance", "clicks_7d", "country", "plan")


def _frequent_only(encoder: Any) -> Any:
    """An equivalent OneHotEncoder without the infrequent column (skl2onnx cannot convert one)."""
    from sklearn.preprocessing import OneHotEncoder

    infrequent = set(encoder.infrequent_categories_[0].tolist())
    frequent = np.array([c for c in encoder.categories_[0] if c not in infrequent], dtype=object)
    replacement = OneHotEncoder(categories=[frequent], handle_unknown="ignore", sparse_output=False)
    return replacement.fit(pd.DataFrame({"country": frequent}))


def onnx_ready(pipeline: Any) -> Any:
    """A copy of the fitted stock subset that skl2onnx can convert: OOV country rows become all 0."""
    import copy

    converted = copy.deepcopy(pipeline)
    converted.transformers_ = [
        (name, _frequent_only(step) if name == "country_oh" else step, columns)
        for name, step, columns in converted.transformers_
    ]
    return converted


def skl2onnx_model(pipeline: Any) -> Any:
    """The fitted stock subset converted by skl2onnx (float32 numeric inputs, as skl2onnx does)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    types = {
        "age": FloatTensorType([None, 1]),
        "income": FloatTensorType([None, 1]),
        "balance": FloatTensorType([None, 1]),
        "clicks_7d": Int64TensorType([None, 1]),
        "country": StringTensorType([None, 1]),
        "plan": StringTensorType([None, 1]),
    }
    return convert_sklearn(
        onnx_ready(pipeline),
        initial_types=list(types.items()),
        target_opset={"": 18, "ai.onnx.ml": 3},
    )


def skl2onnx_feed(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Inputs of the skl2onnx graph: one (rows, 1) array per column."""
    feed: dict[str, np.ndarray] = {}
    for name in ("age", "income", "balance"):
        feed[name] = frame[name].to_numpy(np.float32).reshape(-1, 1)
    feed["clicks_7d"] = frame["clicks_7d"].to_numpy(np.int64).reshape(-1, 1)
    for name in ("country", "plan"):
        feed[name] = frame[name].to_numpy(object).reshape(-1, 1)
    return feed
