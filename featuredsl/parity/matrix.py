"""The runtime matrix: the serving graph on every onnxruntime a serving team may run.

Parity proven on the build machine's onnxruntime alone says little: releases differ from each
other (docs/parity.md). A runtime id names one environment:

    python                 the onnxruntime of this Python interpreter (nothing installed)
    python-ort==1.20.1     a venv with onnxruntime==1.20.1 and numpy
    node-ort==1.30.0       onnxruntime-node from the npm registry (Node.js from the system)
    web-ort==1.30.0        onnxruntime-web's WASM backend, run under Node.js
    node, web              the versions in NODE_ORT_VERSION / WEB_ORT_VERSION

`ensure_runtime(rid)` installs an environment once into the cache directory (default
~/.cache/featuredsl/runtimes, or $FEATUREDSL_RUNTIME_CACHE) and reuses it afterwards. Every
run goes through the conformance encoding and the reference clients the build directories
carry (featuredsl.artifact.conformance), in a subprocess:

    runtime = ensure_runtime("node-ort==1.30.0")
    runtime.run("model.onnx", {"x": np.array([1.0, -0.0])})    # {"y": array([...])}
    runtime.verify("build/churn", optimization="disabled").ok
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl import __version__
from featuredsl.artifact.conformance import encoding, kit
from featuredsl.artifact.contract import ONNX_FILE
from featuredsl.artifact.load import read_manifest, verify_file
from featuredsl.errors import ArtifactError, FeatureDSLError

PYTHON_MIN = "1.20.1"  # the declared minimum (pyproject, README)
PYTHON_MIDDLE = "1.26.0"
PYTHON_NEWEST = "1.32.0"  # the newest onnxruntime on PyPI
NODE_ORT_VERSION = kit.NODE_ORT_VERSION  # the newest onnxruntime-node on npm
WEB_ORT_VERSION = kit.WEB_ORT_VERSION
MATRIX: tuple[str, ...] = (
    f"python-ort=={PYTHON_MIN}",
    f"python-ort=={PYTHON_MIDDLE}",
    f"python-ort=={PYTHON_NEWEST}",
    f"node-ort=={NODE_ORT_VERSION}",
    f"web-ort=={WEB_ORT_VERSION}",
)
OPTIMIZATIONS = ("disabled", "basic", "extended", "all")
ALIASES = {"node": f"node-ort=={NODE_ORT_VERSION}", "web": f"web-ort=={WEB_ORT_VERSION}"}
CACHE_ENV = "FEATUREDSL_RUNTIME_CACHE"
VERIFICATION_FILE = "verification.json"
_RUN_TIMEOUT = 600  # seconds for one client run
_INSTALL_TIMEOUT = 1800
_ID = re.compile(r"(python|node|web)-ort==([0-9]+\.[0-9]+\.[0-9]+)")
_INPUT_DTYPES = {"float64": "float", "int64": "int", "bool": "bool", "string": "string"}


class RuntimeUnavailable(FeatureDSLError):
    """A runtime that cannot be installed or started here (the message says what to install)."""


class RuntimeFailure(FeatureDSLError):
    """A runtime that started but could not load or run a graph."""


@dataclass(frozen=True)
class CellDifference:
    """One output cell that differs: `expected` from the numpy module, `actual` from the runtime."""

    row: int
    feature: str
    expected: float
    actual: float

    @property
    def expected_bits(self) -> str:
        return _bits(self.expected)

    @property
    def actual_bits(self) -> str:
        return _bits(self.actual)

    def format(self) -> str:
        """One line: row, feature, both values with their IEEE-754 bits."""
        return (
            f"row {self.row}, {self.feature}: expected {self.expected!r} ({self.expected_bits}), "
            f"got {self.actual!r} ({self.actual_bits})"
        )


@dataclass(frozen=True)
class Verdict:
    """The result of running a build's conformance kit on one runtime.

    ok: every cell bit-identical (NaN equal to NaN, -0.0 unlike 0.0) and no error. cells =
    rows x features. differing_by_feature: feature name -> number of differing rows. first:
    the first differing cells in row order (at most `show`). error: why the runtime could not
    load or run the graph (then ok is False and the counts are 0).
    """

    runtime: str
    description: str
    version: str
    optimization: str
    threads: int
    ok: bool
    rows: int = 0
    features: int = 0
    cells: int = 0
    differing: int = 0
    differing_by_feature: dict[str, int] = field(default_factory=dict)
    first: tuple[CellDifference, ...] = ()
    error: str | None = None

    def format(self) -> str:
        """The verdict for a person: OK, FAILED with the reason, or DIFFERENT with the count per
        feature and the first differing cells."""
        where = (
            f"{self.runtime} ({self.description}), optimization {self.optimization}, "
            f"{self.threads} thread(s)"
        )
        if self.error is not None:
            return f"{where}: FAILED: {self.error}"
        if self.ok:
            return f"{where}: OK, {self.cells} cells ({self.rows} rows x {self.features} features) bit-identical"
        lines = [f"{where}: DIFFERENT, {self.differing} of {self.cells} cells"]
        lines += [f"  {name}: {count} rows" for name, count in self.differing_by_feature.items()]
        lines += [f"  {cell.format()}" for cell in self.first]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: floats of the differing cells in the conformance encoding, with bits."""
        return {
            "runtime": self.runtime,
            "description": self.description,
            "version": self.version,
            "optimization": self.optimization,
            "threads": self.threads,
            "ok": self.ok,
            "rows": self.rows,
            "features": self.features,
            "cells": self.cells,
            "differing": self.differing,
            "differing_by_feature": self.differing_by_feature,
            "first": [
                {
                    "row": c.row,
                    "feature": c.feature,
                    "expected": encoding.encode_float(c.expected),
                    "actual": encoding.encode_float(c.actual),
                    "expected_bits": c.expected_bits,
                    "actual_bits": c.actual_bits,
                }
                for c in self.first
            ],
            "error": self.error,
        }


