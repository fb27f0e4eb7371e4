"""Pure functions of small integer ranges become tables (featuredsl.compiler.tables)."""

from __future__ import annotations

import numpy as np

from featuredsl.artifact.spec import Spec
from featuredsl.backends.numpy.evaluate import evaluate_columns
from featuredsl.compiler.frontend import check_source
from featuredsl.compiler.ir import walk
from featuredsl.compiler.tables import find_tables, int_range, tabulate
from featuredsl.parity.fuzz.runner import check_plain_module

HOUR_SPEC = """spec t
input {
  ts: timestamp
  x: float
}
feature hour_sin = sin(2 * pi * hour(ts) / 24)
feature hour_pow = pow(hour(ts) + 1.5, 1.5)
feature scaled = x * 2.0
"""

HOURS = np.arange(0, 48 * 3600, 1800, dtype=np.int64) * 1_000_000 - 7 * 86_400_000_000


def _ranges(roots):
    known = {}
    for node in walk(roots):
        known[node] = int_range(node, known)
    return known


def test_hour_has_the_range_0_to_23() -> None:
    program = check_source(HOUR_SPEC)
    known = _ranges(program.roots)
    hours = [n for n in walk(program.roots) if n.op == "int_floordiv"]
    assert [known[n] for n in hours] == [(0, 23)]


def test_sin_of_the_hour_is_one_table_and_pow_is_not_tabulated() -> None:
    program = check_source(HOUR_SPEC)
    tables = find_tables(program.roots)
    assert [t.root for t in tables] == [program.features[0].node]
    assert (tables[0].low, tables[0].high) == (0, 23)
    roots = tabulate(program.roots, evaluate_columns)
    assert roots[0].op == "gather" and len(roots[0].args[1].attr("values")) == 24
    assert roots[1] is program.features[1].node  # pow is inexact: a table would change the graph
    assert roots[2] is program.features[2].node  # x has no small range


def test_tables_keep_the_bits_of_the_operations() -> None:
    fitted = Spec(HOUR_SPEC).fit(
        {"ts": HOURS, "x": np.linspace(-1, 1, len(HOURS))}, timestamp_unit="us"
    )
    assert any(n.op == "gather" for _, node in fitted.artifact_outputs for n in walk([node]))
    feed = {"ts": HOURS, "x": np.linspace(-1, 1, len(HOURS))}
    check_plain_module(fitted, feed, fitted.transform_feed(feed))  # raises on any changed bit


def test_a_table_with_a_nan_stays_operations() -> None:
    source = """spec t
input { ts: timestamp }
feature f = sqrt(float(hour(ts)) - 3.0) * 2.0 + 1.0
"""
    program = check_source(source)
    assert find_tables(program.roots)
    roots = tabulate(program.roots, evaluate_columns)
    assert roots[0] is program.features[0].node
