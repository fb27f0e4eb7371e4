"""Analyzers (statistics fitted on the training data) and the scalers built on them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from featuredsl.compiler.builder import (
    Emitter,
    Value,
    fitted,
    literal,
)
from featuredsl.compiler.op import (
    ANY,
    CATEGORICAL,
    INT64_MAX,
    INT_ONLY,
    NUM,
    ORDERED,
    PROPAGATE,
    SKIP,
    TS,
    Op,
    Returns,
    X,
    param,
)
from featuredsl.compiler.types import DType, Shape


def _analyzer(name: str, result: str = "float") -> Any:
    def lower(e: Emitter, x: Value) -> Value:
        dtype = {"float": DType.FLOAT, "int": DType.INT, "same": x.dtype}[result]
        source = replace(x, node=e.to_float(x.node)) if result == "float" else x
        return Value(fitted(e, name, source, dtype))

    lower.__name__ = f"lower_{name}"
    return lower


def _scaler(center: str | None, scale: str) -> Any:
    # The checker refuses a constant x (its parameter is declared per_row).
    def lower(e: Emitter, x: Value) -> Value:
        a = e.to_float(x.node)
        source = replace(x, node=a)
        shifted = a if center is None else e.sub(a, fitted(e, center, source, DType.FLOAT))
        return Value(e.div(shifted, fitted(e, scale, source, DType.FLOAT)))

    return lower


lower_mean = _analyzer("mean")
lower_std = _analyzer("std")
lower_var = _analyzer("var")
lower_fit_min = _analyzer("min", "same")
lower_fit_max = _analyzer("max", "same")
lower_median = _analyzer("median")


def lower_quantile(e: Emitter, x: Value, q: Value) -> Value:
    level = float(literal(q))
    return Value(
        fitted(
            e, "quantile", replace(x, node=e.to_float(x.node)), DType.FLOAT, q=float(level).hex()
        )
    )


def lower_quantiles(e: Emitter, x: Value, n: Value) -> Value:
    count = int(literal(n))
    return Value(
        fitted(
            e, "quantiles", replace(x, node=e.to_float(x.node)), DType.FLOAT, Shape.LIST, n=count
        )
    )


lower_mode = _analyzer("mode", "same")
lower_count = _analyzer("count", "int")


def lower_vocab(
    e: Emitter, x: Value, top: Value | None = None, min_count: Value | None = None
) -> Value:
    limit = 0 if top is None else int(literal(top))
    threshold = 1 if min_count is None else int(literal(min_count))
    return Value(fitted(e, "vocab", x, x.dtype, Shape.LIST, top=limit, min_count=threshold))


lower_zscore = _scaler("mean", "scale_std")
lower_minmax = _scaler("min", "scale_range")
lower_robust = _scaler("median", "scale_iqr")
lower_maxabs = _scaler(None, "scale_maxabs")


MAX_QUANTILES = 100_000
SCALED = param("x", NUM, per_row=True)

OPS: tuple[Op, ...] = (
    Op(
        "mean",
        "analyzer",
        (X,),
        Returns.FLOAT,
        SKIP,
        lower_mean,
        "Arithmetic mean of the training values, from an exact (correctly rounded) sum.",
        "x - mean(x)",
        analyzer=True,
    ),
    Op(
        "std",
        "analyzer",
        (X,),
        Returns.FLOAT,
        SKIP,
        lower_std,
        "Population standard deviation (ddof = 0) of the training values, computed exactly then rounded.",
        "x / std(x)",
        analyzer=True,
    ),
    Op(
        "var",
        "analyzer",
        (X,),
        Returns.FLOAT,
        SKIP,
        lower_var,
        "Population variance (ddof = 0).",
        "x / var(x)",
        analyzer=True,
    ),
    Op(
        "min",
        "analyzer",
        (param("x", ORDERED),),
        Returns.SAME,
        SKIP,
        lower_fit_min,
        "Smallest training value (one argument; with two or more, min is elementwise).",
        "x - min(x)",
        analyzer=True,
    ),
    Op(
        "max",
        "analyzer",
        (param("x", ORDERED),),
        Returns.SAME,
        SKIP,
        lower_fit_max,
        "Largest training value.",
        "x / max(x)",
        analyzer=True,
    ),
    Op(
        "median",
        "analyzer",
        (X,),
        Returns.FLOAT,
        SKIP,
        lower_median,
        "quantile(x, 0.5).",
        "fill_null(y, median(y))",
        analyzer=True,
    ),
    Op(
        "quantile",
        "analyzer",
        (
            X,
            param(
                "q", NUM, literal=True, row=False, range=(0.0, 1.0), hint="e.g. quantile(x, 0.99)"
            ),
        ),
        Returns.FLOAT,
        SKIP,
        lower_quantile,
        "The q-quantile with linear interpolation between order statistics (numpy's default 'linear', "
        "Hyndman-Fan type 7).",
        "clip(x, quantile(x, 0.01), quantile(x, 0.99))",
        analyzer=True,
    ),
    Op(
        "quantiles",
        "analyzer",
        (
            X,
            param(
                "n",
                INT_ONLY,
                literal=True,
                row=False,
                range=(2, MAX_QUANTILES),
                typical=(2, 10),
                hint="quantiles(x, 10) gives 9 boundaries",
            ),
        ),
        Returns.LIST_FLOAT,
        SKIP,
        lower_quantiles,
        "The n - 1 inner boundaries quantile(x, i / n), i = 1..n-1, with duplicates removed: input for "
        "bucketize.",
        "bucketize(x, quantiles(x, 4))",
        analyzer=True,
        increasing=True,
    ),
    Op(
        "mode",
        "analyzer",
        (param("x", ANY - TS),),
        Returns.SAME,
        SKIP,
        lower_mode,
        "Most frequent training value; ties go to the smallest value.",
        "lookup(fill_null(s2, mode(s2)), vocab(s2))",
        analyzer=True,
    ),
    Op(
        "count",
        "analyzer",
        (param("x", ANY),),
        Returns.INT,
        SKIP,
        lower_count,
        "Number of non-null training values.",
        "n / count(n)",
        analyzer=True,
    ),
    Op(
        "vocab",
        "analyzer",
        (
            param("x", CATEGORICAL),
            param(
                "top",
                INT_ONLY,
                literal=True,
                optional=True,
                default="all",
                row=False,
                range=(1, INT64_MAX),
                typical=(1, 6),
            ),
            param(
                "min_count",
                INT_ONLY,
                literal=True,
                optional=True,
                default="1",
                row=False,
                range=(1, INT64_MAX),
                typical=(1, 3),
            ),
        ),
        Returns.LIST_SAME,
        SKIP,
        lower_vocab,
        "Distinct training values seen at least min_count times, most frequent first (ties by value, code-point "
        "order), cut to the top most frequent. Nulls are skipped, so by default a null filled later lands in the "
        "out-of-vocabulary bucket with unseen values; to keep nulls as a category of their own, fit the vocabulary "
        'on the filled column: `let p = fill_null(plan, "none")` then `one_hot(p, vocab(p))` (the build reports a '
        "one-hot that files every training null under `<oov>`).",
        "lookup(s, vocab(s, top=50))",
        analyzer=True,
    ),
    Op(
        "zscore",
        "scaler",
        (SCALED,),
        Returns.FLOAT,
        PROPAGATE,
        lower_zscore,
        "(x - mean(x)) / std(x); a zero or non-finite std is replaced by 1.",
        "zscore(x)",
        nan_propagating=True,
    ),
    Op(
        "minmax",
        "scaler",
        (SCALED,),
        Returns.FLOAT,
        PROPAGATE,
        lower_minmax,
        "(x - min(x)) / (max(x) - min(x)); a zero or non-finite range is replaced by 1.",
        "minmax(x)",
        nan_propagating=True,
    ),
    Op(
        "robust",
        "scaler",
        (SCALED,),
        Returns.FLOAT,
        PROPAGATE,
        lower_robust,
        "(x - median(x)) / (quantile(x, 0.75) - quantile(x, 0.25)); a zero or non-finite IQR is replaced by 1.",
        "robust(x)",
        nan_propagating=True,
    ),
    Op(
        "maxabs",
        "scaler",
        (SCALED,),
        Returns.FLOAT,
        PROPAGATE,
        lower_maxabs,
        "x / max(abs(x)); a zero or non-finite scale is replaced by 1.",
        "maxabs(x)",
        nan_propagating=True,
    ),
)
