"""Benchmark: featuredsl's generated numpy module and ONNX graph against baselines (`make bench`).

    python bench/run.py --rows 1000000 --out bench/RESULTS.md
    python bench/run.py --quick            # small smoke run, report on stdout

One seeded churn table (bench/data.py), one spec of 36 output columns (bench/bench.fdsl), and
in one run:

* fit time: featuredsl `Spec.fit`, the hand-written numpy fit, scikit-learn `fit`;
* batch transform time: the generated numpy module, the featuredsl ONNX graph, the hand-written
  numpy transform, the scikit-learn ColumnTransformer, and the skl2onnx graph of its stock subset;
* single-row latency (p50/p99 CPU time of many calls on 1-row feeds) of both ONNX graphs, and of
  the serving `Session` on one-row dicts, without and with its SQLite serving log;
* peak memory of each contender's fit and transform, each measured in a fresh subprocess
  (peak RSS reset before the measured step, via /proc/self/clear_refs);
* agreement: the hand-written baseline must match the generated module (asserted), and the
  other pairs are reported.

Timings are CPU time (time.process_time) over N paired rounds (every contender once per round,
in a rotated order), reported as median [p25, p75]. Ratios are featuredsl / contender, taken
round by round, so a ratio below 1 means featuredsl is faster. The targets are issue 14's.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import datetime as dt
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import baselines, profile_module  # noqa: E402
from bench import data as bench_data  # noqa: E402

SPEC = ROOT / "bench" / "bench.fdsl"
AGREEMENT_TOLERANCE = 1e-9
PROBES = (
    "featuredsl-numpy",
    "featuredsl-onnx",
    "hand-numpy",
    "sklearn",
    "skl2onnx",
)

# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    rows: int
    seed: int
    repeat: int  # repetitions of each batch transform (best is reported)
    fit_repeat: int
    latency_calls: int
    memory: bool  # run the subprocess memory probes
    profile: bool  # statement timing of the generated module

    @classmethod
    def quick(cls, rows: int = 2_000, seed: int = bench_data.SEED) -> Settings:
        return cls(
            rows, seed, repeat=2, fit_repeat=1, latency_calls=200, memory=False, profile=True
        )


# ----------------------------------------------------------------------------- timing helpers


def paired_rounds(functions: dict[str, Callable[[], Any]], rounds: int) -> dict[str, np.ndarray]:
    """CPU seconds of each function in each of `rounds` rounds (time.process_time: the CPU time
    of every thread of this process, so onnxruntime's worker threads count too).

    Each round runs every contender once, in an order rotated from round to round, so that a
    burst of load from elsewhere on the machine hits all of them; ratios are then taken round
    by round (`paired`), and reported as median and spread.
    """
    names = list(functions)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            start = time.process_time()
            functions[name]()
            samples[name].append(time.process_time() - start)
    return {name: np.array(values) for name, values in samples.items()}


@dataclass(frozen=True)
class Spread:
    """Median and interquartile range of a sample."""

    median: float
    low: float  # 25th percentile
    high: float  # 75th percentile

    @classmethod
    def of(cls, values: np.ndarray) -> Spread:
        low, median, high = np.percentile(values, [25, 50, 75])
        return cls(float(median), float(low), float(high))

    def text(self, scale: float = 1.0, digits: int = 3) -> str:
        return (
            f"{self.median * scale:.{digits}f} "
            f"[{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"
        )


def paired(ours: np.ndarray, theirs: np.ndarray) -> Spread:
    """The ratio ours / theirs of each round: median and interquartile range."""
    return Spread.of(ours / theirs)


Run = Callable[[Any], Any]


def latencies(runs: dict[str, tuple[Run, list[Any]]], rounds: int = 10) -> dict[str, np.ndarray]:
    """Per-call CPU times (seconds, time.process_time_ns) of run(feed) for every feed of every
    contender (single-row sessions run in the calling thread).

    After a warm-up, the calls go in `rounds` slices, round-robin over the contenders, so that
    load from elsewhere on the machine is spread over all of them.
    """
    for run, feeds in runs.values():
        for feed in feeds[: max(1, len(feeds) // 10)]:
            run(feed)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds):
        for name, (run, feeds) in runs.items():
            for feed in feeds[r::rounds]:
                start = time.process_time_ns()
                run(feed)
                times[name].append((time.process_time_ns() - start) / 1e9)
    return {name: np.array(values) for name, values in times.items()}


# ----------------------------------------------------------------------------- contenders


@dataclass
class Contenders:
    """Everything fitted once, ready to time."""

    frame: Any  # pandas DataFrame
    sk_frame: Any  # the DataFrame as sklearn takes it ("" for a null plan)
    feed: dict[str, np.ndarray]
    fitted: Any  # featuredsl FittedSpec
    artifacts: Any  # featuredsl Artifacts (loaded build directory)
    onnx_feed: dict[str, np.ndarray]
    batch_session: Any
    single_session: Any
    hand: baselines.HandParams
    sklearn_full: Any
    sklearn_subset: Any
    skl2onnx_model: Any
    skl2onnx_batch: Any
    skl2onnx_single: Any
    skl2onnx_feed: dict[str, np.ndarray]
    build_dir: tempfile.TemporaryDirectory[str] = field(repr=False)


def ort_session(model: Any, threads: int = 0) -> Any:
    """An onnxruntime CPU session; threads=0 lets onnxruntime choose (one per core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    payload = model if isinstance(model, (str, bytes)) else model.SerializeToString()
    return ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])


