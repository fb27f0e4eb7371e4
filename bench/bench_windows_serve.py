"""Served window aggregates: the latency of one request carrying 100 events.

    python bench/bench_windows_serve.py [--rounds 30] [--events 100] [--out PATH]

The windows example's build (examples/windows: 8 window aggregates over 1 h, 1 d, 7 d and 30 d,
a filtered count, a last value, exact float sums and means) serves one authorisation whose card
has `--events` purchases in the 30 days before it. Timed per call, in CPU time
(time.process_time), over paired interleaved rounds (each round times every contender on the
same request, in an order that rotates):

- session:   `Session.transform([row])`: validation of the row and its events, conversion to
             the request encoding, the ONNX graph;
- graph:     onnxruntime on the ready request encoding (the graph alone);
- module:    the numpy module on the same encoding;
- hand port: a hand-written numpy computation of the same 8 aggregates from the same 100 events
             (plain `np.sum`, no exactness, no validation): the baseline a serving team would
             write, and the reference the ratios are given against.

The table gives each contender's median per-call CPU time and the median and interquartile range
of its per-round ratio to the hand port.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from featuredsl.artifact.load import load
from featuredsl.parity.build import build
from featuredsl.runtime.serving import Session

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "windows"
MINUTE = 60_000_000
DAY = 1440 * MINUTE
LAG = 5 * MINUTE
T = 1_790_000_000_000_000


def request(events: int, seed: int = 0) -> dict:
    """One authorisation with `events` purchases spread over the 30 days before it."""
    rng = np.random.default_rng(seed)
    times = np.sort(T - LAG - rng.integers(1, 30 * DAY, events))
    return {
        "auth_ts": T,
        "card": "c001",
        "amount": 42.0,
        "merchant_type": "fuel",
        "purchases": [
            {
                "purchase_ts": int(t),
                "amount": round(float(a), 2),
                "merchant_type": ["grocery", "fuel", "travel"][int(k)],
                "online": bool(o),
            }
            for t, a, k, o in zip(
                times,
                rng.lognormal(3.0, 0.8, events),
                rng.integers(0, 3, events),
                rng.random(events) < 0.3,
                strict=True,
            )
        ],
    }


def hand_port(row: dict) -> list[float]:
    """The 8 aggregates as a serving team would hand-write them from the row's events."""
    events = row["purchases"]
    t = np.array([e["purchase_ts"] for e in events], dtype=np.int64)
    amount = np.array([e["amount"] for e in events])
    online = np.array([e["online"] for e in events])
    end = row["auth_ts"] - LAG
    in_1h, in_1d = (t >= end - 60 * MINUTE) & (t < end), (t >= end - DAY) & (t < end)
    in_7d, in_30d = (t >= end - 7 * DAY) & (t < end), (t >= end - 30 * DAY) & (t < end)
    last = [e["merchant_type"] for e, keep in zip(events, in_30d, strict=True) if keep]
    return [
        float(in_1h.sum()),
        float(in_7d.sum()),
        float(amount[in_1d].sum()),
        float(amount[in_30d].mean()) if in_30d.any() else 0.0,
        float(amount[in_7d].max()) if in_7d.any() else 0.0,
        float((online & in_30d).sum()),
        float(in_30d.sum()),
        float(last[-1] == row["merchant_type"]) if last else 0.0,
    ]


def cpu_per_call(call: Callable[[], object], calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - start) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "build"
        build(
            EXAMPLE / "windows.fdsl",
            EXAMPLE / "train.csv",
            directory,
            events={"purchases": EXAMPLE / "purchases.csv"},
        )
        row = request(args.events)
        artifacts = load(directory)
        session = Session(directory, timestamp_unit="us")
        feed = session.validate([row])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        graph = ort.InferenceSession(
            str(artifacts.onnx_path), options, providers=["CPUExecutionProvider"]
        )
        contenders: dict[str, Callable[[], object]] = {
            "hand port": lambda: hand_port(row),
            "session": lambda: session.transform([row]),
            "graph": lambda: graph.run(None, feed),
            "module": lambda: artifacts.transform_feed(feed),
        }
        for call in contenders.values():  # warm up
            cpu_per_call(call, 20)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        for index in range(args.rounds):
            order = names[index % len(names) :] + names[: index % len(names)]
            for name in order:
                times[name].append(cpu_per_call(contenders[name], args.calls))
        load_average = os.getloadavg()
    lines = [
        f"## Served window aggregates: one request with {args.events} events",
        "",
        f"Command: `python bench/bench_windows_serve.py --rounds {args.rounds} --calls "
        f"{args.calls} --events {args.events}`; CPU time per call over {args.rounds} paired "
        "interleaved rounds; onnxruntime with one thread.",
        "",
        "| contender | CPU per call, median | / hand port, median [p25, p75] |",
        "|---|---:|---:|",
    ]
    base = times["hand port"]
    for name in names:
        ratios = [a / b for a, b in zip(times[name], base, strict=True)]
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        lines.append(
            f"| {name} | {statistics.median(times[name]) * 1e6:,.0f} us | "
            f"{statistics.median(ratios):.2f} [{q[0]:.2f}, {q[2]:.2f}] |"
        )
    lines += [
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average after the run "
        + ", ".join(f"{v:.1f}" for v in load_average)
        + f"; Python {platform.python_version()}, numpy {np.__version__}, onnxruntime "
        f"{ort.__version__}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
