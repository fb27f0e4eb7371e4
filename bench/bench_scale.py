"""Scale benchmark (`make bench-scale`): streaming fit and transform of a partitioned Parquet
dataset, single process and Dask, at growing row counts.

    python bench/bench_scale.py --sizes 1000000 10000000 50000000 --out bench/SCALE.md
    python bench/bench_scale.py --sizes 200000 --quick     # smoke run, report on stdout

Data: the benchmark's seeded churn table (bench/data.py, spec bench/bench.fdsl, 36 output
columns) written as hive-partitioned Parquet, `part=NNNN/data.parquet`, 1,000,000 rows per file
(each file from its own seed, so the data at 10M rows starts with the data at 1M rows), row
groups of 131,072 rows. Generated once per size under --data-dir and reused.

Each measurement runs in a fresh subprocess: wall time, CPU time (user + system, of the
process; for Dask, plus the CPU time of the worker processes) and peak RSS (ru_maxrss of the
process; for Dask, of the client and of the largest worker). Measured:

* fit: `Spec.fit(path, batch_rows=...)`: the fit passes and the data-quality pass;
* transform: `featuredsl.artifact.transform.transform_path` to one Parquet file;
* Dask (LocalCluster, 2 worker processes, 1 thread each): `fit_dask` and `transform_on_dask`;
* equality: the fitted constants of every run of a size, and of a second single-process fit
  with another batch size, compared exactly (JSON text of the constants).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FILE_ROWS = 1_000_000
ROW_GROUP = 131_072


def generate(root: Path, rows: int) -> Path:
    """The dataset of `rows` rows under root/rows-N (written once, then reused)."""
    from data import SEED, feed_to_frame, make_feed

    target = root / f"rows-{rows}"
    done = target / "_DONE"
    if done.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, rows, FILE_ROWS)):
        count = min(FILE_ROWS, rows - start)
        if (target / f"part={index:04d}" / "data.parquet").exists():
            continue  # written by an earlier, interrupted run (files appear whole, by rename)
        frame = feed_to_frame(make_feed(count, seed=SEED + index))
        folder = target / f"part={index:04d}"
        folder.mkdir(exist_ok=True)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        partial = root / f".partial-{rows}-{index}.parquet"  # outside the dataset
        pq.write_table(table, partial, row_group_size=ROW_GROUP)
        partial.replace(folder / "data.parquet")
    done.write_text("")
    return target


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {here!r})
mode, spec, data, out, batch_rows = {args!r}
start_wall, start_cpu = time.perf_counter(), time.process_time()
workers_cpu, workers_rss, constants, rows = 0.0, 0, None, None

def worker_usage():
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss

if __name__ == "__main__":
    if mode == "fit":
        from featuredsl.artifact.spec import load_spec
        fitted = load_spec(spec).fit(data, batch_rows=batch_rows)
        constants = [c.value for c in fitted.constants]
        rows = fitted.quality.rows
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
        fitted.save(out)  # not timed: dask-fit does not write a build either
    elif mode == "transform":
        import featuredsl
        from featuredsl.artifact.transform import transform_path
        artifacts = featuredsl.load(out)
        rows = transform_path(artifacts, artifacts.program_inputs, data, out + ".parquet",
                              batch_rows=batch_rows)
    else:
        from featuredsl.distributed.dask import connect, fit_dask, transform_on_dask
        # the LocalCluster `featuredsl build --engine dask` starts: 2 processes, 1 thread each
        with connect(None, n_workers=2) as client:
            client.run(lambda: None)  # workers are up before the clock starts
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            base = client.run(worker_usage)
            if mode == "dask-fit":
                fitted, _ = fit_dask(spec, data, client=client, batch_rows=batch_rows)
                constants = [c.value for c in fitted.constants]
                rows = fitted.quality.rows
            else:
                import shutil
                shutil.rmtree(out + ".dask", ignore_errors=True)
                rows = transform_on_dask(out, data, out + ".dask", scheduler=client,
                                         batch_rows=batch_rows)
            used = client.run(worker_usage)
            workers_cpu = sum(used[w][0] - base[w][0] for w in used)
            workers_rss = max(used[w][1] for w in used)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if mode != "fit":
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    print(json.dumps({{
        "wall": wall,
        "cpu": cpu + workers_cpu,
        "rss_mb": usage.ru_maxrss / 1024,
        "workers_rss_mb": workers_rss / 1024,
        "rows": rows,
        "constants": json.dumps(constants) if constants is not None else None,
    }}))
"""


