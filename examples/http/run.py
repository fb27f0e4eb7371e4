"""A build behind HTTP with a candidate in shadow, then the live shadow report.

    python examples/http/run.py [--out build/http] [--requests 50]

1. build    the churn spec twice: the current version on all training rows, a candidate on the
            first 400 (other fitted constants: a candidate that disagrees a little)
2. serve    `featuredsl serve build/http/current --shadow build/http/candidate --log ...` on a
            free loopback port (needs the `serve` extra: pip install 'featuredsl[serve]')
3. predict  training rows posted to POST /predict, one per request, in the lossless encoding
            (Python's standard library only: any HTTP client in any language does the same);
            one bad request gets its 400
4. metrics  a few lines of GET /metrics
5. report   `featuredsl shadow --log` on what the server logged
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from featuredsl.artifact.conformance.encoding import encode_rows
from featuredsl.artifact.spec import load_spec
from featuredsl.ingest import read_table
from featuredsl.runtime.live_shadow import live_shadow

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "churn" / "churn.fdsl"
DATA = ROOT / "examples" / "churn" / "train.csv"


def post(url: str, document: object) -> tuple[int, dict[str, object]]:
    """POST a JSON document; (status, JSON answer), for errors too."""
    request = urllib.request.Request(
        url, json.dumps(document).encode(), {"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "http")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    spec = load_spec(SPEC)
    table = read_table(DATA, spec.inputs)
    spec.fit(table).save(out / "current")
    spec.fit(table.slice(0, 400)).save(out / "candidate")
    print(f"1. built {out / 'current'} and {out / 'candidate'}")

    log = out / "serving.db"
    for stale in out.glob("serving.db*"):
        stale.unlink()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["serve", str(out / "current"), "--shadow", str(out / "candidate")]
    command += ["--log", str(log), "--port", str(port)]
    server = subprocess.Popen([sys.executable, "-m", "featuredsl.cli.main", *command])
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                    health = json.loads(answer.read())
                    break
            except OSError:
                if server.poll() is not None:
                    return 1
                time.sleep(0.1)
        print(f"2. serving {health['served']} ({health['fingerprint'][:12]}) on {url}")

        # Request rows in the lossless encoding (as a client in any language writes them).
        columns = [
            {"name": c.name, "dtype": str(c.dtype), "nullable": c.nullable} for c in spec.inputs
        ]
        rows = encode_rows(spec.feed(table.slice(0, args.requests)), columns)
        for row in rows:
            status, answer = post(url + "/predict", {"rows": [row]})
            assert status == 200, answer
        print(f"3. {len(rows)} requests answered; the last one's features:")
        features = answer["outputs"]["features"]  # type: ignore[index]
        for name, value in zip(answer["feature_names"], features["data"], strict=True):  # type: ignore[arg-type]
            print(f"     {name:<18} {value}")
        status, error = post(url + "/predict", {"rows": [{**rows[0], "clicks_7d": 3}]})
        print(f"   a bad request: {status} {error['message']}")

        with urllib.request.urlopen(url + "/metrics", timeout=5) as answer:
            metrics = answer.read().decode()
        print("4. metrics:")
        for line in metrics.splitlines():
            if line.startswith(("featuredsl_requests_total", "featuredsl_request_errors_total")):
                print(f"     {line}")
    finally:
        server.send_signal(signal.SIGINT)  # drains the shadow worker, flushes the log
        assert server.wait(60) == 0
    (report,) = live_shadow(log, top=2)
    print("5. featuredsl shadow --log " + str(log))
    print(report.render_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
