"""Benchmark: single-row `POST /predict` latency of `featuredsl serve`, and its overhead over the
bare serving Session it wraps (`make bench`).

    python bench/bench_serve.py --rounds 15 --calls 200 --out bench/SERVE_RESULTS.md
    python bench/bench_serve.py --quick          # smoke run, report on stdout

The churn example is built once; the server runs in a subprocess (uvicorn, loopback) and is
called by one httpx client with keep-alive, one row per request, in the lossless encoding. Per
round, every contender makes `calls` calls, in an order that rotates from round to round
(paired, interleaved rounds: load from other processes hits every contender alike):

* `Session.run` in this process (validation + onnxruntime), without and with a serving log;
* `POST /predict` over HTTP, without and with a serving log (`--log`).

Per contender and round: the wall-clock p50 and p99 of the calls, and CPU time per call (this
process's CPU; for HTTP plus the server process's CPU from /proc/PID/stat). Reported: the
median over rounds and the spread (min - max of the rounds), and the HTTP / Session ratio of
p50s per round (median and spread).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPEC = ROOT / "examples" / "churn" / "churn.fdsl"
DATA = ROOT / "examples" / "churn" / "train.csv"
ROW = {
    "age": 31.5,
    "income": 24657.65,
    "clicks_7d": "3",
    "impressions_7d": "40",
    "country": "DE",
    "plan": None,
    "event_ts": "1724596508000000",
    "signup_ts": "1702507864000000",
}
SESSION_ROW = {**ROW, "clicks_7d": 3, "impressions_7d": 40}
SESSION_ROW["event_ts"] = int(ROW["event_ts"])  # type: ignore[arg-type]
SESSION_ROW["signup_ts"] = int(ROW["signup_ts"])  # type: ignore[arg-type]
CONTENDERS = ("session", "session + log", "http", "http + log")


@dataclass
class Round:
    p50_us: float
    p99_us: float
    cpu_us: float  # per call, this process + the server's
    server_cpu_us: float  # per call, the server process's alone (0 in-process)


def _clock_ticks() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process `pid` so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    """`featuredsl serve BUILD [--log LOG]` in a subprocess on a free loopback port."""

    def __init__(self, build: Path, log: Path | None) -> None:
        import httpx

        self.port = free_port()
        args = [sys.executable, "-m", "featuredsl.cli.main", "serve", str(build)]
        args += ["--port", str(self.port)] + (["--log", str(log)] if log else [])
        self.process = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("featuredsl serve did not start")
            time.sleep(0.1)

    def call(self, body: bytes) -> None:
        answer = self.client.post(
            "/predict", content=body, headers={"content-type": "application/json"}
        )
        if answer.status_code != 200:
            raise RuntimeError(answer.text)

    def close(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def timed(call: Callable[[], None], calls: int, other_pid: int | None) -> Round:
    """`calls` calls of `call`: wall p50/p99 (us) and CPU per call (us, this process + other)."""
    times = np.empty(calls)
    cpu0 = time.process_time()
    other0 = process_cpu(other_pid) if other_pid else 0.0
    for i in range(calls):
        start = time.perf_counter()
        call()
        times[i] = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    server = process_cpu(other_pid) - other0 if other_pid else 0.0
    return Round(
        float(np.percentile(times, 50) * 1e6),
        float(np.percentile(times, 99) * 1e6),
        (cpu + server) / calls * 1e6,
        server / calls * 1e6,
    )


def run(rounds: int, calls: int, warmup: int = 50) -> dict[str, Any]:
    from featuredsl import load_spec
    from featuredsl.ingest import read_table
    from featuredsl.runtime.serving import Session

    work = Path(tempfile.mkdtemp(prefix="featuredsl-bench-serve-"))
    spec = load_spec(SPEC)
    spec.fit(read_table(DATA, spec.inputs)).save(work / "build")
    build = work / "build"
    bare = Session(build, timestamp_unit="us")  # the wire rows: int64 microseconds
    logged = Session(build, log=work / "session.db", timestamp_unit="us")
    plain_server = Served(build, None)
    logged_server = Served(build, work / "http.db")
    body = json.dumps({"rows": [ROW]}).encode()
    contenders: dict[str, tuple[Callable[[], None], int | None]] = {
        "session": (lambda: bare.run([SESSION_ROW]) and None, None),
        "session + log": (lambda: logged.run([SESSION_ROW]) and None, None),
        "http": (lambda: plain_server.call(body), plain_server.process.pid),
        "http + log": (lambda: logged_server.call(body), logged_server.process.pid),
    }
    results: dict[str, list[Round]] = {name: [] for name in CONTENDERS}
    started = time.time()
    try:
        for call, _ in contenders.values():
            for _ in range(warmup):
                call()
        for r in range(rounds):
            order = CONTENDERS[r % 4 :] + CONTENDERS[: r % 4]
            for name in order:
                call, pid = contenders[name]
                results[name].append(timed(call, calls, pid))
    finally:
        plain_server.close()
        logged_server.close()
        logged.close()
    return {
        "rounds": rounds,
        "calls": calls,
        "seconds": time.time() - started,
        "load": os.getloadavg(),
        "cpus": os.cpu_count(),
        "results": results,
    }


def _spread(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f} - {max(values):.{digits}f})"


def render(report: dict[str, Any], command: str) -> str:
    results: dict[str, list[Round]] = report["results"]
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.2f}" for x in report["load"])
    lines = [
        "# featuredsl serve: single-row latency",
        "",
        f"Generated by `{command}` on {when}; {report['rounds']} paired interleaved rounds of "
        f"{report['calls']} calls per contender ({report['seconds']:.0f} s). The machine has "
        f"{report['cpus']} CPUs, shared with other processes: load average after the run {load}.",
        "Each cell: the median over rounds (min - max of the rounds). HTTP CPU is the client's "
        "plus the server process's.",
        "",
        "| contender | p50 us | p99 us | CPU us / call | of which server |",
        "|---|---|---|---|---|",
    ]
    for name in CONTENDERS:
        rounds = results[name]
        lines.append(
            f"| {name} | {_spread([r.p50_us for r in rounds])} | "
            f"{_spread([r.p99_us for r in rounds])} | {_spread([r.cpu_us for r in rounds])} | "
            f"{_spread([r.server_cpu_us for r in rounds]) if 'http' in name else '-'} |"
        )
    lines += [
        "",
        "| overhead (per round, paired) | p50 ratio | p50 difference us | CPU ratio |",
        "|---|---|---|---|",
    ]
    for http, session in (("http", "session"), ("http + log", "session + log")):
        pairs = list(zip(results[http], results[session], strict=True))
        ratios = [a.p50_us / b.p50_us for a, b in pairs]
        diffs = [a.p50_us - b.p50_us for a, b in pairs]
        cpu = [a.cpu_us / b.cpu_us for a, b in pairs]
        lines.append(
            f"| {http} / {session} | {_spread(ratios, 2)} | {_spread(diffs)} | {_spread(cpu, 2)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 20 calls")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rounds, calls = (2, 20) if args.quick else (args.rounds, args.calls)
    report = run(rounds, calls, warmup=5 if args.quick else 50)
    command = "python bench/bench_serve.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(report, command.strip())
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