def _bits(value: float) -> str:
    return "0x" + np.float64(value).view(np.uint64).item().to_bytes(8, "big").hex()


# ----------------------------------------------------------------------------- runtimes


@dataclass(frozen=True)
class Runtime:
    """An installed runtime: `kind` "python", "node" or "web"; `version` the onnxruntime
    package version it was installed with (None: this interpreter's); `home` its environment
    directory (None for this interpreter); `executable` the python or node binary."""

    rid: str
    kind: str
    version: str | None
    home: Path | None
    executable: Path

    def run(
        self,
        model_path: str | Path,
        feeds: Mapping[str, np.ndarray],
        *,
        optimization: str = "all",
        threads: int = 1,
    ) -> dict[str, np.ndarray]:
        """Run the graph at `model_path` on `feeds` in this runtime; every output by name.

        feeds: one 1-D array per graph input, all of one length N, dtype float64, int64, bool
        or str/object (strings); a null mask is a bool input like any other. The feeds travel
        in the conformance encoding to the reference client, which builds [N] tensors and
        writes every output back (float64, float32, int64, int32, bool or string arrays of
        the graph's shape). Raises RuntimeFailure if the runtime cannot load or run the graph.
        """
        _check_optimization(optimization)
        inputs = [
            {"name": name, "dtype": _input_dtype(name, v), "nullable": False}
            for name, v in feeds.items()
        ]
        document = {
            "format": encoding.FORMAT,
            "inputs": [{**column, "mask": None} for column in inputs],
            "rows": encoding.encode_rows(feeds, inputs),
        }
        with tempfile.TemporaryDirectory(prefix="featuredsl-run-") as scratch:
            rows = Path(scratch) / "rows.json"
            rows.write_bytes(encoding.dumps(document))
            output = Path(scratch) / "outputs.json"
            report = self._client(
                [
                    "--rows",
                    str(rows),
                    "--model",
                    str(Path(model_path).resolve()),
                    "--output",
                    str(output),
                ],
                optimization,
                threads,
                Path(scratch),
            )
            if not report.get("ok"):
                raise RuntimeFailure(f"{self.rid}: {report.get('error', 'the client failed')}")
            outputs = json.loads(output.read_text(encoding="utf-8"))["outputs"]
        return {
            name: encoding.decode_tensor(tensor, f"{self.rid} output {name!r}")
            for name, tensor in outputs.items()
        }

    def verify(
        self,
        build_dir: str | Path,
        *,
        optimization: str = "all",
        threads: int = 1,
        show: int = 10,
        record: bool = True,
    ) -> Verdict:
        """Run the conformance kit of `build_dir` (conformance/rows.json against
        conformance/expected.json, graph features.onnx) in this runtime.

        With `record`, the verdict is added to build_dir/verification.json (replacing an
        earlier one for the same runtime, optimization level and thread count). Raises
        ArtifactError if the directory has no kit, or if its graph or kit differs from what
        the manifest records."""
        _check_optimization(optimization)
        build = Path(build_dir)
        rows, expected = build / kit.ROWS, build / kit.EXPECTED
        for path in (rows, expected):
            if not path.exists():
                raise ArtifactError(
                    f"{path}: missing; {build} has no conformance kit (rebuild it with "
                    "`featuredsl build`)"
                )
        manifest = read_manifest(build)
        for name in (ONNX_FILE, kit.ROWS, kit.EXPECTED):
            verify_file(build, manifest, name)  # a verdict on a changed kit would prove nothing
        with tempfile.TemporaryDirectory(prefix="featuredsl-verify-") as scratch:
            report = self._client(
                [
                    "--rows",
                    str(rows.resolve()),
                    "--expected",
                    str(expected.resolve()),
                    "--model",
                    str((build / ONNX_FILE).resolve()),
                    "--show",
                    str(show),
                ],
                optimization,
                threads,
                Path(scratch),
            )
        verdict = self._verdict(report, optimization, threads)
        if record:
            record_verification(build, verdict)
        return verdict

    # -- the client subprocess

    def _client(
        self, args: list[str], optimization: str, threads: int, scratch: Path
    ) -> dict[str, Any]:
        report_path = scratch / "report.json"
        command = [
            *self._command(),
            *args,
            "--optimization",
            optimization,
            "--threads",
            str(threads),
            "--report",
            str(report_path),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=_RUN_TIMEOUT, cwd=scratch
            )
        except subprocess.TimeoutExpired:
            raise RuntimeFailure(
                f"{self.rid}: the client did not finish in {_RUN_TIMEOUT} s"
            ) from None
        if not report_path.exists():
            raise RuntimeFailure(
                f"{self.rid}: the client wrote no report (exit {done.returncode}): "
                f"{_tail(done.stderr or done.stdout)}"
            )
        report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
        return report

    def _command(self) -> list[str]:
        if self.kind == "python":
            return [str(self.executable), str(_client_file(self, "client.py"))]
        command = [str(self.executable), str(_client_file(self, "client.mjs"))]
        return [*command, "--backend", self.kind]

    def _verdict(self, report: Mapping[str, Any], optimization: str, threads: int) -> Verdict:
        first = tuple(
            CellDifference(
                int(c["row"]),
                str(c["feature"]),
                encoding.decode_float(c["expected"]),
                encoding.decode_float(c["actual"]),
            )
            for c in report.get("first", [])
        )
        return Verdict(
            runtime=self.rid,
            description=str(report.get("runtime", self.rid)),
            version=str(report.get("version", self.version or "")),
            optimization=optimization,
            threads=threads,
            ok=bool(report.get("ok")) and report.get("error") is None,
            rows=int(report.get("rows", 0)),
            features=int(report.get("features", 0)),
            cells=int(report.get("cells", 0)),
            differing=int(report.get("differing", 0)),
            differing_by_feature=dict(report.get("differing_by_feature", {})),
            first=first,
            error=report.get("error"),
        )