def featuredsl_fit(frame: Any) -> Any:
    from featuredsl.artifact.spec import load_spec

    return load_spec(SPEC).fit(frame)


def featuredsl_artifacts(fitted: Any, directory: str) -> Any:
    from featuredsl.artifact.load import load

    fitted.save(directory)
    return load(directory)


def onnx_inputs(artifacts: Any, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = {i.name for i in artifacts.session.get_inputs()}
    return {name: values for name, values in feed.items() if name in names}


def prepare(settings: Settings) -> Contenders:
    frame, feed = bench_data.make_table(settings.rows, settings.seed)
    sk_frame = baselines.sklearn_frame(frame)
    fitted = featuredsl_fit(frame)
    build_dir = tempfile.TemporaryDirectory(prefix="featuredsl-bench-")
    artifacts = featuredsl_artifacts(fitted, build_dir.name)
    subset = baselines.sklearn_pipeline(full=False).fit(sk_frame)
    skl_model = baselines.skl2onnx_model(subset)
    onnx_path = str(artifacts.onnx_path)
    return Contenders(
        frame=frame,
        sk_frame=sk_frame,
        feed=feed,
        fitted=fitted,
        artifacts=artifacts,
        onnx_feed=onnx_inputs(artifacts, feed),
        batch_session=ort_session(onnx_path),
        single_session=ort_session(onnx_path, threads=1),
        hand=baselines.fit_hand(feed),
        sklearn_full=baselines.sklearn_pipeline(full=True).fit(sk_frame),
        sklearn_subset=subset,
        skl2onnx_model=skl_model,
        skl2onnx_batch=ort_session(skl_model),
        skl2onnx_single=ort_session(skl_model, threads=1),
        skl2onnx_feed=baselines.skl2onnx_feed(sk_frame),
        build_dir=build_dir,
    )


def transform_functions(c: Contenders) -> dict[str, Callable[[], Any]]:
    return {
        "featuredsl numpy module": lambda: c.artifacts.module.transform(c.feed),
        "featuredsl numpy, DataFrame in (to_feed + module)": lambda: c.artifacts.transform(c.frame),
        "featuredsl ONNX graph": lambda: c.batch_session.run(["features"], c.onnx_feed),
        "hand-written numpy": lambda: baselines.transform_hand(c.feed, c.hand),
        "sklearn ColumnTransformer (36 cols)": lambda: c.sklearn_full.transform(c.sk_frame),
        "sklearn stock subset (29 cols)": lambda: c.sklearn_subset.transform(c.sk_frame),
        "skl2onnx graph of the subset (28 cols)": lambda: c.skl2onnx_batch.run(
            None, c.skl2onnx_feed
        ),
    }


def fit_functions(c: Contenders) -> dict[str, Callable[[], Any]]:
    return {
        "featuredsl Spec.fit (DataFrame in)": lambda: featuredsl_fit(c.frame),
        "hand-written numpy fit": lambda: baselines.fit_hand(c.feed),
        "sklearn ColumnTransformer fit (36 cols)": lambda: baselines.sklearn_pipeline(True).fit(
            c.sk_frame
        ),
        "sklearn stock subset fit (29 cols)": lambda: baselines.sklearn_pipeline(False).fit(
            c.sk_frame
        ),
    }


def _build(fitted: Any) -> tuple[str, Any]:
    """Generate both artifacts from scratch (a copy of the FittedSpec has no cached source)."""
    fresh = dataclasses.replace(fitted)
    return fresh.numpy_source, fresh.onnx_model()


def build_functions(c: Contenders) -> dict[str, Callable[[], Any]]:
    """Turning fitted statistics into deployable artifacts (reported, not a target)."""
    return {
        "featuredsl numpy source + ONNX graph": lambda: _build(c.fitted),
        "skl2onnx convert_sklearn": lambda: baselines.skl2onnx_model(c.sklearn_subset),
    }


# ----------------------------------------------------------------------------- agreement


@dataclass(frozen=True)
class Agreement:
    name: str
    max_abs_diff: float
    identical_columns: int
    columns: int
    note: str = ""


def compare(name: str, a: np.ndarray, b: np.ndarray, note: str = "") -> Agreement:
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a64.shape != b64.shape:
        raise AssertionError(f"{name}: shapes differ: {a64.shape} vs {b64.shape}")
    same = np.all((a64 == b64) | (np.isnan(a64) & np.isnan(b64)), axis=0)
    diff = float(np.nanmax(np.abs(a64 - b64))) if a64.size else 0.0
    return Agreement(name, diff, int(same.sum()), a64.shape[1], note)


def sklearn_shared_columns(c: Contenders, ours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's and featuredsl's values of the columns both compute with the same meaning."""
    theirs = c.sklearn_full.transform(c.sk_frame)
    names = list(c.sklearn_full.get_feature_names_out())
    ours_index = {name: i for i, name in enumerate(c.fitted.feature_names)}
    pairs = []
    for j, name in enumerate(names):
        target = _featuredsl_name(name)
        if target in ours_index:
            pairs.append((ours_index[target], j))
    return ours[:, [i for i, _ in pairs]], theirs[:, [j for _, j in pairs]]


def _featuredsl_name(sklearn_name: str) -> str:
    branch, _, column = sklearn_name.partition("__")
    if branch == "country_oh":
        value = column.removeprefix("country_")
        return "country_oh[<oov>]" if value == "infrequent_sklearn" else f"country_oh[{value}]"
    if branch == "hour_sin_cos":
        return column
    return (
        "" if branch == "plan_idx" else branch
    )  # plan codes differ by design (sorted vs by count)


def agreements(c: Contenders) -> list[Agreement]:
    ours = c.artifacts.module.transform(c.feed)
    hand = baselines.transform_hand(c.feed, c.hand)
    onnx_out = c.batch_session.run(["features"], c.onnx_feed)[0]
    subset = baselines.onnx_ready(c.sklearn_subset).transform(c.sk_frame)
    skl_onnx = c.skl2onnx_batch.run(None, c.skl2onnx_feed)[0]
    shared_ours, shared_sklearn = sklearn_shared_columns(c, ours)
    return [
        compare("hand-written numpy vs generated module", hand, ours, "asserted"),
        compare("featuredsl ONNX graph vs generated module", onnx_out, ours, "float64 graph"),
        compare("sklearn vs generated module (shared columns)", shared_sklearn, shared_ours),
        compare("skl2onnx graph vs sklearn subset", skl_onnx, subset, "float32 graph"),
    ]


def check_hand_agreement(result: Agreement) -> None:
    if not result.max_abs_diff <= AGREEMENT_TOLERANCE:
        raise AssertionError(
            f"{result.name}: max abs difference {result.max_abs_diff:g} > {AGREEMENT_TOLERANCE:g}; "
            "the baseline does not compute the same features"
        )


# ----------------------------------------------------------------------------- single-row latency


def row_feeds(
    feed: dict[str, np.ndarray], names: list[str], calls: int, shape: tuple[int, ...]
) -> list[dict[str, np.ndarray]]:
    rows = len(next(iter(feed.values())))
    picks = np.random.default_rng(7).integers(0, rows, calls)
    return [{name: feed[name][i : i + 1].reshape(shape) for name in names} for i in picks]


@dataclass(frozen=True)
class Latency:
    name: str
    p50_us: float
    p99_us: float
    calls: int


def row_dicts(feed: dict[str, np.ndarray], calls: int) -> list[dict[str, Any]]:
    """One-row requests as a client sends them: plain Python values, None for a null."""
    rows = len(next(iter(feed.values())))
    picks = np.random.default_rng(7).integers(0, rows, calls)
    names = [name for name in feed if not name.endswith(".is_null")]
    requests = []
    for i in picks:
        row = {}
        for name in names:
            value = feed[name][i]
            value = value.item() if isinstance(value, np.generic) else value
            null = feed.get(name + ".is_null")
            is_null = bool(null[i]) if null is not None else value != value  # NaN
            row[name] = None if is_null else value
        requests.append(row)
    return requests


SESSION = "featuredsl Session.transform, one row dict"
SESSION_LOGGED = "featuredsl Session.transform + serving log"
SESSION_GRAPH = "the Session's own graph, bare session.run"


def latency_results(c: Contenders, calls: int) -> list[Latency]:
    from featuredsl.runtime.serving import Session

    ours_names = [i.name for i in c.single_session.get_inputs()]
    ours = row_feeds(c.feed, ours_names, calls, (1,))
    theirs = row_feeds(c.skl2onnx_feed, list(c.skl2onnx_feed), calls, (1, 1))
    module_feeds = row_feeds(c.feed, list(c.feed), calls, (1,))
    requests = row_dicts(c.feed, calls)
    # The requests are row dicts of the canonical feed: timestamps in epoch microseconds, stated.
    session = Session(c.build_dir.name, timestamp_unit="us")
    logged = Session(
        c.build_dir.name, log=Path(c.build_dir.name) / "serving-log.sqlite", timestamp_unit="us"
    )
    runs: dict[str, tuple[Run, list[Any]]] = {
        "featuredsl ONNX graph": (lambda f: c.single_session.run(["features"], f), ours),
        "skl2onnx graph (28 cols)": (lambda f: c.skl2onnx_single.run(None, f), theirs),
        SESSION_GRAPH: (lambda f: session.ort_session.run(["features"], f), ours),
        SESSION: (session.transform, requests),
        SESSION_LOGGED: (logged.transform, requests),
        "featuredsl numpy module (info)": (c.artifacts.module.transform, module_feeds),
        "hand-written numpy (info)": (lambda f: baselines.transform_hand(f, c.hand), module_feeds),
    }
    try:
        return [
            Latency(
                name, float(np.percentile(t * 1e6, 50)), float(np.percentile(t * 1e6, 99)), calls
            )
            for name, t in latencies(runs).items()
        ]
    finally:
        logged.close()
        session.close()


# ----------------------------------------------------------------------------- memory probes


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS


def measure_peak(step: Callable[[], Any]) -> tuple[Any, float]:
    """(result, peak RSS growth in MB) of one call of step, in this process."""
    gc.collect()
    _reset_peak()
    before = _status_kb("VmRSS")
    result = step()
    return result, (_status_kb("VmHWM") - before) / 1024


def probe(name: str, rows: int, seed: int) -> dict[str, float]:
    """Fit and transform one contender (in a fresh process), measuring each step's peak memory.

    A warm-up on a small table first loads every lazily imported module, so that imports are
    not counted as the step's memory.
    """
    for size in (min(rows, 1_000), rows):
        frame, feed = bench_data.make_table(size, seed)
        sk_frame = baselines.sklearn_frame(frame) if name in ("sklearn", "skl2onnx") else None
        fit_step, ready = _probe_steps(name, frame, sk_frame, feed)
        fitted, fit_mb = measure_peak(fit_step)
        _, transform_mb = measure_peak(ready(fitted))
        del frame, feed, sk_frame, fitted
    return {"fit_mb": fit_mb, "transform_mb": transform_mb}


_PROBE_DIRS = contextlib.ExitStack()  # build directories of a probe process, removed at exit
atexit.register(_PROBE_DIRS.close)


def _probe_steps(
    name: str, frame: Any, sk_frame: Any, feed: dict[str, np.ndarray]
) -> tuple[Callable[[], Any], Callable[[Any], Callable[[], Any]]]:
    if name in ("featuredsl-numpy", "featuredsl-onnx"):

        def ready(fitted: Any) -> Callable[[], Any]:
            directory = _PROBE_DIRS.enter_context(tempfile.TemporaryDirectory(prefix="fdsl-probe-"))
            artifacts = featuredsl_artifacts(fitted, directory)
            if name == "featuredsl-numpy":
                return lambda: artifacts.module.transform(feed)
            session, inputs = ort_session(str(artifacts.onnx_path)), onnx_inputs(artifacts, feed)
            return lambda: session.run(["features"], inputs)

        return lambda: featuredsl_fit(frame), ready
    if name == "hand-numpy":
        return lambda: baselines.fit_hand(feed), lambda p: lambda: baselines.transform_hand(feed, p)
    if name == "sklearn":
        return lambda: baselines.sklearn_pipeline(True).fit(
            sk_frame
        ), lambda ct: lambda: ct.transform(sk_frame)
    if name == "skl2onnx":

        def ready_onnx(subset: Any) -> Callable[[], Any]:
            session, inputs = (
                ort_session(baselines.skl2onnx_model(subset)),
                baselines.skl2onnx_feed(sk_frame),
            )
            return lambda: session.run(None, inputs)

        return lambda: baselines.sklearn_pipeline(False).fit(sk_frame), ready_onnx
    raise ValueError(f"unknown probe {name!r}")


def run_probes(settings: Settings) -> dict[str, dict[str, float]]:
    results = {}
    for name in PROBES:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--probe",
            name,
            "--rows",
            str(settings.rows),
            "--seed",
            str(settings.seed),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"memory probe {name} failed:\n{done.stderr[-2000:]}")
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


# ----------------------------------------------------------------------------- the run


@dataclass
class Results:
    settings: Settings
    machine: dict[str, str]
    fit: dict[str, np.ndarray]  # CPU seconds per round
    build: dict[str, np.ndarray]
    transform: dict[str, np.ndarray]
    latency: list[Latency]
    agreement: list[Agreement]
    memory: dict[str, dict[str, float]]
    profile: list[profile_module.StatementTime]
    onnx_ops: dict[str, Counter[str]]
    columns: int
    load: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    seconds: float = 0.0


def run(settings: Settings, log: Callable[[str], None] = lambda _: None) -> Results:
    started, load_before = time.perf_counter(), os.getloadavg()
    log(f"preparing {settings.rows:,} rows and fitting every contender once")
    c = prepare(settings)
    log("checking agreement")
    agreement = agreements(c)
    check_hand_agreement(agreement[0])
    log("timing fits")
    fit = paired_rounds(fit_functions(c), settings.fit_repeat)
    build = paired_rounds(build_functions(c), settings.fit_repeat)
    log("timing batch transforms")
    transform = paired_rounds(transform_functions(c), settings.repeat)
    log(f"timing {settings.latency_calls:,} single-row calls per contender")
    latency = latency_results(c, settings.latency_calls)
    log("profiling the generated module")
    profile = (
        profile_module.profile_transform(c.fitted.numpy_source, c.feed) if settings.profile else []
    )
    log("measuring peak memory in subprocesses" if settings.memory else "memory probes skipped")
    memory = run_probes(settings) if settings.memory else {}
    return Results(
        settings=settings,
        machine=machine_info(),
        fit=fit,
        build=build,
        transform=transform,
        latency=latency,
        agreement=agreement,
        memory=memory,
        profile=profile,
        onnx_ops={
            "featuredsl": Counter(n.op_type for n in c.fitted.onnx_model().graph.node),
            "skl2onnx": Counter(n.op_type for n in c.skl2onnx_model.graph.node),
        },
        columns=len(c.fitted.feature_names),
        load=(load_before, os.getloadavg()),
        seconds=time.perf_counter() - started,
    )


# ----------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def machine_info() -> dict[str, str]:
    return {
        "CPU": _cpu_model(),
        "nproc": f"{len(os.sched_getaffinity(0))} (os.cpu_count() = {os.cpu_count()})",
        "memory": _memory_total(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        **{
            name: _version(name)
            for name in (
                "featuredsl",
                "numpy",
                "pandas",
                "pyarrow",
                "onnx",
                "onnxruntime",
                "scikit-learn",
                "skl2onnx",
            )
        },
        "featuredsl revision": _git_revision(),
    }


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    limit: float  # met when value <= limit
    text: str
    spread: str = ""  # the interquartile range of a paired ratio

    @property
    def met(self) -> bool:
        return self.value <= self.limit


NUMPY = "featuredsl numpy module"
HAND = "hand-written numpy"
SKLEARN = "sklearn ColumnTransformer (36 cols)"
FIT = "featuredsl Spec.fit (DataFrame in)"
SKLEARN_FIT = "sklearn ColumnTransformer fit (36 cols)"


def _p50(r: Results, name: str) -> float:
    return next(x.p50_us for x in r.latency if x.name == name)


def targets(r: Results) -> list[Target]:
    """The targets of issue 14: paired CPU-time ratios (featuredsl / other, lower is better),
    single-row p50s and the Session's overheads in us, and peak transform memory per row."""
    hand = paired(r.transform[NUMPY], r.transform[HAND])
    sklearn = paired(r.transform[NUMPY], r.transform[SKLEARN])
    fit = paired(r.fit[FIT], r.fit[SKLEARN_FIT])
    graph = _p50(r, "featuredsl ONNX graph")
    found = [
        Target("numpy module batch vs hand-written numpy", hand.median, 0.8, "<= 0.8x",
               hand.text()),
        Target("numpy module batch vs sklearn ColumnTransformer", sklearn.median, 0.3,
               "<= 0.3x", sklearn.text()),
        Target("ONNX single-row p50 vs skl2onnx p50",
               graph / _p50(r, "skl2onnx graph (28 cols)"), 1.0, "<= 1.0x"),
        Target("Session overhead over its bare graph, 1 row (p50 us)",
               _p50(r, SESSION) - _p50(r, SESSION_GRAPH), 25.0, "<= 25 us"),
        Target("serving log, more than the Session without it (p50 us)",
               _p50(r, SESSION_LOGGED) - _p50(r, SESSION), 50.0, "<= 50 us"),
        Target("fit vs sklearn fit (DataFrame in)", fit.median, 0.3, "<= 0.3x", fit.text()),
    ]  # fmt: skip
    transform_mb = r.memory.get("featuredsl-numpy", {}).get("transform_mb")
    if transform_mb is not None:
        output = 8 * r.columns
        per_row = transform_mb * 2**20 / r.settings.rows
        found.append(
            Target(f"numpy transform peak memory per row / the output's {output} B",
                   per_row / output, 1.5, "<= 1.5x", f"{per_row:.0f} B per row")
        )  # fmt: skip
    return found


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _mb(memory: dict[str, dict[str, float]], probe_name: str, key: str) -> str:
    value = memory.get(probe_name, {}).get(key)
    return "" if value is None else f"{value:,.0f}"


TRANSFORM_PROBES = {
    "featuredsl numpy module": "featuredsl-numpy",
    "featuredsl ONNX graph": "featuredsl-onnx",
    "hand-written numpy": "hand-numpy",
    "sklearn ColumnTransformer (36 cols)": "sklearn",
    "skl2onnx graph of the subset (28 cols)": "skl2onnx",
}
FIT_PROBES = {
    "featuredsl Spec.fit (DataFrame in)": "featuredsl-numpy",
    "hand-written numpy fit": "hand-numpy",
    "sklearn ColumnTransformer fit (36 cols)": "sklearn",
    "sklearn stock subset fit (29 cols)": "skl2onnx",
}


def _target_section(r: Results) -> list[str]:
    rows = [
        [
            t.name,
            f"{t.value:.3f}",
            t.spread,
            t.text,
            "met" if t.met else f"**missed** ({t.value / t.limit:.1f}x the limit)",
        ]
        for t in targets(r)
    ]
    header = ["target", "value (median)", "spread [p25, p75] / note", "wanted", "result"]
    return ["## Targets", "", *_table(header, rows), ""]


def _transform_section(r: Results) -> list[str]:
    reference = r.transform[NUMPY]
    rows = [
        [
            name,
            Spread.of(seconds).text(),
            paired(reference, seconds).text(digits=2),
            f"{r.settings.rows / float(np.median(seconds)) / 1e6:.2f}",
            _mb(r.memory, TRANSFORM_PROBES.get(name, ""), "transform_mb"),
        ]
        for name, seconds in r.transform.items()
    ]
    header = [
        "contender",
        "CPU s, median [p25, p75]",
        "featuredsl numpy / this, paired",
        "M rows/CPU s",
        "peak MB",
    ]
    return [
        f"## Batch transform, {r.settings.rows:,} rows ({r.settings.repeat} paired rounds)",
        "",
        *_table(header, rows),
        "",
    ]


def _fit_section(r: Results) -> list[str]:
    reference = r.fit[FIT]
    rows = [
        [
            name,
            Spread.of(s).text(),
            paired(reference, s).text(digits=2),
            _mb(r.memory, FIT_PROBES.get(name, ""), "fit_mb"),
        ]
        for name, s in r.fit.items()
    ]
    rows += [[f"(build) {name}", Spread.of(s).text(), "", ""] for name, s in r.build.items()]
    header = ["contender", "CPU s, median [p25, p75]", "featuredsl fit / this, paired", "peak MB"]
    return [
        f"## Fit, {r.settings.rows:,} rows ({r.settings.fit_repeat} paired rounds)",
        "",
        *_table(header, rows),
        "",
    ]


def _latency_section(r: Results) -> list[str]:
    reference = r.latency[0].p50_us
    rows = [
        [
            x.name,
            f"{x.p50_us:.1f}",
            f"{x.p99_us:.1f}",
            f"{x.p50_us / reference:.2f}",
            f"{x.calls:,}",
        ]
        for x in r.latency
    ]
    header = ["contender", "p50 CPU us", "p99 CPU us", "p50 / featuredsl ONNX p50", "calls"]
    return ["## Single-row latency", "", *_table(header, rows), ""]


def _agreement_section(r: Results) -> list[str]:
    rows = [
        [a.name, f"{a.max_abs_diff:.3g}", f"{a.identical_columns}/{a.columns}", a.note]
        for a in r.agreement
    ]
    return [
        "## Agreement",
        "",
        *_table(["pair", "max abs diff", "bit-identical columns", "note"], rows),
        "",
    ]


def _profile_section(r: Results, top: int = 12) -> list[str]:
    if not r.profile:
        return []
    total = sum(s.seconds for s in r.profile)
    rows = [
        [f"`{s.source}`", f"{s.seconds * 1000:.1f}", f"{100 * s.seconds / total:.0f}%"]
        for s in r.profile[:top]
    ]
    ops = [
        [name, str(sum(counts.values())), ", ".join(f"{op} {n}" for op, n in counts.most_common(8))]
        for name, counts in r.onnx_ops.items()
    ]
    return [
        "## Where the time goes",
        "",
        f"Slowest statements of the generated module's `transform` ({total:.3f} s in all, one run):",
        "",
        *_table(["statement", "ms", "share"], rows),
        "",
        "ONNX graphs as built (before onnxruntime's own optimisations):",
        "",
        *_table(["graph", "nodes", "most frequent ops"], ops),
        "",
    ]


def _machine_section(r: Results) -> list[str]:
    rows = [[key, value] for key, value in r.machine.items()]
    before, after = (", ".join(f"{x:.2f}" for x in load) for load in r.load)
    rows.append(["load average (1/5/15 min)", f"{before} at start; {after} at end"])
    return ["## Machine", "", *_table(["", ""], rows), ""]


METHOD = """## Method

* Data: `bench/data.py`, seed {seed}: nullable floats (8% / 15% null), ints, three string columns
  (200 / 4 / 30 categories, the 4-category one 10% null) and two UTC timestamps.
  Spec: `bench/bench.fdsl`, {columns} output columns.
* Each contender is fitted once, then timed in CPU time (`time.process_time`, every thread of
  the process, so onnxruntime's worker threads count) over N paired rounds in one process: each
  round runs every contender once, in an order rotated per round, garbage collected before
  each; a ratio is taken within each round and reported as median [p25, p75]. numpy runs
  single-threaded;
  onnxruntime sessions use the CPU provider with one inter-op thread and, for batches, one
  intra-op thread per core (single-row sessions: one intra-op thread). Both ONNX graphs get
  identical session options.
* The numpy contenders start from the feed (one array per column); sklearn starts from the
  DataFrame (a null `plan` written as "", which skl2onnx needs); "DataFrame in" adds
  `featuredsl.ingest.to_feed` to the module's time. featuredsl's fit starts from the DataFrame.
* The sklearn ColumnTransformer computes the same 36 columns with stock transformers plus
  FunctionTransformers (hash, ratio, time features). skl2onnx converts only its stock subset
  (no missing indicators, FunctionTransformers or infrequent-category column): 28 columns, in
  float32. That favours the skl2onnx baseline.
* Peak memory: each contender in a fresh subprocess; the peak RSS is reset
  (`/proc/self/clear_refs`) just before the measured fit or transform, and the table shows the
  growth of the peak over the RSS before it, in MB (inputs already in memory are not counted).
* Single-row latency: `session.run` on {calls:,} one-row feeds drawn from the table, after a
  warm-up, in slices round-robin over the contenders; p50 and p99 of the per-call CPU time. The
  Session rows send the same rows as plain row dicts (None for a null) through
  `Session.transform` (validation included), without and with a SQLite serving log (its
  default: each call's record committed before the call returns, WAL, synchronous=NORMAL, so a
  process crash after a call returned loses nothing); the Session's overhead is its p50 minus
  the p50 of its own onnxruntime session run bare on the validated feed.
* Absolute times vary between runs on a loaded machine (other agents share its 2 cores; the
  load average is recorded under Machine); compare the paired ratios within one run.
"""


def _command(settings: Settings) -> str:
    if settings.rows == 1_000_000 and (settings.repeat, settings.fit_repeat) == (5, 3):
        return "python bench/run.py --rows 1000000 --out bench/RESULTS.md` (`make bench`"
    return (
        f"python bench/run.py --rows {settings.rows} --repeat {settings.repeat} "
        f"--fit-repeat {settings.fit_repeat} --latency-calls {settings.latency_calls}"
    )


def render(r: Results) -> str:
    header = [
        "# featuredsl benchmark",
        "",
        f"Generated by `{_command(r.settings)}`"
        f" on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; the run took {r.seconds:.0f} s.",
        "Times are CPU time (process_time: all threads of the process). Ratios are featuredsl / "
        "the other, taken round by round (paired): below 1 means featuredsl is faster.",
        "",
    ]
    sections = [
        _target_section(r),
        _transform_section(r),
        _fit_section(r),
        _latency_section(r),
        _agreement_section(r),
        _profile_section(r),
        _machine_section(r),
        [METHOD.format(seed=r.settings.seed, columns=r.columns, calls=r.settings.latency_calls)],
    ]
    return "\n".join(header + [line for section in sections for line in section]).rstrip() + "\n"


# ----------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=bench_data.SEED)
    parser.add_argument("--out", type=Path, help="write the markdown report here (default: stdout)")
    parser.add_argument(
        "--quick", action="store_true", help="small smoke run: 2,000 rows, few repetitions"
    )
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per batch transform")
    parser.add_argument("--fit-repeat", type=int, default=3)
    parser.add_argument("--latency-calls", type=int, default=5_000)
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="subprocess memory probes (default: on, off with --quick)",
    )
    parser.add_argument("--probe", choices=PROBES, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    if args.quick:
        quick = Settings.quick(seed=args.seed)
        return Settings(
            quick.rows,
            quick.seed,
            quick.repeat,
            quick.fit_repeat,
            quick.latency_calls,
            bool(args.memory),
            True,
        )
    memory = True if args.memory is None else args.memory
    return Settings(
        args.rows, args.seed, args.repeat, args.fit_repeat, args.latency_calls, memory, True
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe, args.rows, args.seed)))
        return 0
    results = run(
        settings_from(args),
        log=lambda message: print(f"[bench] {message}", file=sys.stderr, flush=True),
    )
    report = render(results)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
        print(f"[bench] wrote {args.out}", file=sys.stderr)
    print(report)
    return 0  # a missed target is reported, not an error


if __name__ == "__main__":
    sys.exit(main())
