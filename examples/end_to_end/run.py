"""From a spec to served predictions and back: the whole loop on the churn example.

    python examples/end_to_end/run.py [--out build/end_to_end]

1. build    fit examples/churn/churn.fdsl on the training data; write the numpy module, the
            ONNX graph and the manifest, and check that the two agree (featuredsl build)
2. train    a scikit-learn Pipeline(FeatureTransformer(float32=True), RandomForestClassifier)
3. bundle   the forest (via skl2onnx) + the build's feature graph -> one served.onnx
4. serve    a few requests through featuredsl.serving.Session with a serving log; one
            malformed request is rejected before onnxruntime sees it
5. replay   the serving log against the training module (featuredsl.monitor.replay)
6. summary  fingerprints, parity of served vs. scikit-learn predictions, replay result

Needs the `sklearn` extra (scikit-learn, skl2onnx) and pandas.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from featuredsl.artifacts import load
from featuredsl.build import build
from featuredsl.bundle import bundle
from featuredsl.data import read_table
from featuredsl.errors import DataError
from featuredsl.monitor.replay import replay
from featuredsl.serving import Session
from featuredsl.sklearn import FeatureTransformer, model_to_onnx

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "churn" / "churn.fdsl"
DATA = ROOT / "examples" / "churn" / "train.csv"
TRAIN_ROWS = 1_500  # the rest are "live traffic"
REQUESTS = 6


def training_data(out: Path) -> Path:
    """examples/churn/train.csv, generated into OUT if it is not there yet."""
    if DATA.exists():
        return DATA
    maker = importlib.util.spec_from_file_location("make_data", DATA.with_name("make_data.py"))
    assert maker is not None and maker.loader is not None
    module = importlib.util.module_from_spec(maker)
    maker.loader.exec_module(module)
    module.OUT = out / "train.csv"
    module.main()
    return Path(module.OUT)


def step(title: str) -> None:
    print(f"\n== {title}")


def train(frame: Any) -> Pipeline:
    pipe = Pipeline(
        [
            ("features", FeatureTransformer(str(SPEC), float32=True)),
            ("model", RandomForestClassifier(n_estimators=50, min_samples_leaf=3, random_state=0)),
        ]
    )
    return pipe.fit(frame, frame["churned"])


def serve(served: Path, build_dir: Path, log: Path, live: Any) -> np.ndarray:
    """Send the live rows as a few requests of row dicts; return the served probabilities."""
    requests = np.array_split(live.drop(columns=["churned"]), REQUESTS)
    probabilities = []
    with Session(served, log=log, build=build_dir) as session:
        for i, chunk in enumerate(requests):
            rows = chunk.to_dict("records")
            out = session.predict(rows, request_id=f"req-{i:03d}")
            probabilities.append(out["probabilities"])
        print(f"served {REQUESTS} requests ({len(live)} rows), logged to {log}")
        bad = dict(requests[0].to_dict("records")[0])
        bad["event_ts"] = dt.datetime(2024, 8, 1, 12, 0)  # a naive timestamp: no time zone
        try:
            session.predict([bad], request_id="bad")
        except DataError as err:
            print(f"rejected before onnxruntime: {err}")
    return np.concatenate(probabilities)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "end_to_end")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    step("1. build")
    data = training_data(out)
    report = build(SPEC, data, out / "build")
    print(
        f"{len(report.fitted.feature_names)} features, fingerprint {report.fitted.fingerprint[:16]}; "
        f"numpy == onnx on {report.rows} rows ({'ok' if report.comparison.ok else 'FAILED'})"
    )

    step("2. train")
    frame = read_table(data, report.fitted.program.inputs).to_pandas()
    training, live = frame.iloc[:TRAIN_ROWS], frame.iloc[TRAIN_ROWS:]
    pipe = train(training)
    transformer = pipe.named_steps["features"]
    same = transformer.fingerprint_ == report.fitted.fingerprint
    print(f"RandomForest on {len(training)} rows of float32 features; same fingerprint as the build: {same}")

    step("3. bundle")
    model_path = out / "model.onnx"
    model_path.write_bytes(model_to_onnx(pipe).SerializeToString())
    bundled = bundle(out / "build", model_path, out / "served.onnx", by_order=True)
    print(f"{bundled.path} ({bundled.size:,} bytes): raw inputs -> {', '.join(bundled.outputs)}")

    step("4. serve")
    log = out / "serving.db"
    log.unlink(missing_ok=True)
    served = serve(bundled.path, out / "build", log, live)
    expected = pipe.predict_proba(live)
    worst = float(np.abs(served - expected).max())
    flips = int(np.sum(np.argmax(served, axis=1) != np.argmax(expected, axis=1)))

    step("5. replay")
    artifacts = load(out / "build")
    replayed = replay(artifacts.transform_feed, artifacts.fingerprint, artifacts.feature_names, log)
    print(replayed.render_text(examples=False))

    step("6. summary")
    print(f"served vs. scikit-learn predict_proba on {len(live)} live rows: max |diff| {worst:.2g}, {flips} label(s) differ")
    print(f"replay: {replayed.requests} requests, {replayed.rows} rows, {'FAILED' if replayed.failed else 'clean'}")
    print(f"done in {time.perf_counter() - started:.1f}s; artifacts in {out}")


if __name__ == "__main__":
    main()
