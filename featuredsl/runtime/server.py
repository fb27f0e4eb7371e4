"""An HTTP endpoint for a build or a bundle: Starlette on uvicorn (the `serve` extra).

    featuredsl serve build/churn --log serving.db [--shadow build/churn-v2] [--port 8000]

    POST /predict   {"rows": [{"age": 31.5, "clicks_7d": "3", ...}], "request_id": "optional",
                     "fingerprint": "optional"}  (or a bare JSON array of rows)
                    -> 200 {"request_id", "fingerprint", "rows", "feature_names",
                            "outputs": {name: {"dtype", "shape", "data"}}}
                    -> 400 {"error": kind, "message", "column", "row"} for any bad request
    GET  /metrics   Prometheus text format
    GET  /healthz   {"status": "ok", "fingerprint", "kind", "shadow"}

Rows and outputs use the conformance kit's lossless JSON encoding
(featuredsl.artifact.conformance.encoding: ints and timestamps as decimal strings, floats as
numbers or "NaN" / "Infinity" / "-Infinity" / "-0.0", null only in nullable columns). Every
request is validated by the serving Session (featuredsl.runtime.serving) before onnxruntime
sees it, and logged (with `log`) before the response is sent. With `shadow`, the candidate runs
the same rows on a worker thread after the response is computed; its outputs (or the reason it
refused the request) go into the same log under the same request id
(featuredsl.monitor.shadow_log), and `featuredsl shadow --log LOG` reports the disagreement.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.conformance.encoding import (
    EncodingError,
    decode_float,
    decode_int,
    encode_tensor,
)
from featuredsl.artifact.contract import OUTPUT as FEATURES
from featuredsl.compiler.ir import InputColumn
from featuredsl.compiler.types import DType
from featuredsl.errors import ArtifactError, DataError, FeatureDSLError
from featuredsl.runtime.serving import SOURCE, Session

EXTRA = "serve"
MAX_BODY_BYTES = 16 * 1024 * 1024
REQUEST_THREADS = (
    8  # requests validated, run and logged at once (onnxruntime and SQLite release the GIL)
)
SHADOW_BACKLOG = 1000  # shadow requests waiting at most; more are skipped (and counted)
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
)
# A column name as the messages write it: Python's repr, in single or double quotes.
_COLUMN = re.compile(r"""column ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
_ROW = re.compile(r"\brow (\d+)\b")


def require_extra() -> None:
    """Check that the `serve` extra is installed (and importable).

    Raises:
        ArtifactError: starlette, uvicorn or prometheus-client cannot be imported; the message
            names the extra to install.
    """
    import importlib

    missing = []
    for module in ("starlette", "uvicorn", "prometheus_client"):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ArtifactError(
            f"featuredsl serve needs {', '.join(missing)}: pip install 'featuredsl[{EXTRA}]'"
        )


# ----------------------------------------------------------------------------- requests


