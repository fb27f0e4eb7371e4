"""Statement-level timing of a generated numpy module's `transform` (for bench/run.py --profile).

The module source is parsed, every statement of `transform` (including those inside its
`with` block) is wrapped in a timer, and the instrumented copy is run on a feed. The result
lists each statement's source text with its wall time, slowest first.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StatementTime:
    line: int
    source: str
    seconds: float


def _timed(statement: ast.stmt, index: int) -> list[ast.stmt]:
    start = ast.parse(f"_bench_t{index} = _bench_clock()").body[0]
    stop = ast.parse(f"_bench_times.append(({index}, _bench_clock() - _bench_t{index}))").body[0]
    return [start, statement, stop]


def _instrument(body: list[ast.stmt], statements: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for statement in body:
        if isinstance(statement, ast.With):
            statement.body = _instrument(statement.body, statements)
            out.append(statement)
            continue
        if isinstance(statement, ast.Return):
            out.append(statement)
            continue
        statements.append(statement)
        out.extend(_timed(statement, len(statements) - 1))
    return out


def profile_transform(
    source: str, feed: dict[str, np.ndarray], repeat: int = 1
) -> list[StatementTime]:
    """Per-statement wall time of transform(feed), best of `repeat` runs, slowest first."""
    tree = ast.parse(source)
    statements: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "transform":
            node.body = _instrument(node.body, statements)
    ast.fix_missing_locations(tree)
    times: list[tuple[int, float]] = []
    namespace: dict[str, Any] = {
        "__name__": "bench_profiled",
        "_bench_clock": time.perf_counter,
        "_bench_times": times,
    }
    exec(compile(tree, "<profiled module>", "exec"), namespace)  # our own generated code
    best = [float("inf")] * len(statements)
    for _ in range(repeat):
        times.clear()
        namespace["transform"](feed)
        for index, seconds in times:
            best[index] = min(best[index], seconds)
    lines = source.splitlines()
    result = [
        StatementTime(s.lineno, lines[s.lineno - 1].strip(), best[i])
        for i, s in enumerate(statements)
    ]
    return sorted(result, key=lambda r: -r.seconds)
