"""An HTTP endpoint for a build or a bundle: Starlette on uvicorn (the `serve` extra).

    featuredsl serve build/churn --log serving.db [--shadow build/churn-v2] [--port 8000]

    POST /predict   {"rows": [{"age": 31.5, "clicks_7d": "3", ...}], "request_id": "optional",
                     "fingerprint": "optional"}  (or a bare JSON array of rows)
                    -> 200 {"request_id", "fingerprint", "rows", "feature_names",
                            "outputs": {name: {"dtype", "shape", "data"}}}
                    -> 400 {"error": kind, "message", "column", "row"} for any bad request
    GET  /metrics   Prometheus text format
    GET  /healthz   {"status": "ok", "fingerprint", "kind", "shadow"}

Rows and outputs use the conformance kit's lossless JSON encoding (the protocol is in
featuredsl.runtime.protocol, the metrics in featuredsl.runtime.metrics). Every
request is validated by the serving Session (featuredsl.runtime.serving) before onnxruntime
sees it, and logged (with `log`) before the response is sent. With `shadow`, the candidate runs
the same rows on a worker thread after the response is computed; its outputs (or the reason it
refused the request) go into the same log under the same request id
(featuredsl.monitor.shadow_log), and `featuredsl shadow --log LOG` reports the disagreement.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from featuredsl.artifact.contract import OUTPUT as FEATURES
from featuredsl.errors import ArtifactError, DataError, FeatureDSLError
from featuredsl.runtime.metrics import Metrics
from featuredsl.runtime.protocol import (
    MAX_BODY_BYTES,
    BadRequest,
    Request,
    decode_request_rows,
    encode_outputs,
    error_body,
    parse_body,
)
from featuredsl.runtime.serving import Session

EXTRA = "serve"
# Requests validated, run and logged at once (onnxruntime and SQLite release the GIL).
REQUEST_THREADS = 8
SHADOW_BACKLOG = 1000  # shadow requests waiting at most; more are skipped (and counted)


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
        self.session = Session(served, log=log, max_rows=max_rows, timestamp_unit="us")
        self.candidate = (
            Session(shadow, extra="ignore", timestamp_unit="us") if shadow is not None else None
        )
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
        rows = decode_request_rows(
            request.rows, self.session.inputs, self.session.served.event_sources
        )
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
            rows = decode_request_rows(
                request.rows, self.candidate.inputs, self.candidate.served.event_sources
            )
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
    announce: Callable[[str], None] = lambda url: None,
) -> None:
    """Run the server until interrupted (SIGINT / SIGTERM: drain, flush, exit).

    Args:
        served, shadow, log, max_rows: as Server.
        host, port: where to listen; loopback by default; port 0 picks a free one.
        announce: called with the URL actually listened on (the real port for port 0), once
            the build is open and the socket bound, before the first request.

    Raises:
        ArtifactError: the `serve` extra is missing, the build / bundle / log cannot be opened,
            or the address cannot be listened on (e.g. the port is in use).
    """
    require_extra()
    import socket

    import uvicorn

    server = Server(served, shadow=shadow, log=log, max_rows=max_rows)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening before the announcement: a client that connects as soon as it reads the
        # address is queued, not refused (uvicorn starts accepting a moment later).
        sock.listen(2048)
    except OSError as err:
        sock.close()
        raise ArtifactError(
            f"cannot listen on {host}:{port}: {err.strerror or err}; choose another --port "
            "(0 picks a free one)"
        ) from None
    bound = sock.getsockname()[1]
    announce(f"http://[{host}]:{bound}" if family == socket.AF_INET6 else f"http://{host}:{bound}")
    config = uvicorn.Config(make_app(server), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