def _check_optimization(level: str) -> None:
    if level not in OPTIMIZATIONS:
        raise FeatureDSLError(
            f"unknown optimization level {level!r}; use one of {', '.join(OPTIMIZATIONS)}"
        )


def _input_dtype(name: str, values: np.ndarray) -> str:
    if values.ndim != 1:
        raise FeatureDSLError(f"feed {name!r}: shape {values.shape}; the clients take [N] inputs")
    dtype = (
        "string" if values.dtype == object or values.dtype.kind in ("U", "T") else str(values.dtype)
    )
    if dtype not in _INPUT_DTYPES:
        raise FeatureDSLError(
            f"feed {name!r}: dtype {values.dtype}; the clients take float64, int64, bool or "
            "string inputs"
        )
    return _INPUT_DTYPES[dtype]


def _client_file(runtime: Runtime, name: str) -> Path:
    """The packaged client. A Node client must sit next to its node_modules (ES modules resolve
    packages from the importing file), so it is copied into the runtime's environment."""
    source = kit.client_source(name)
    directory = runtime.home if runtime.home is not None else cache_dir() / "clients"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if not target.exists() or target.read_bytes() != source:
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_bytes(source)
        partial.replace(target)
    return target


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"


# ----------------------------------------------------------------------------- installing


def cache_dir() -> Path:
    """Where runtimes are installed: $FEATUREDSL_RUNTIME_CACHE or ~/.cache/featuredsl/runtimes."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "featuredsl" / "runtimes"


def parse_runtime(rid: str) -> tuple[str, str | None]:
    """ "python-ort==1.20.1" -> ("python", "1.20.1"); "python" -> ("python", None); "node" and
    "web" -> their default versions. FeatureDSLError for anything else."""
    rid = ALIASES.get(rid, rid)
    if rid == "python":
        return "python", None
    match = _ID.fullmatch(rid)
    if match is None:
        raise FeatureDSLError(
            f"unknown runtime {rid!r}; use python, node, web, or an id such as "
            f"python-ort=={PYTHON_MIN}, node-ort=={NODE_ORT_VERSION}, web-ort=={WEB_ORT_VERSION}"
        )
    return match.group(1), match.group(2)


def ensure_runtime(
    rid: str, *, cache: str | Path | None = None, progress: Callable[[str], None] = lambda _: None
) -> Runtime:
    """The runtime `rid`, installed into its own environment under `cache` (default
    cache_dir()) on first use and reused afterwards; safe to call from parallel processes.

    Raises RuntimeUnavailable with what to install when Python's venv, Node.js or npm is
    missing or the package cannot be downloaded."""
    kind, version = parse_runtime(rid)
    rid = ALIASES.get(rid, rid)
    if version is None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise RuntimeUnavailable(
                "onnxruntime is not installed in this Python; pip install onnxruntime"
            ) from None
        return Runtime(rid, kind, None, None, Path(sys.executable))
    home = Path(cache) if cache is not None else cache_dir()
    home = home / f"{kind}-ort-{version}"
    install = _install_python if kind == "python" else _install_node
    if kind != "python":
        _require_node()
    package = {
        "python": Path("bin") / "python",
        "node": Path("node_modules") / "onnxruntime-node" / "package.json",
        "web": Path("node_modules") / "onnxruntime-web" / "package.json",
    }[kind]
    with _locked(home.with_name(home.name + ".lock")):
        # Installed completely (.ready is written last) and not damaged since.
        if not ((home / ".ready").exists() and (home / package).exists()):
            progress(f"installing {rid} into {home}")
            if home.exists():
                shutil.rmtree(home)
            home.mkdir(parents=True)
            install(kind, version, home)
            (home / ".ready").write_text(json.dumps({"runtime": rid}) + "\n")
    executable = home / "bin" / "python" if kind == "python" else Path(_which("node"))
    return Runtime(rid, kind, version, home, executable)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install_python(kind: str, version: str, home: Path) -> None:
    _setup(
        [sys.executable, "-m", "venv", str(home)],
        f"cannot create a venv in {home} (on Debian: apt-get install python3-venv)",
    )
    _setup(
        [
            str(home / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"onnxruntime=={version}",
            "numpy",
        ],
        f"cannot install onnxruntime=={version} from PyPI into {home}",
    )


def _install_node(kind: str, version: str, home: Path) -> None:
    package = "onnxruntime-node" if kind == "node" else "onnxruntime-web"
    (home / "package.json").write_text('{"private": true}\n')
    # --ignore-scripts: onnxruntime-node's install script downloads GPU files; the CPU
    # binding ships in the package itself.
    _setup(
        [
            _which("npm"),
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"{package}@{version}",
        ],
        f"cannot install {package}@{version} from the npm registry into {home}",
        cwd=home,
    )


def _setup(command: list[str], failure: str, cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, cwd=cwd
        )
    except subprocess.TimeoutExpired:
        raise RuntimeUnavailable(f"{failure}: timed out after {_INSTALL_TIMEOUT} s") from None
    if done.returncode != 0:
        raise RuntimeUnavailable(f"{failure}:\n{_tail(done.stderr or done.stdout)}")


def _require_node() -> None:
    _which("node")
    _which("npm")


def _which(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        package = "nodejs" if program == "node" else program
        raise RuntimeUnavailable(
            f"{'Node.js' if program == 'node' else program} not found: install {package} "
            f"(apt-get install {package}) to run the node and web runtimes"
        )
    return found


# ----------------------------------------------------------------------------- records


def record_verification(build_dir: str | Path, verdict: Verdict) -> Path:
    """Add `verdict` to build_dir/verification.json: which runtimes, versions, optimization
    levels and thread counts the graph was verified on, with the outcome and a UTC time.

    A file next to the manifest rather than in it: the manifest is part of the build, which
    stays byte-identical; this file records what happened to the build afterwards."""
    path = Path(build_dir) / VERIFICATION_FILE
    entry = {
        "runtime": verdict.runtime,
        "description": verdict.description,
        "version": verdict.version,
        "optimization": verdict.optimization,
        "threads": verdict.threads,
        "ok": verdict.ok,
        "cells": verdict.cells,
        "differing": verdict.differing,
        "error": verdict.error,
        "graph_sha256": _sha256(Path(build_dir) / ONNX_FILE),
        "featuredsl_version": __version__,
        "verified_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    try:
        _write_record(path, entry)
    except OSError as error:
        raise ArtifactError(f"{path}: cannot record the verdict ({error.strerror})") from None
    return path


def _write_record(path: Path, entry: dict[str, Any]) -> None:
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # parallel verifications of one build
        handle.seek(0)
        try:
            runs = list(json.loads(handle.read() or "{}").get("runs", []))
        except (ValueError, AttributeError):
            runs = []  # a corrupt record is rewritten rather than trusted
        key = (entry["runtime"], entry["optimization"], entry["threads"])
        runs = [
            r for r in runs if (r.get("runtime"), r.get("optimization"), r.get("threads")) != key
        ]
        runs.append(entry)
        runs.sort(key=lambda r: (str(r["runtime"]), str(r["optimization"]), int(r["threads"])))
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"runs": runs}, indent=2) + "\n")


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