class BadRequest(FeatureDSLError):
    """A request the server refuses: its HTTP status, error kind and message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


@dataclass(frozen=True)
class Request:
    """A parsed /predict body: the rows still in the lossless encoding, and the envelope."""

    rows: list[Any]
    request_id: str
    fingerprint: str | None


def parse_body(body: bytes) -> Request:
    """The /predict body: `{"rows": [...], "request_id"?, "fingerprint"?}` or a bare array.

    Raises:
        BadRequest: not UTF-8 JSON (kind "malformed_json"), or not that shape ("bad_request").
    """
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, "too_large", f"{SOURCE}: more than {MAX_BODY_BYTES:,} bytes")
    try:
        document = json.loads(
            body.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float
        )
    except UnicodeDecodeError as err:
        raise BadRequest(
            400, "malformed_json", f"{SOURCE}: is not UTF-8 (byte {err.start})"
        ) from None
    except json.JSONDecodeError as err:
        raise BadRequest(
            400,
            "malformed_json",
            f"{SOURCE}: is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})",
        ) from None
    except ValueError as err:  # NaN / Infinity as bare JSON constants
        raise BadRequest(400, "malformed_json", f"{SOURCE}: {err}") from None
    if isinstance(document, list):
        return Request(document, uuid.uuid4().hex, None)
    if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
        raise BadRequest(
            400,
            "bad_request",
            f'{SOURCE}: send {{"rows": [{{column: value, ...}}, ...]}} (or a JSON array of '
            "row objects); values in the lossless encoding of docs/serving.md",
        )
    unknown = sorted(set(document) - {"rows", "request_id", "fingerprint"})
    if unknown:
        raise BadRequest(
            400,
            "bad_request",
            f"{SOURCE}: unknown field(s) {unknown}; the body has rows, request_id, fingerprint",
        )
    request_id = document.get("request_id", uuid.uuid4().hex)
    fingerprint = document.get("fingerprint")
    for key, value in (("request_id", request_id), ("fingerprint", fingerprint)):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 200):
            raise BadRequest(400, "bad_request", f"{SOURCE}: {key} must be a non-empty string")
    return Request(document["rows"], request_id, fingerprint)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(
            f'the number {text[:40]} is beyond float64; write "Infinity" or "-Infinity" if you '
            "mean it (lossless encoding)"
        )
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(
        f'bare {name} is not JSON; write the string "{name}" in a float column (lossless encoding)'
    )


def decode_request_rows(rows: Sequence[Any], inputs: Sequence[InputColumn]) -> list[Any]:
    """JSON rows in the lossless encoding -> rows of Python values for Session.validate.

    Declared float columns take a number or a tag ("NaN", ...), int and timestamp columns a
    decimal string (timestamps in int64 microseconds UTC); bools and strings pass as they are
    and null stays None, for the Session to check. Undeclared or missing columns are left for
    the Session to name (with its typo hints).

    Raises:
        DataError: a value the encoding cannot read, naming the column and the row.
    """
    by_name = {c.name: c for c in inputs}
    decoded: list[Any] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            decoded.append(row)  # the Session names the row and what it should be
            continue
        out = {}
        for name, cell in row.items():
            column = by_name.get(name)
            out[name] = cell if column is None or cell is None else _cell(column, cell, index)
        decoded.append(out)
    return decoded


def _cell(column: InputColumn, cell: Any, row: int) -> Any:
    where = f"{SOURCE}: column {column.name!r}, row {row}"
    try:
        if column.dtype is DType.FLOAT:
            return decode_float(cell, where)
        if column.dtype in (DType.INT, DType.TIMESTAMP):
            return decode_int(cell, where)
    except EncodingError as err:
        raise DataError(f"{err}; expected {column.dtype}{'?' if column.nullable else ''}") from None
    except OverflowError:
        raise DataError(f"{where}: {cell} is beyond float64; expected {column.dtype}") from None
    return cell


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The JSON of an error response: kind, message, and the column and row it names."""
    column = _COLUMN.search(message)
    row = _ROW.search(message)
    return {
        "error": kind,
        "message": message,
        "column": ast.literal_eval(column.group(1)) if column else None,
        "row": int(row.group(1)) if row else None,
    }


