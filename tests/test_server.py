"""`featuredsl serve`: the real server (uvicorn in a subprocess) on a free loopback port, talked
to by a real HTTP client (httpx): lossless round trips, 400s for every bad request, metrics,
concurrent clients, a candidate in shadow, and a kill mid-request that leaves nothing half
logged."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_bundle import churn_csv, churn_fitted, churn_spec, run_cli

from featuredsl.artifact.conformance.encoding import encode_rows
from featuredsl.artifact.spec import Spec
from featuredsl.errors import ArtifactError
from featuredsl.ingest import read_table
from featuredsl.ingest.convert import FIRST_INSTANT, LAST_INSTANT
from featuredsl.monitor.serving_log import read_log
from featuredsl.monitor.shadow_log import read_pairs
from featuredsl.runtime.live_shadow import live_shadow

ROW = {
    "age": 31.5,
    "income": None,
    "clicks_7d": "3",
    "impressions_7d": "40",
    "country": "DE",
    "plan": None,
    "event_ts": "1724596508000000",
    "signup_ts": "1702507864000000",
}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    churn_fitted().save(root / "a")
    # The same spec fitted on other data: other constants (a candidate that disagrees).
    churn_spec().fit(read_table(churn_csv(), churn_spec().inputs).slice(0, 400)).save(root / "b")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(*args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`featuredsl serve ARGS` on a free loopback port; stopped with SIGINT (a clean drain)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "featuredsl.cli.main", "serve", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode() if process.stderr else "")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def non_loopback_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    import ipaddress

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address: str = s.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


def conformance_rows(build: Path) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    rows = json.loads((build / "conformance" / "rows.json").read_text())["rows"]
    expected = json.loads((build / "conformance" / "expected.json").read_text())["rows"]
    return rows, expected


def metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url + "/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _plausible(row: dict[str, Any]) -> bool:
    """Every timestamp of a wire row lies in the years 1-9999 (what the Session accepts)."""
    return all(
        row.get(name) is None or FIRST_INSTANT <= int(row[name]) <= LAST_INSTANT
        for name in ("event_ts", "signup_ts")
    )


def test_predict_round_trips_the_conformance_rows_bit_for_bit(builds: Path) -> None:
    rows, expected = conformance_rows(builds / "a")
    with server(str(builds / "a")) as (url, _), httpx.Client(base_url=url) as client:
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["kind"] == "build"
        # Every edge case of the build (NaN, -0.0, int64 extremes, odd text), in batches; an
        # instant outside the years 1-9999 is refused as the Session refuses it (a wrong unit).
        plausible = [i for i, row in enumerate(rows) if _plausible(row)]
        assert len(rows) - len(plausible) < len(rows) // 4
        rows, expected = [rows[i] for i in plausible], [expected[i] for i in plausible]
        for start in range(0, len(rows), 250):
            answer = client.post("/predict", json={"rows": rows[start : start + 250]})
            assert answer.status_code == 200, answer.text
            document = answer.json()
            assert document["fingerprint"] == health["fingerprint"]
            features = document["outputs"]["features"]
            assert features["dtype"] == "float64"
            width = features["shape"][1]
            got = [features["data"][i : i + width] for i in range(0, len(features["data"]), width)]
            assert got == expected[start : start + 250]
        far = dict(ROW, event_ts=str(2**62))
        refused = client.post("/predict", json=[ROW, far])
        assert refused.status_code == 400
        assert refused.json()["column"] == "event_ts" and refused.json()["row"] == 1
        # A bare array of rows works too, and the request id comes back.
        one = client.post("/predict", json=[ROW]).json()
        assert one["rows"] == 1 and len(one["request_id"]) == 32
        # Loopback only by default: the machine's other address does not answer.
        other = non_loopback_address()
        if other is not None:
            with pytest.raises(httpx.ConnectError):
                httpx.get(url.replace("127.0.0.1", other) + "/healthz", timeout=2)


BAD: list[tuple[bytes, str, str | None, int | None]] = [
    (b'{"rows": [{"age": 31.5,', "malformed_json", None, None),
    (b"\xff\xfe", "malformed_json", None, None),
    (b'{"rows": [{"age": NaN}]}', "malformed_json", None, None),
    (b'{"rows": [{"age": 1e400}]}', "malformed_json", None, None),
    (b'{"rows": [{"age": 31.5, "age": 1}]}', "malformed_json", None, None),
    (b'{"rows": {"age": 1}}', "bad_request", None, None),
    (b'{"rows": [], "colour": 1}', "bad_request", None, None),
    (json.dumps({"rows": [ROW, {**ROW, "clicks_7d": 3}]}).encode(), "invalid_input", "clicks_7d", 1),
    (json.dumps({"rows": [{**ROW, "clicks_7d": "1e3"}]}).encode(), "invalid_input", "clicks_7d", 0),
    (json.dumps({"rows": [{**ROW, "event_ts": "9223372036854775808"}]}).encode(), "invalid_input", "event_ts", 0),
    (json.dumps({"rows": [{**ROW, "age": "31.5"}]}).encode(), "invalid_input", "age", 0),
    (json.dumps({"rows": [{**ROW, "age": 10**400}]}).encode(), "invalid_input", "age", 0),
    (json.dumps({"rows": [ROW, {**ROW, "country": None}]}).encode(), "invalid_input", "country", 1),
    (json.dumps({"rows": [ROW, ROW, {**ROW, "country": 7}]}).encode(), "invalid_input", "country", 2),
    (json.dumps({"rows": [{k: v for k, v in ROW.items() if k != "age"}]}).encode(), "invalid_input", "age", 0),
    (json.dumps({"rows": [{**ROW, "agee": 1.0}]}).encode(), "invalid_input", "agee", 0),
    (json.dumps({"rows": [ROW, 5]}).encode(), "invalid_input", None, 1),
    (json.dumps({"rows": [{**ROW, "country": "a\u0000b"}]}).encode(), "invalid_input", "country", 0),
    (json.dumps({"rows": [ROW], "fingerprint": "0" * 64}).encode(), "invalid_input", None, None),
]  # fmt: skip


def test_every_bad_request_is_a_400_naming_column_and_row(builds: Path, tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    with server(str(builds / "a"), "--log", str(log)) as (url, _):
        with httpx.Client(base_url=url) as client:
            for body, kind, column, row in BAD:
                answer = client.post(
                    "/predict", content=body, headers={"content-type": "application/json"}
                )
                assert answer.status_code == 400, (body, answer.text)
                error = answer.json()
                assert (error["error"], error["column"], error["row"]) == (kind, column, row), (
                    body,
                    error,
                )
                assert "Traceback" not in error["message"]
            assert client.post("/predict", json={"rows": [ROW]}).status_code == 200
            huge = client.post("/predict", content=b"[" + b" " * (17 * 1024 * 1024) + b"]")
            assert huge.status_code == 413 and huge.json()["error"] == "too_large"
        seen = metrics(url)
    assert seen[("featuredsl_requests_total", (("status", "400"),))] == len(BAD)
    assert seen[("featuredsl_request_errors_total", (("kind", "too_large"),))] == 1
    assert seen[("featuredsl_request_errors_total", (("kind", "invalid_input"),))] == 12
    assert seen[("featuredsl_request_errors_total", (("kind", "malformed_json"),))] == 5
    assert seen[("featuredsl_request_latency_seconds_count", ())] == len(BAD) + 2
    # A refused request is neither run nor logged.
    assert [r.rows for r in read_log(log)] == [1]
    # A log without live shadow records: `featuredsl shadow --log` says how to write them.
    assert run_cli(["shadow", "--log", str(log)]) == 1


def test_null_rates_of_served_features(tmp_path: Path) -> None:
    spec = Spec("spec ratio\n\ninput {\n  a: float\n  b: float\n}\n\nfeature q = a / b\n")
    spec.fit({"a": np.array([1.0, 2.0]), "b": np.array([1.0, 4.0])}).save(tmp_path / "ratio")
    with server(str(tmp_path / "ratio")) as (url, _):
        assert metrics(url)[("featuredsl_feature_null_rate", (("feature", "q"),))] != 0.0  # NaN
        rows = [{"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 2.0}, {"a": "-0.0", "b": 0.0}]
        answer = httpx.post(url + "/predict", json={"rows": rows}).json()
        assert answer["outputs"]["features"]["data"] == ["NaN", 0.5, "NaN"]  # 0/0 is NaN
        httpx.post(url + "/predict", json={"rows": [{"a": 1.0, "b": 0.0}]})  # +inf, not null
        seen = metrics(url)
    assert seen[("featuredsl_feature_null_rate", (("feature", "q"),))] == 0.5
    assert seen[("featuredsl_rows_total", ())] == 4


def _load(url: str, clients: int, per_client: int) -> list[str]:
    """`clients` threads each sending `per_client` one-row requests; the ids answered 200."""
    answered: list[str] = []
    lock = threading.Lock()
    failures: list[str] = []

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for i in range(per_client):
                rid = f"c{k}-{i}"
                row = {**ROW, "age": 20.0 + i % 50, "clicks_7d": str(i)}
                answer = http.post("/predict", json={"rows": [row], "request_id": rid})
                if answer.status_code != 200:
                    failures.append(answer.text)
                    continue
                with lock:
                    answered.append(answer.json()["request_id"])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    return answered


def test_eight_concurrent_clients_with_a_shadow_lose_no_record(
    builds: Path, tmp_path: Path
) -> None:
    log = tmp_path / "serving.db"
    clients, per_client = 8, 250
    with server(str(builds / "a"), "--shadow", str(builds / "b"), "--log", str(log)) as (url, _):
        answered = _load(url, clients, per_client)
        live = metrics(url)
    assert len(answered) == len(set(answered)) == clients * per_client
    # Every answered request is logged exactly once. Each is shadowed (after the drain at
    # shutdown) unless the candidate fell a full backlog behind (a loaded machine): then it is
    # skipped, counted in featuredsl_shadow_skipped_total, and the report counts it unshadowed.
    logged = [r.request_id for r in read_log(log)]
    assert sorted(logged) == sorted(answered)
    skipped = int(live.get(("featuredsl_shadow_skipped_total", ()), 0))
    (pair,) = read_pairs(log)
    shadowed = [r.request_id for r in pair.records]
    assert len(shadowed) == len(set(shadowed)) and set(shadowed) <= set(answered)
    assert len(shadowed) + skipped == len(answered) and pair.unshadowed == skipped
    assert skipped < len(answered) // 2 and all(r.candidate is not None for r in pair.records)
    # B was fitted on other data: its age_z differs on every row, and the report says so.
    (report,) = live_shadow(log)
    assert report.rows == len(shadowed) and report.rows_differ == report.rows
    (features,) = report.outputs
    assert dict(features.worst_columns)["age_z"] > 0
    assert live[("featuredsl_shadow_rows_total", ())] <= clients * per_client
    assert live.get(("featuredsl_shadow_disagreement_rate", ())) == 1.0
    # The CLI: `featuredsl shadow --log` reports the same, and gates with --fail-above.
    out = tmp_path / "live.json"
    assert run_cli(["shadow", "--log", str(log), "--json", str(out)]) == 0
    assert json.loads(out.read_text())[0]["rows_differ"] == len(shadowed)
    assert run_cli(["shadow", "--log", str(log), "--fail-above", "0.5"]) == 1


def test_a_refusing_candidate_is_logged_with_its_reason(builds: Path, tmp_path: Path) -> None:
    # The candidate declares age non-nullable: it refuses a row with a null age that A answers.
    source = churn_spec().source.replace("age: float?", "age: float")
    strict = Spec(source, "strict.fdsl")
    rows = read_table(churn_csv(), churn_spec().inputs)
    rows = rows.filter(rows.column("age").is_valid())
    strict.fit(rows).save(tmp_path / "strict")
    log = tmp_path / "serving.db"
    with server(str(builds / "a"), "--shadow", str(tmp_path / "strict"), "--log", str(log)) as (
        url,
        _,
    ):
        assert httpx.post(url + "/predict", json={"rows": [ROW]}).status_code == 200
        null_age = {**ROW, "age": None}
        assert httpx.post(url + "/predict", json={"rows": [null_age]}).status_code == 200
    (report,) = live_shadow(log)
    assert report.rows == 1  # the request B answered
    refused = [n for n in report.notes if n.startswith("B refused")]
    assert len(refused) == 1 and "'age'" in refused[0] and "null" in refused[0]
    (pair,) = read_pairs(log)
    assert [r.candidate is None for r in pair.records] == [False, True]


def test_bundles_in_shadow_report_label_changes(builds: Path, tmp_path: Path) -> None:
    from test_shadow import classifier

    from featuredsl.runtime.bundle import bundle

    width = len(churn_fitted().feature_names)
    for name, seed in (("v1", 1), ("v2", 2)):
        (tmp_path / f"{name}.onnx").write_bytes(classifier(width, seed).SerializeToString())
        bundle(
            builds / "a",
            tmp_path / f"{name}.onnx",
            tmp_path / f"served_{name}.onnx",
            assume_order=True,
        )
    log = tmp_path / "serving.db"
    spec = churn_spec()
    columns = [{"name": c.name, "dtype": str(c.dtype), "nullable": c.nullable} for c in spec.inputs]
    rows = encode_rows(spec.feed(read_table(churn_csv(), spec.inputs).slice(0, 100)), columns)
    a, b = str(tmp_path / "served_v1.onnx"), str(tmp_path / "served_v2.onnx")
    with server(a, "--shadow", b, "--log", str(log)) as (url, _):
        answer = httpx.post(url + "/predict", json={"rows": rows}).json()
        assert answer["outputs"]["label"]["dtype"] == "int64"
        assert answer["outputs"]["probabilities"]["shape"] == [100, 2]
        assert answer["outputs"]["features"]["shape"] == [100, width]
    (report,) = live_shadow(log)
    outputs = {o.name: o for o in report.outputs}
    assert set(outputs) == {"label", "probabilities", "features"}
    assert outputs["features"].differ == 0  # same feature graph
    assert outputs["label"].kind == "label" and outputs["label"].changed == outputs["label"].differ
    assert outputs["probabilities"].differ == 100 and outputs["probabilities"].changed is not None


def test_kill_mid_request_leaves_nothing_half_logged(builds: Path, tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    answered: list[str] = []
    stop = threading.Event()

    with server(str(builds / "a"), "--shadow", str(builds / "b"), "--log", str(log)) as (
        url,
        process,
    ):

        def client(k: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                i = 0
                while not stop.is_set():
                    rows = [{**ROW, "clicks_7d": str(j)} for j in range(1 + i % 40)]
                    try:
                        answer = http.post(
                            "/predict", json={"rows": rows, "request_id": f"k{k}-{i}"}
                        )
                    except httpx.TransportError:
                        return  # the server died under this request
                    if answer.status_code == 200:
                        answered.append(answer.json()["request_id"])
                    i += 1

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(answered) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(answered) >= 200, "the server answered too few requests"
        os.kill(process.pid, signal.SIGKILL)  # in the middle of requests and shadow writes
        process.wait()
        stop.set()
        for t in threads:
            t.join()
    with sqlite3.connect(log) as conn:  # recovers the WAL like any reader would
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    logged = {r.request_id: r for r in read_log(log)}  # every record decodes whole
    # Every answered request was committed before its answer went out.
    assert set(answered) <= set(logged)
    for record in logged.values():
        assert record.outputs["features"].shape == (record.rows, 15)
        assert all(len(v) == record.rows for v in record.inputs.values())
    (pair,) = read_pairs(log)  # every shadow record decodes and belongs to a logged request
    for shadowed in pair.records:
        assert shadowed.request_id in logged
        assert shadowed.candidate is not None
        assert shadowed.candidate["features"].shape[0] == shadowed.rows
    assert len(pair.records) + pair.unshadowed == len(logged)


def test_loopback_by_default_and_the_extra_named_when_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from featuredsl.cli.serve import serve
    from featuredsl.runtime import server

    host = next(p for p in serve.params if p.name == "host")
    assert host.default == "127.0.0.1"
    import builtins

    real_import = builtins.__import__

    def no_uvicorn(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "uvicorn":
            raise ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delitem(sys.modules, "uvicorn", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_uvicorn)
    with pytest.raises(ArtifactError, match=r"needs uvicorn: pip install 'featuredsl\[serve\]'"):
        server.require_extra()


def test_the_serve_benchmark_runs() -> None:
    """bench/bench_serve.py's logic on a few calls: every contender measured, the report rendered."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench import bench_serve

    report = bench_serve.run(rounds=1, calls=3, warmup=1)
    assert set(report["results"]) == set(bench_serve.CONTENDERS)
    text = bench_serve.render(report, "test")
    assert "http + log / session + log" in text


def test_the_http_example_runs(tmp_path: Path) -> None:
    """examples/http/run.py: build, serve with a shadow, predict over HTTP, the live report."""
    example = Path(__file__).resolve().parent.parent / "examples" / "http" / "run.py"
    done = subprocess.run(
        [sys.executable, str(example), "--out", str(tmp_path), "--requests", "10"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "10 requests answered" in done.stdout
    assert "a bad request: 400 request: column 'clicks_7d', row 0" in done.stdout
    assert "rows: 10 from" in done.stdout and "live shadow: 10 request(s)" in done.stdout


def test_serve_announces_the_real_port_and_refuses_a_busy_one(builds: Path) -> None:
    """Port 0 picks a free port and prints it; a port in use is a one-line error, exit 1,
    with no 'serving' line before it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "featuredsl.cli.main", "serve", str(builds / "a"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline().decode()
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        assert port > 0 and httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        argv = [sys.executable, "-m", "featuredsl.cli.main", "serve", str(builds / "a")]
        busy = subprocess.run(
            [*argv, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert busy.returncode == 1 and "serving" not in busy.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr + busy.stdout
        assert "Traceback" not in busy.stderr
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
