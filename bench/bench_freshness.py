"""Cost of freshness in the serving Session: the same request served by a spec without and with
`time` / `as_of ... max_age ... else null|refuse` declarations.

    python bench/bench_freshness.py [--rounds 30]

Both specs take the same request columns and compute the same features; the second one also
nulls a stale `score` in the graph (`else null`) and has the Session check ages (`else refuse`,
and future values for both). Paired, interleaved rounds: each round times both sessions on the
same requests, in an order that alternates, in CPU time (time.process_time); the table gives the
median per-call cost of each and the median and interquartile range of the per-round ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from featuredsl.artifact.spec import Spec
from featuredsl.runtime.serving import Session

HOUR = 3_600_000_000
T0 = 1_700_000_000_000_000
INPUTS = """  event_ts: timestamp
  score: float?{score}
  score_ts: timestamp
  clicks: int?{clicks}
  clicks_ts: timestamp"""
FEATURES = """
feature score_f = fill_null(score, 0.0)
feature clicks_f = fill_null(clicks, 0)
feature hour_of_day = hour(event_ts)
"""
PLAIN = "spec plain\n\ninput {\n" + INPUTS.format(score="", clicks="") + "\n}\n" + FEATURES
FRESH = (
    "spec fresh\n\ninput {\n  time event_ts\n"
    + INPUTS.format(
        score=" as_of score_ts max_age 6h else null", clicks=" as_of clicks_ts max_age 1h"
    )
    + "\n}\n"
    + FEATURES
)


def training(n: int = 500) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    now = T0 + rng.integers(0, 100 * HOUR, n)
    return {
        "event_ts": now,
        "score": rng.normal(size=n),
        "score_ts": now - rng.integers(0, 12 * HOUR, n),
        "clicks": rng.integers(0, 9, n),
        "clicks_ts": now - rng.integers(0, HOUR, n),
    }


def request(rows: int) -> list[dict[str, object]]:
    return [
        {
            "event_ts": T0 + i,
            "score": 0.5,
            "score_ts": T0 - 7 * HOUR,  # stale: nulled by the graph in the fresh spec
            "clicks": 3,
            "clicks_ts": T0 - HOUR // 2,
        }
        for i in range(rows)
    ]


def cpu(call: Callable[[], object], repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        call()
    return (time.process_time() - start) / repeat


def measure(
    plain: Session, fresh: Session, rows: int, repeat: int, rounds: int
) -> dict[str, float]:
    payload = request(rows)
    a_times, b_times, ratios = [], [], []
    for index in range(rounds):
        order = [("a", plain), ("b", fresh)]
        if index % 2:
            order.reverse()
        timed = {
            name: cpu(lambda s=session: s.transform(payload), repeat) for name, session in order
        }
        a_times.append(timed["a"])
        b_times.append(timed["b"])
        ratios.append(timed["b"] / timed["a"])
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return {
        "plain_us": statistics.median(a_times) * 1e6,
        "fresh_us": statistics.median(b_times) * 1e6,
        "ratio": statistics.median(ratios),
        "q1": q1,
        "q3": q3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {}
        for name, text in (("plain", PLAIN), ("fresh", FRESH)):
            Spec(text).fit(training()).save(Path(tmp) / name)
            dirs[name] = Path(tmp) / name
        plain, fresh = Session(dirs["plain"]), Session(dirs["fresh"])
        assert plain.transform(request(1))[0, 0] == 0.5 and fresh.transform(request(1))[0, 0] == 0.0
        print("| request | without as-of µs/call | with as-of µs/call | ratio median | ratio IQR |")
        print("|---|---|---|---|---|")
        for rows, repeat in ((1, 200), (100, 40)):
            m = measure(plain, fresh, rows, repeat, args.rounds)
            print(
                f"| {rows} row{'s' if rows > 1 else ''} | {m['plain_us']:.1f} | {m['fresh_us']:.1f} "
                f"| {m['ratio']:.3f} | {m['q1']:.3f}-{m['q3']:.3f} |"
            )


if __name__ == "__main__":
    main()