def encode_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Every output as {"dtype", "shape", "data"} in the lossless encoding."""
    return {name: encode_tensor(np.asarray(value)) for name, value in outputs.items()}


# ----------------------------------------------------------------------------- metrics


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (several apps per process).

    Counters: requests by HTTP status, errors by kind, rows served, shadow requests / rows /
    differing rows / errors / skips. Histogram: /predict latency in seconds (body received to
    response built). Gauges computed at scrape time: null rate per served feature (NaN share of
    the `features` column over every served row) and the shadow disagreement rate (differing
    rows / compared rows).
    """

    def __init__(self, feature_names: Sequence[str], shadow: bool) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "featuredsl_requests",
            "POST /predict requests by HTTP status",
            ["status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "featuredsl_request_errors",
            "POST /predict requests refused or failed, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.rows = Counter("featuredsl_rows", "rows served", registry=self.registry)
        self.latency = Histogram(
            "featuredsl_request_latency_seconds",
            "POST /predict latency, body received to response built",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.shadow = shadow
        self.shadow_requests = Counter(
            "featuredsl_shadow_requests", "requests run by the candidate", registry=self.registry
        )
        self.shadow_rows = Counter(
            "featuredsl_shadow_rows", "rows compared with the candidate", registry=self.registry
        )
        self.shadow_differ = Counter(
            "featuredsl_shadow_rows_differ",
            "rows where any output shared with the candidate differs",
            registry=self.registry,
        )
        self.shadow_errors = Counter(
            "featuredsl_shadow_errors",
            "requests the candidate refused or failed on",
            registry=self.registry,
        )
        self.shadow_skipped = Counter(
            "featuredsl_shadow_skipped",
            "requests not shadowed because the backlog was full",
            registry=self.registry,
        )
        self.feature_names = tuple(feature_names)
        self._lock = threading.Lock()
        self._served_rows = 0
        self._nulls = np.zeros(len(self.feature_names), dtype=np.int64)
        self._compared = 0
        self._differ = 0
        self.registry.register(_Derived(self))

    def served(self, features: np.ndarray | None, rows: int) -> None:
        """Count a served request's rows and its features' nulls (NaN)."""
        self.rows.inc(rows)
        if features is None or features.ndim != 2 or features.shape[1] != len(self._nulls):
            return
        nulls = np.isnan(features).sum(axis=0)
        with self._lock:
            self._served_rows += rows
            self._nulls += nulls

    def compared(self, rows: int, differ: int) -> None:
        """Count a shadowed request's compared and differing rows."""
        self.shadow_requests.inc()
        self.shadow_rows.inc(rows)
        self.shadow_differ.inc(differ)
        with self._lock:
            self._compared += rows
            self._differ += differ

    def null_rates(self) -> dict[str, float]:
        """Feature name -> share of served rows whose value is null (NaN); NaN before any row."""
        with self._lock:
            rows, nulls = self._served_rows, self._nulls.copy()
        return {
            n: (int(k) / rows if rows else math.nan)
            for n, k in zip(self.feature_names, nulls, strict=True)
        }

    def disagreement_rate(self) -> float:
        """Differing rows / compared rows since start (NaN before any)."""
        with self._lock:
            return self._differ / self._compared if self._compared else math.nan


class _Derived:
    """Gauges computed from the counters at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        nulls = GaugeMetricFamily(
            "featuredsl_feature_null_rate",
            "share of served rows whose feature is null (NaN)",
            labels=["feature"],
        )
        for name, rate in self.metrics.null_rates().items():
            nulls.add_metric([name], rate)
        yield nulls
        if self.metrics.shadow:
            yield GaugeMetricFamily(
                "featuredsl_shadow_disagreement_rate",
                "rows where the candidate differs / rows compared",
                value=self.metrics.disagreement_rate(),
            )


# ----------------------------------------------------------------------------- the server


class Server:
    """A served build or bundle, optionally with a candidate in shadow; no HTTP in here.

    Args:
        served: a build directory or a bundle file (the primary, A).
        shadow: a build directory or bundle run in shadow (the candidate, B), or None.
        log: a SQLite serving log; every answered request is committed to it before its
            response is built, and the candidate's records go into it too.
        max_rows: refuse requests with more rows.
        shadow_backlog: shadow requests waiting at most; beyond it a request is answered but
            not shadowed (counted in featuredsl_shadow_skipped).

    Raises:
        ArtifactError: a build, bundle or log that cannot be opened.
    """

    def __init__(
        self,
        served: str | Path,
        *,
        shadow: str | Path | None = None,
        log: str | Path | None = None,
        max_rows: int | None = 100_000,
        shadow_backlog: int = SHADOW_BACKLOG,
    ) -> None:
        self.path = str(served)
        self.session = Session(served, log=log, max_rows=max_rows)
        self.candidate = Session(shadow, extra="ignore") if shadow is not None else None
        self.candidate_path = None if shadow is None else str(shadow)
        self.metrics = Metrics(self.session.feature_names, shadow is not None)
        self.shadow_log: Any = None
        self.request_pool = ThreadPoolExecutor(
            REQUEST_THREADS, thread_name_prefix="featuredsl-request"
        )
        self._executor: ThreadPoolExecutor | None = None
        self._backlog = shadow_backlog
        self._pending = 0
        self._pending_lock = threading.Lock()
        if self.candidate is not None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="featuredsl-shadow")
            if log is not None:
                self.shadow_log = self._open_shadow_log(log)

    def _open_shadow_log(self, log: str | Path) -> Any:
        from featuredsl.monitor.shadow_log import Pair, ShadowLog

        assert self.candidate is not None and self.candidate_path is not None
        inputs = tuple(
            {"name": c.name, "dtype": str(c.dtype), "nullable": c.nullable}
            for c in self.session.inputs
        )
        pair = Pair(
            self.session.fingerprint,
            self.candidate.fingerprint,
            self.path,
            self.candidate_path,
            inputs,
            self.session.feature_names,
            self.candidate.feature_names,
        )
        return ShadowLog(log, pair)

    def health(self) -> dict[str, Any]:
        """What /healthz answers."""
        return {
            "status": "ok",
            "served": self.path,
            "kind": self.session.served.kind,
            "fingerprint": self.session.fingerprint,
            "shadow": None if self.candidate is None else self.candidate.fingerprint,
        }

    def predict(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one /predict body: (HTTP status, JSON document). Never raises for a bad
        request; a failure of the server itself (the log cannot be written) is a 500 naming
        its cause."""
        started = time.perf_counter()
        try:
            status, document = 200, self._answer(body)
        except BadRequest as err:
            status, document = err.status, error_body(err.kind, str(err))
        except DataError as err:
            status, document = 400, error_body("invalid_input", str(err))
        except ArtifactError as err:
            status, document = 500, error_body("server", str(err))
        except Exception as err:  # never a traceback to the client; the kind says it is ours
            status, document = 500, error_body("internal", f"{type(err).__name__}: {err}")
        self.metrics.latency.observe(time.perf_counter() - started)
        self.metrics.requests.labels(str(status)).inc()
        if status != 200:
            self.metrics.errors.labels(document["error"]).inc()
        return status, document

    def _answer(self, body: bytes) -> dict[str, Any]:
        request = parse_body(body)
        rows = decode_request_rows(request.rows, self.session.inputs)
        outputs = self.session.run(
            rows, request_id=request.request_id, fingerprint=request.fingerprint
        )
        count = len(request.rows)
        features = outputs.get(FEATURES)
        self.metrics.served(features, count)
        if self.candidate is not None:
            self._submit_shadow(request, outputs)
        return {
            "request_id": request.request_id,
            "fingerprint": self.session.fingerprint,
            "rows": count,
            "feature_names": list(self.session.feature_names),
            "outputs": encode_outputs(outputs),
        }

    # -- shadow

    def _submit_shadow(self, request: Request, outputs: Mapping[str, Any]) -> None:
        assert self._executor is not None
        with self._pending_lock:
            if self._pending >= self._backlog:
                self.metrics.shadow_skipped.inc()
                return
            self._pending += 1
        self._executor.submit(self._run_shadow, request, outputs)

    def _run_shadow(self, request: Request, primary: Mapping[str, Any]) -> None:
        try:
            self._shadow_one(request, primary)
        finally:
            with self._pending_lock:
                self._pending -= 1

    def _shadow_one(self, request: Request, primary: Mapping[str, Any]) -> None:
        assert self.candidate is not None
        try:
            rows = decode_request_rows(request.rows, self.candidate.inputs)
            outputs: dict[str, Any] | None = self.candidate.run(rows)
            error = None
        except FeatureDSLError as err:
            outputs, error = None, str(err)
        except Exception as err:  # the candidate must never take the server down
            outputs, error = None, f"{type(err).__name__}: {err}"
        if outputs is None:
            self.metrics.shadow_errors.inc()
        else:
            self.metrics.compared(len(request.rows), self._differing_rows(primary, outputs))
        if self.shadow_log is not None:
            try:
                self.shadow_log.write(request.request_id, outputs, error)
            except ArtifactError:
                self.metrics.errors.labels("shadow_log").inc()

    def _differing_rows(self, primary: Mapping[str, Any], candidate: Mapping[str, Any]) -> int:
        """Rows where any shared output differs, by featuredsl shadow's own rule."""
        from featuredsl.runtime.shadow import RowContext, Side, compare_outputs

        assert self.candidate is not None
        rows = len(next(iter(primary.values()))) if primary else 0
        ctx = RowContext(rows, (), {}, (), 0.0, 0)
        a = Side("A", "", tuple(primary), self.session.feature_names, primary)
        b = Side("B", "", tuple(candidate), self.candidate.feature_names, candidate)
        return compare_outputs(a, b, ctx, source="live").rows_differ

    def drain(self) -> None:
        """Wait for the shadow requests in flight, then stop the shadow worker."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def close(self) -> None:
        """Finish the requests in flight, drain the shadow worker, flush and close the logs."""
        self.request_pool.shutdown(wait=True)
        self.drain()
        self.session.close()
        if self.shadow_log is not None:
            self.shadow_log.close()


def make_app(server: Server) -> Any:
    """The Starlette application for `server` (POST /predict, GET /metrics, GET /healthz).

    The validated run and the log commit happen on the server's request threads (a plain
    executor: about 80 us less CPU per request than anyio's thread hop), so the event loop keeps
    accepting requests; the server is closed (shadow drained, log flushed) on shutdown.
    """
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request as HttpRequest
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def predict(request: HttpRequest) -> Response:
        # Read at most MAX_BODY_BYTES + 1: a larger body is refused without being held.
        chunks, size = [], 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                break
        loop = asyncio.get_running_loop()
        status, document = await loop.run_in_executor(
            server.request_pool, server.predict, b"".join(chunks)
        )
        return JSONResponse(document, status_code=status)

    async def metrics(request: HttpRequest) -> Response:
        return Response(generate_latest(server.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: HttpRequest) -> Response:
        return JSONResponse(server.health())

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        await run_in_threadpool(server.close)

    return Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def serve(
    served: str | Path,
    *,
    shadow: str | Path | None = None,
    log: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_rows: int | None = 100_000,
) -> None:
    """Run the server until interrupted (SIGINT / SIGTERM: drain, flush, exit).

    Args:
        served, shadow, log, max_rows: as Server.
        host, port: where to listen; loopback by default.

    Raises:
        ArtifactError: the `serve` extra is missing, or the build / bundle / log cannot be opened.
    """
    require_extra()
    import uvicorn

    server = Server(served, shadow=shadow, log=log, max_rows=max_rows)
    config = uvicorn.Config(
        make_app(server), host=host, port=port, log_level="warning", access_log=False
    )
    uvicorn.Server(config).run()
