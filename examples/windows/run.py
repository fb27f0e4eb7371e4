"""The 30-day-smoothing skew of docs/windows.md, and what featuredsl does instead, end to end.

    python examples/windows/run.py [--out build/windows-run]

1. data       examples/windows/make_data.py: purchases of 40 cards, 2,000 training
              authorisations, and 200 later requests each carrying its card's recent purchases
2. checker    a window that is not bounded in time is a compile error, with the fix
3. build      `featuredsl build windows.fdsl --data train.csv --events purchases=purchases.csv`:
              every window backfilled point-in-time correct, then parity proven on rows that
              carry their events
4. serve      each request through the Session, its purchases in the request: the features
              equal the backfill's for the same rows, bit for bit
5. the skew   a hand-ported serving path that sends the last purchase's amount where the model
              was trained on the 30-day mean: the population stability index (PSI) of
              mean_amount_30d, training vs served, for the hand port and for featuredsl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from featuredsl.artifact.load import load
from featuredsl.artifact.windows import Backfilled
from featuredsl.compiler.frontend import check_source
from featuredsl.ingest import to_feed
from featuredsl.language.diagnostics import DiagnosticError
from featuredsl.monitor.stats import bin_counts, psi, quantile_edges
from featuredsl.parity.build import build
from featuredsl.runtime.serving import Session

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import make_data  # noqa: E402

UNBOUNDED = "feature mean_all = fill_null(window_mean(purchases.amount), 0.0)\n"


def stability(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of `current` against `reference` over the reference's deciles."""
    edges = quantile_edges(reference, np.ones(len(reference)))
    ones = np.ones
    return psi(
        bin_counts(reference, ones(len(reference)), edges),
        bin_counts(current, ones(len(current)), edges),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/windows-run"))
    out = parser.parse_args().out
    make_data.generate(out)  # out/requests.json (the CSVs are committed)

    spec_text = (HERE / "windows.fdsl").read_text(encoding="utf-8")
    try:
        check_source(spec_text + UNBOUNDED, "unbounded.fdsl")
    except DiagnosticError as error:
        print(
            "windows.fdsl plus a window without a time bound (unbounded.fdsl) does not compile:\n"
            + error.render()
        )

    report = build(
        HERE / "windows.fdsl",
        HERE / "train.csv",
        out / "build",
        events={"purchases": HERE / "purchases.csv"},
    )
    print(
        "built; parity: numpy == onnx on "
        + ", ".join(f"{n} {kind} rows" for kind, n in report.parity.rows.items())
        + f" -> {'ok' if report.parity.ok else 'FAILED'}"
    )

    requests = json.loads((out / "requests.json").read_text(encoding="utf-8"))
    with Session(out / "build", timestamp_unit="us") as session:  # times: int64 epoch micros
        served = np.vstack([session.transform([row]) for row in requests])
    artifacts = load(out / "build")
    backfilled = Backfilled(artifacts, {"purchases": HERE / "purchases.csv"}, "us")
    rows = [{k: v for k, v in row.items() if k != "purchases"} for row in requests]
    expected = backfilled.transform_feed(
        to_feed(rows, artifacts.program_inputs, timestamp_unit="us")
    )
    differing = int(np.sum(served.view(np.int64) != expected.view(np.int64)))
    print(
        f"served from the requests' events vs backfilled: {differing} differing cells of {served.size}"
    )

    column = artifacts.feature_names.index("mean_amount_30d")
    training = load_training(artifacts)[:, column]
    last_amount = np.array(
        [r["purchases"][-1]["amount"] if r["purchases"] else 0.0 for r in requests]
    )
    trained = served[:, column]  # what the model was trained to read: the 30-day mean
    changed = last_amount != trained
    relative = np.abs(last_amount - trained)[changed] / np.maximum(np.abs(trained[changed]), 1.0)
    print(
        f"hand port (last purchase for mean_amount_30d): differs from the trained definition "
        f"in {int(changed.sum())} of {len(trained)} requests, median relative difference "
        f"{np.median(relative):.0%}; PSI against training {stability(training, last_amount):.3f}"
        f" (featuredsl's served values: {stability(training, trained):.3f}; above 0.25 is a "
        "major shift)"
    )
    return 0 if differing == 0 and report.parity.ok else 1


def load_training(artifacts) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The training rows' features, as the build computed them (the backfill)."""
    backfilled = Backfilled(artifacts, {"purchases": HERE / "purchases.csv"}, None)
    return backfilled.transform_feed(to_feed(HERE / "train.csv", artifacts.program_inputs))


if __name__ == "__main__":
    raise SystemExit(main())
