"""From a spec to served predictions and back: the whole loop on the churn example.

    python examples/end_to_end/run.py [--out build/end_to_end]

1. build    fit examples/churn/churn.fdsl on the training data; write the numpy module, the
            ONNX graph and the manifest, and check that the two agree (featuredsl build)
2. train    a scikit-learn Pipeline(FeatureTransformer(float32=True), RandomForestClassifier)
3. bundle   the forest (via skl2onnx) + the build's feature graph -> one served.onnx
4. serve    a few requests through featuredsl.runtime.serving.Session with a serving log; one
            malformed request is rejected before onnxruntime sees it
5. replay   the serving log against the training module (featuredsl.monitor.replay)
6. summary  fingerprints, parity of served vs. scikit-learn predictions, replay result

Needs the `sklearn` extra (scikit-learn, skl2onnx) and pandas.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from featuredsl.artifact.load import load
from featuredsl.artifact.spec import load_spec
from featuredsl.errors import DataError, FeatureDSLError
from featuredsl.ingest import read_table
from featuredsl.monitor.replay import replay
from featuredsl.parity.build import build
from featuredsl.runtime.bundle import bundle
from featuredsl.runtime.serving import Session
from featuredsl.runtime.sklearn import FeatureTransformer, model_to_onnx

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
    vars(module)["OUT"] = out / "train.csv"
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


def serve(served: Path, build_dir: Path, log: Path, live: Any) -> tuple[np.ndarray, np.ndarray]:
    """Send the live rows as a few requests of row dicts; return the served probabilities and
    the features the model was given."""
    inputs = live.drop(columns=["churned"])
    edges = np.linspace(0, len(inputs), REQUESTS + 1).astype(int)
    requests = [inputs.iloc[a:b] for a, b in itertools.pairwise(edges)]
    probabilities, features = [], []
    with Session(served, log=log, build=build_dir) as session:
        for i, chunk in enumerate(requests):
            rows = chunk.to_dict("records")
            out = session.run(rows, request_id=f"req-{i:03d}")
            probabilities.append(out["probabilities"])
            features.append(out["features"])
        print(f"served {REQUESTS} requests ({len(live)} rows), logged to {log}")
        bad = dict(requests[0].to_dict("records")[0])
        bad["event_ts"] = dt.datetime(2024, 8, 1, 12, 0)  # a naive timestamp: no time zone
        try:
            session.predict([bad], request_id="bad")
        except DataError as err:
            print(f"rejected before onnxruntime: {err}")
    return np.concatenate(probabilities), np.concatenate(features)


def run(out: Path) -> None:
    started = time.perf_counter()
    data = training_data(out)
    spec = load_spec(SPEC)
    table = read_table(data, spec.inputs)
    training, live = table.slice(0, TRAIN_ROWS), table.slice(TRAIN_ROWS)

    step("1. build")
    # build() raises if the numpy module and the ONNX graph disagree on a sample of the data.
    report = build(SPEC, training, out / "build")
    fingerprint = report.fitted.fingerprint
    print(
        f"fitted on {training.num_rows} rows: {len(report.fitted.feature_names)} features, "
        f"fingerprint {fingerprint[:16]}; numpy module and ONNX graph agree"
    )

    step("2. train")
    pipe = train(training.to_pandas())
    same = pipe.named_steps["features"].fingerprint_ == fingerprint
    print(
        f"RandomForest on float32 features; the transformer's fingerprint equals the build's: {same}"
    )

    step("3. bundle")
    model_path = out / "model.onnx"
    model_path.write_bytes(model_to_onnx(pipe).SerializeToString())
    bundled = bundle(out / "build", model_path, out / "served.onnx", by_order=True)
    print(f"{bundled.path} ({bundled.size:,} bytes): raw inputs -> {', '.join(bundled.outputs)}")

    step("4. serve")
    log = out / "serving.db"
    log.unlink(missing_ok=True)
    live_frame = live.to_pandas()
    served, features = serve(bundled.path, out / "build", log, live_frame)
    diff = np.abs(served - pipe.predict_proba(live_frame)).max(axis=1)
    # Rows whose served float32 features are the training module's, bit for bit.
    unequal = features.astype(np.float32) != pipe[0].transform(live_frame)
    same = ~unequal.any(axis=1)
    columns = [pipe[0].feature_names_out_[j] for j in np.flatnonzero(unequal.any(axis=0))]

    step("5. replay")
    artifacts = load(out / "build")
    replayed = replay(artifacts.transform_feed, artifacts.fingerprint, artifacts.feature_names, log)
    print(replayed.render_text(examples=False))

    step("6. summary")
    print(
        f"served vs. scikit-learn predict_proba on {live.num_rows} live rows:\n"
        f"  {same.sum()} rows with identical float32 features: max |diff| {diff[same].max():.2g} "
        "(float32 sum of leaf values)"
    )
    if not same.all():
        print(
            f"  {(~same).sum()} rows where {', '.join(columns)} differ within their ULP bound "
            f"(e.g. sin(pi): numpy 1.2e-16, onnxruntime -0.0) and a tree may branch the other "
            f"way: max |diff| {diff[~same].max():.2g}; see docs/serving.md"
        )
    verdict = "FAILED" if replayed.failed else "clean"
    print(f"replay: {replayed.requests} requests, {replayed.rows} rows, {verdict}")
    print(f"done in {time.perf_counter() - started:.1f}s; artifacts in {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "end_to_end")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    try:
        run(out)
    except FeatureDSLError as err:  # errors for people: the message, never a traceback
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
