"""Analyzers: exact, deterministic, mergeable, serialisable; numpy's quantile bit for bit."""

from __future__ import annotations

import itertools
import json
import math
import random
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featuredsl.errors import FeatureDSLError
from featuredsl.fit.analyzers import (
    ANALYZER_NAMES,
    EmptyAnalyzerError,
    from_json,
    make_analyzer,
    to_json,
)

PARAMS = {
    "quantile": {"q": (0.3).hex()},
    "quantiles": {"n": 7},
    "vocab": {"top": 3, "min_count": 2},
}
NUMERIC = [n for n in ANALYZER_NAMES if n != "vocab"]  # vocab is for categorical values


def run(name: str, values, null_mask=None, **params):
    analyzer = make_analyzer(name, params or PARAMS.get(name, {}))
    acc = analyzer.add_input(analyzer.create_accumulator(), np.asarray(values), null_mask)
    return analyzer.extract_output(acc)


def same(a, b) -> bool:
    """Bit-identical results (NaN equals NaN; 0.0 and -0.0 differ; tuples element-wise)."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and np.float64(a).tobytes() == np.float64(b).tobytes()
    return type(a) is type(b) and a == b


# ----------------------------------------------------------------------------- quantiles


def quantile_cases(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    kind = seed % 4
    if kind == 0:
        values = rng.normal(size=n) * 10.0 ** rng.integers(-5, 5)
    elif kind == 1:  # many ties
        values = rng.integers(-3, 4, n).astype(float)
    elif kind == 2:  # infinities mixed in
        values = rng.choice([-np.inf, np.inf, 1.0, 2.5, -7.0], n)
    else:  # huge and tiny magnitudes
        values = rng.choice([1e308, -1e308, 5e-324, 1.0, 3.0], n) * rng.choice([1.0, 0.5], n)
    return values + 0.0


@pytest.mark.parametrize("seed", range(200))
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's own inf - inf
def test_quantile_bit_identical_to_numpy(seed):
    values = quantile_cases(seed)
    levels = [
        0.0,
        1.0,
        0.5,
        0.25,
        0.75,
        0.1,
        0.9,
        0.01,
        0.99,
        1 / 3,
        *np.random.default_rng(seed).random(5),
    ]
    for q in levels:
        expected = float(np.quantile(values, q))
        assert same(run("quantile", values, q=float(q).hex()), expected), (values, q)
    # median is quantile(0.5), numpy's lerp; np.median averages the middle pair instead and can
    # differ from it in the last bit
    assert same(run("median", values), float(np.quantile(values, 0.5)))


@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=True, allow_subnormal=True),
        min_size=1,
        max_size=40,
    ),
    st.floats(min_value=0.0, max_value=1.0),
)
@settings(max_examples=300, deadline=None)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_quantile_bit_identical_hypothesis(values, q):
    x = np.array(values, dtype=np.float64) + 0.0  # -0.0 is counted as 0.0 by design
    assert same(run("quantile", x, q=q), float(np.quantile(x, q)))


def test_quantiles_are_sorted_unique_inner_levels():
    values = np.arange(101, dtype=float)
    assert run("quantiles", values, n=4) == (25.0, 50.0, 75.0)
    expected = tuple(np.unique([np.quantile(values, i / 7) for i in range(1, 7)]).tolist())
    assert run("quantiles", values, n=7) == expected
    assert run("quantiles", np.array([1.0, 1.0, 1.0, 2.0]), n=4) == (1.0, 1.25)


def test_quantile_accepts_ints_as_float():
    assert same(run("quantile", np.array([1, 2, 4]), q=0.75), float(np.quantile([1, 2, 4], 0.75)))


# ----------------------------------------------------------------------------- exact moments


def exact_stats(values: np.ndarray) -> tuple[float, float, float]:
    """mean, var, std from Fractions; std via a 100-digit Decimal square root."""
    xs = [Fraction(float(v)) for v in values]
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / len(xs)
    with localcontext() as ctx:
        ctx.prec = 100
        root = (Decimal(var.numerator) / Decimal(var.denominator)).sqrt()
    return float(mean), float(var) if var < 2**1024 else math.inf, float(root)


def moment_cases():
    rng = np.random.default_rng(7)
    yield rng.normal(size=500)
    yield rng.normal(size=300) * 1e-300  # subnormal territory
    yield np.array([1e308, -1e308, 1e308, 3.0])  # the variance overflows; std does not
    yield np.array([1.0, 1.0 + 2**-52, 1.0 + 2**-51])  # catastrophic cancellation territory
    yield np.array([2.0**60, 1.0, -(2.0**60)])
    yield np.array([5e-324, 1e-320, 7.0])
    yield rng.integers(-1000, 1000, 400).astype(float) * 0.1
    yield np.array([3.0])


@pytest.mark.parametrize("values", list(moment_cases()), ids=lambda v: f"n{len(v)}")
def test_mean_var_std_are_exact_then_rounded_once(values):
    mean, var, std = exact_stats(values)
    assert same(run("mean", values), mean)
    assert same(run("var", values), var)
    assert same(run("std", values), std)


def test_moments_close_to_numpy():
    values = np.random.default_rng(3).lognormal(3, 2, 10_000)
    assert math.isclose(run("mean", values), float(np.mean(values)), rel_tol=1e-13)
    assert math.isclose(run("var", values), float(np.var(values)), rel_tol=1e-11)
    assert math.isclose(run("std", values), float(np.std(values)), rel_tol=1e-11)


def test_std_is_correctly_rounded_on_random_data():
    rng = np.random.default_rng(11)
    for _ in range(40):
        values = rng.normal(size=int(rng.integers(2, 30))) * 10.0 ** rng.integers(-20, 20)
        assert same(run("std", values), exact_stats(values)[2])


def test_infinities_in_moments():
    assert run("mean", np.array([1.0, np.inf])) == math.inf
    assert run("mean", np.array([1.0, -np.inf])) == -math.inf
    assert math.isnan(run("mean", np.array([np.inf, -np.inf])))
    assert math.isnan(run("var", np.array([1.0, np.inf])))
    assert math.isnan(run("std", np.array([1.0, np.inf])))
    assert run("scale_std", np.array([1.0, np.inf])) == 1.0


def test_nulls_and_nan_are_skipped():
    values = np.array([1.0, np.nan, 3.0, 100.0])
    mask = np.array([False, False, False, True])
    assert run("mean", values, mask) == 2.0
    assert run("count", values, mask) == 2
    assert run("max", values, mask) == 3.0


# ----------------------------------------------------------------------------- other analyzers


def test_min_max_keep_the_input_type():
    ints = np.array([5, -3, 2**62], dtype=np.int64)
    assert same(run("min", ints), -3) and same(run("max", ints), 2**62)
    assert same(run("min", np.array([2.5, -np.inf])), -math.inf)
    stamps = np.array([1_609_459_200_000_000, 0], dtype=np.int64)  # epoch microseconds
    assert same(run("max", stamps), 1_609_459_200_000_000)


def test_scales_replace_zero_and_non_finite_by_one():
    flat = np.array([4.0, 4.0])
    for name in ["scale_std", "scale_range", "scale_iqr"]:
        assert run(name, flat) == 1.0
    assert run("scale_maxabs", np.zeros(3)) == 1.0
    assert run("scale_range", np.array([-1e308, 1e308])) == 1.0  # overflows to inf
    assert run("scale_maxabs", np.array([1.0, -np.inf])) == 1.0
    values = np.array([1.0, 2.0, 4.0, -8.0])
    assert run("scale_range", values) == 12.0
    assert run("scale_maxabs", values) == 8.0
    assert run("scale_iqr", values) == float(np.quantile(values, 0.75) - np.quantile(values, 0.25))
    assert run("scale_std", values) == run("std", values)
    assert same(run("scale_range", np.array([3, 10])), 7.0)


def test_mode_ties_go_to_the_smallest_value():
    assert run("mode", np.array([3, 1, 3, 1, 2])) == 1
    assert same(run("mode", np.array([2.5, -1.0, 2.5, -1.0])), -1.0)
    assert run("mode", np.array(["b", "a", "b", "a"], dtype=object)) == "a"
    assert run("mode", np.array(["a", "B"], dtype=object)) == "B"  # code-point order
    assert run("mode", np.array([True, False, True])) is True


def test_vocab_orders_by_count_then_value():
    values = np.array(["b", "a", "c", "b", "a", "é", "Z", "é", "é"], dtype=object)
    assert run("vocab", values, top=0, min_count=1) == ("é", "a", "b", "Z", "c")
    assert run("vocab", values, top=2, min_count=1) == ("é", "a")
    assert run("vocab", values, top=0, min_count=2) == ("é", "a", "b")
    assert run("vocab", values, top=0, min_count=4) == ()
    ints = np.array([10, -2, 10, 3, -2, 7])
    assert run("vocab", ints, top=0, min_count=1) == (-2, 10, 3, 7)
    assert all(type(v) is int for v in run("vocab", ints, top=0, min_count=1))


def test_string_inputs_as_numpy_string_dtypes():
    values = np.array(["x", "y", "x"], dtype=np.dtypes.StringDType())
    assert run("vocab", values, top=0, min_count=1) == ("x", "y")
    assert run("mode", np.array(["q", "p"])) == "p"


def test_empty_input_raises_empty_analyzer_error():
    for name in NUMERIC:
        for values, mask in [
            (np.array([], dtype=float), None),
            (np.array([np.nan, np.nan]), None),
            (np.array([1.0, 2.0]), np.array([True, True])),
        ]:
            with pytest.raises(EmptyAnalyzerError) as info:
                run(name, values, mask)
            assert isinstance(info.value, FeatureDSLError) and name in str(info.value)
    with pytest.raises(EmptyAnalyzerError):
        run("vocab", np.array([], dtype=object))


def test_make_analyzer_validates_names_and_params():
    with pytest.raises(ValueError, match="unknown analyzer"):
        make_analyzer("avg", {})
    with pytest.raises(ValueError, match="takes no parameter"):
        make_analyzer("mean", {"q": 1})
    assert make_analyzer("quantile", {"analyzer": "quantile", "q": 0.5}).q == 0.5  # type: ignore[attr-defined]
    assert make_analyzer("quantile", {"q": (0.5).hex()}).q == 0.5  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- merging


def values_for(name: str, draw_values: list) -> np.ndarray:
    if name == "vocab":
        return np.array([str(v) for v in draw_values], dtype=object)
    return np.array(draw_values, dtype=np.float64)


def split_and_merge(name: str, values: np.ndarray, mask: np.ndarray, rng: random.Random):
    """Add random chunks to separate accumulators, ship each through JSON, merge in a random
    tree order."""
    analyzer = make_analyzer(name, PARAMS.get(name, {}))
    cuts = sorted(rng.sample(range(len(values) + 1), k=min(len(values) + 1, rng.randint(0, 5))))
    bounds = [0, *cuts, len(values)]
    accs = []
    for lo, hi in itertools.pairwise(bounds):
        acc = analyzer.add_input(analyzer.create_accumulator(), values[lo:hi], mask[lo:hi])
        accs.append(from_json(json.loads(json.dumps(to_json(acc)))))
    while len(accs) > 1:
        rng.shuffle(accs)
        k = rng.randint(2, len(accs))
        accs = [analyzer.merge_accumulators(accs[:k]), *accs[k:]]
    return analyzer.extract_output(accs[0])


FLOATS = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True, width=64)
MIXED = st.one_of(FLOATS, st.integers(-5, 5).map(float), st.sampled_from([0.1, 1e300, -1e-300]))


@given(st.lists(MIXED, min_size=1, max_size=60), st.randoms(use_true_random=False), st.data())
@settings(max_examples=60, deadline=None)
def test_results_do_not_depend_on_splitting_and_merging(values, rng, data):
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))))
    for name in ANALYZER_NAMES:
        x = values_for(name, values)
        try:
            whole = run(name, x, mask)
        except EmptyAnalyzerError:
            with pytest.raises(EmptyAnalyzerError):
                split_and_merge(name, x, mask, rng)
            continue
        assert same(split_and_merge(name, x, mask, rng), whole), name


@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
)
@settings(max_examples=30, deadline=None)
def test_int_results_merge_exactly(values, rng):
    x = np.array(values, dtype=np.int64)
    mask = np.zeros(len(x), dtype=bool)
    for name in ["min", "max", "mode", "count", "vocab"]:
        assert same(split_and_merge(name, x, mask, rng), run(name, x, mask)), name
    assert run("min", x) == min(values) and run("max", x) == max(values)


def test_json_round_trip_of_every_accumulator_kind():
    samples = {
        "float": np.array([1.5, -np.inf, 1.5, 5e-324, 2.0**70]),
        "int": np.array([2**62, -3, -3]),
        "str": np.array(["é", "a", "a", '"quoted"'], dtype=object),
        "bool": np.array([True, False, True]),
    }
    for name in ANALYZER_NAMES:
        analyzer = make_analyzer(name, PARAMS.get(name, {}))
        empty = analyzer.create_accumulator()
        assert to_json(from_json(json.loads(json.dumps(to_json(empty))))) == to_json(empty)
        for kind, values in samples.items():
            if kind in ("str", "bool") and name not in ("mode", "count", "vocab"):
                continue
            if kind == "float" and name == "vocab":
                continue
            acc = analyzer.add_input(empty, values, None)
            data = json.loads(json.dumps(to_json(acc), allow_nan=False))
            back = analyzer.from_json(data)
            assert analyzer.to_json(back) == data
            assert same(analyzer.extract_output(back), analyzer.extract_output(acc)), (name, kind)


def test_merging_different_value_kinds_is_refused():
    analyzer = make_analyzer("mode", {})
    a = analyzer.add_input(analyzer.create_accumulator(), np.array([1]), None)
    b = analyzer.add_input(analyzer.create_accumulator(), np.array(["x"], dtype=object), None)
    with pytest.raises(TypeError):
        analyzer.merge_accumulators([a, b])