def measure(mode: str, spec: str, data: Path, out: Path, batch_rows: int) -> dict[str, object]:
    code = CHILD.format(here=str(HERE), args=(mode, spec, str(data), str(out), batch_rows))
    script = out.parent / f"child-{mode}.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summarize(results: list[dict[str, object]]) -> dict[str, object]:
    """Median and range of each measure over repeated runs (the runs themselves kept)."""
    import statistics

    out: dict[str, object] = {"runs": results, "constants": results[0]["constants"]}
    for key in ("wall", "cpu", "rss_mb", "workers_rss_mb", "load"):
        values = [float(r[key]) for r in results]  # type: ignore[arg-type]
        out[key] = statistics.median(values)
        out[key + "_range"] = (min(values), max(values))
    return out


def ratios(runs: dict[str, dict[str, object]], mode: str, base: str) -> str:
    """The median (and range) of the paired CPU ratios mode/base, run by run."""
    import statistics

    if mode not in runs or base not in runs:
        return "n/a"
    pairs = zip(runs[mode]["runs"], runs[base]["runs"], strict=True)  # type: ignore[call-overload]
    values = [float(a["cpu"]) / float(b["cpu"]) for a, b in pairs]
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f}, {len(values)} pairs)"


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"


def versions() -> str:
    import dask
    import numpy
    import onnxruntime
    import pyarrow

    import featuredsl

    return (
        f"Python {platform.python_version()}, featuredsl {featuredsl.__version__}, numpy "
        f"{numpy.__version__}, pyarrow {pyarrow.__version__}, onnxruntime "
        f"{onnxruntime.__version__}, dask {dask.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--data-dir", type=Path, default=Path("build/scale-data"))
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument("--out", type=Path, default=None, help="Markdown report (else stdout).")
    parser.add_argument("--no-dask", action="store_true", help="Single process only.")
    parser.add_argument("--quick", action="store_true", help="No equality re-fit.")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="Runs of every step per size, interleaved (fit, transform, dask-fit, ... then "
        "again), so that paired runs see the same machine load; the report gives the median and "
        "the range, and the median of the paired dask/single CPU ratios.",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["fit", "transform", "dask-fit", "dask-transform"],
        help="Steps to measure (transform needs a build: run fit first once).",
    )
    args = parser.parse_args()
    spec = str(HERE / "bench.fdsl")
    rows_out = []
    started = dt.datetime.now(dt.timezone.utc)
    loads = [load_line()]
    for size in args.sizes:
        t0 = time.perf_counter()
        data = generate(args.data_dir, size)
        generated = time.perf_counter() - t0
        work = args.data_dir / f"work-{size}"
        work.mkdir(parents=True, exist_ok=True)
        build = work / "build"
        modes = [m for m in args.modes if not (args.no_dask and m.startswith("dask"))]
        repeats: dict[str, list[dict[str, object]]] = {mode: [] for mode in modes}
        for _ in range(args.repeat):
            for mode in modes:
                repeats[mode].append(measure(mode, spec, data, build, args.batch_rows))
                repeats[mode][-1]["load"] = os.getloadavg()[0]
        runs = {mode: summarize(results) for mode, results in repeats.items()}
        constants = {
            r["constants"] for rs in repeats.values() for r in rs if r["constants"] is not None
        }
        manifest = build / "manifest.json"
        if (
            manifest.exists()
        ):  # the single-process build of this size (mode fit, this run or before)
            values = [c["value"] for c in json.loads(manifest.read_text())["constants"]]
            constants.add(json.dumps(values))
        if not args.quick:
            again = measure("fit", spec, data, work / "build-b", args.batch_rows // 4 + 1)
            constants.add(again["constants"])
        equal = len(constants) == 1
        rows_out.append((size, generated, runs, equal))
        loads.append(load_line())
        print(
            f"{size:,} rows: "
            + json.dumps(
                {
                    m: {k: v for k, v in r.items() if k not in ("constants", "runs")}
                    for m, r in runs.items()
                }
            ),
            flush=True,
        )
    report = render(rows_out, started, loads, args)
    if args.out:
        args.out.write_text(report)
        print(f"wrote {args.out}")
    else:
        print(report)


def render(results: list, started: dt.datetime, loads: list[str], args: argparse.Namespace) -> str:
    lines = [
        "# Scale benchmark: streaming fit and transform, single process and Dask",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC by `python bench/bench_scale.py --sizes "
        f"{' '.join(str(s) for s in args.sizes)} --batch-rows {args.batch_rows} --repeat "
        f"{args.repeat} --modes {' '.join(args.modes)}` (`make bench-scale` runs every step once).",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}; shared with other jobs (load below).",
        f"- {versions()}",
        f"- Load average before and after each size: {' -> '.join(loads)}",
        "- Data: bench/data.py's seeded churn table as hive-partitioned Parquet (1M rows per "
        "file, row groups of 131,072), spec bench/bench.fdsl (36 output columns, 2 medians, "
        "2 quantile sets, 2 vocabularies, means and standard deviations).",
        "- `fit` and `dask-fit` time the fit only (`Spec.fit` / `fit_dask`, data-quality pass "
        "included; the build directory `transform` uses is written after the clock stops).",
        "- Each run is a fresh process; with --repeat the steps alternate, run after run. "
        "CPU = user + system time of the process (Dask: the client, which holds the "
        "LocalCluster's scheduler, plus its 2 worker processes). Peak RSS = ru_maxrss (Dask: "
        "client / largest worker). Cells: median [min–max] over the runs; load = the 1-minute "
        "load average after each run.",
        "",
        "| rows | step | wall s | CPU s | rows/s (wall) | peak RSS MB | load |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]

    def cell(run: dict[str, object], key: str, digits: int = 1) -> str:
        lo, hi = run[key + "_range"]  # type: ignore[misc]
        text = f"{run[key]:,.{digits}f}"
        return text if lo == hi else f"{text} [{lo:,.{digits}f}–{hi:,.{digits}f}]"

    for size, _generated, runs, _equal in results:
        for mode, run in runs.items():
            rss = cell(run, "rss_mb", 0)
            if mode.startswith("dask"):
                rss = f"{rss} / {cell(run, 'workers_rss_mb', 0)}"
            lines.append(
                f"| {size:,} | {mode} | {cell(run, 'wall')} | {cell(run, 'cpu')} | "
                f"{size / float(run['wall']):,.0f} | {rss} | {cell(run, 'load', 2)} |"  # type: ignore[arg-type]
            )
    lines += ["", "| rows | dask-fit / fit CPU (paired) | dask-transform / transform CPU |"]
    lines += ["|---:|---|---|"]
    for size, _generated, runs, _equal in results:
        lines.append(
            f"| {size:,} | {ratios(runs, 'dask-fit', 'fit')} | "
            f"{ratios(runs, 'dask-transform', 'transform')} |"
        )
    lines += ["", "| rows | constants identical (single, Dask, other batch size) |", "|---:|---|"]
    for size, _generated, _runs, equal in results:
        lines.append(f"| {size:,} | {'yes' if equal else 'NO'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
