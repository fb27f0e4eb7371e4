"""`featuredsl shadow A B`: two builds or bundles on the same rows (a data file or a serving
log), their differences per output, and the exit status a rollout gate needs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_bundle import churn_csv, churn_fitted, churn_spec, run_cli

from featuredsl.errors import DataError
from featuredsl.ingest import read_table
from featuredsl.runtime.bundle import bundle
from featuredsl.runtime.serving import Session
from featuredsl.runtime.shadow import shadow


def classifier(width: int, seed: int) -> onnx.ModelProto:
    """probabilities = softmax(X @ W), label = argmax: a stand-in classifier with weights W(seed)."""
    w = np.random.default_rng(seed).normal(0, 0.3, (width, 2))
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
            helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
        ],
        "classifier",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, width])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, 2]),
        ],
        [numpy_helper.from_array(w, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shadow")
    churn_fitted().save(root / "build")
    width = len(churn_fitted().feature_names)
    for name, seed in (("v1", 1), ("v2", 2)):
        (root / f"{name}.onnx").write_bytes(classifier(width, seed).SerializeToString())
        bundle(
            root / "build", root / f"{name}.onnx", root / f"served_{name}.onnx", assume_order=True
        )
    # The same spec fitted on other data: other constants, another fingerprint.
    churn_spec().fit(read_table(churn_csv(), churn_spec().inputs).slice(0, 400)).save(
        root / "build_v2"
    )
    return root


def test_identical_features_do_not_differ(project: Path) -> None:
    report = shadow(project / "build", project / "served_v1.onnx", data=churn_csv())
    assert report.rows == 2000 and report.rows_differ == 0
    assert [o.name for o in report.outputs] == ["features"]
    assert report.only_in_b == ("label", "probabilities")
    assert "same fingerprint" in report.notes[0]


def test_two_models_report_the_distribution_and_label_changes(project: Path) -> None:
    a, b = project / "served_v1.onnx", project / "served_v2.onnx"
    report = shadow(a, b, data=churn_csv(), top=3)
    outputs = {o.name: o for o in report.outputs}
    raw = read_table(churn_csv(), churn_spec().inputs).to_pandas().drop(columns=["churned"])
    pa_, pb = Session(a).run(raw), Session(b).run(raw)
    diff = np.abs(pa_["probabilities"] - pb["probabilities"]).max(axis=1)
    probs = outputs["probabilities"]
    assert probs.max_abs_diff == pytest.approx(diff.max())
    assert probs.p50_abs_diff == pytest.approx(np.quantile(diff, 0.5))
    assert probs.p99_abs_diff == pytest.approx(np.quantile(diff, 0.99))
    assert probs.differ == int(np.sum(diff > 0))
    flips = int(np.sum(pa_["label"] != pb["label"]))
    assert probs.changed == flips == outputs["label"].changed and flips > 0
    assert outputs["features"].differ == 0
    # The rows that differ most, largest first, with their raw inputs (null as None).
    worst = int(np.argmax(diff))
    assert probs.top[0].row == f"row {worst}" and probs.top[0].diff == pytest.approx(diff[worst])
    assert [r.diff for r in probs.top] == sorted((r.diff for r in probs.top), reverse=True)
    assert set(probs.top[0].inputs) == {c.name for c in churn_spec().inputs}
    text = report.render_text()
    assert "probabilities" in text and "argmax" in text and "rows that differ most" in text


def test_feature_versions_are_compared_by_name(project: Path) -> None:
    report = shadow(project / "build", project / "build_v2", data=churn_csv())
    features = report.outputs[0]
    assert "different fingerprints" in report.notes[0]
    assert features.differ > 0 and features.worst_columns
    assert features.worst_columns[0][0] in churn_fitted().feature_names


def test_rows_from_a_serving_log(project: Path, tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    raw = read_table(churn_csv(), churn_spec().inputs).to_pandas().drop(columns=["churned"])
    with Session(project / "served_v1.onnx", log=log) as session:
        for i in range(4):
            session.predict(raw.iloc[i * 25 : (i + 1) * 25], request_id=f"req-{i}")
    from_log = shadow(project / "served_v1.onnx", project / "served_v2.onnx", log=log)
    from_data = shadow(
        project / "served_v1.onnx", project / "served_v2.onnx", data=churn_csv(), limit=100
    )
    assert from_log.rows == from_data.rows == 100
    for a, b in zip(from_log.outputs, from_data.outputs, strict=True):
        assert (a.name, a.differ, a.changed, a.max_abs_diff) == (
            b.name,
            b.differ,
            b.changed,
            b.max_abs_diff,
        )
    assert from_log.outputs[1].top[0].row.startswith("request req-")


def test_outputs_of_other_shapes_are_incomparable(project: Path, tmp_path: Path) -> None:
    width = len(churn_fitted().feature_names)
    wide = classifier(width, 3)
    wide.graph.node[0].input[1] = "W3"
    wide.graph.initializer.append(numpy_helper.from_array(np.ones((width, 3)), "W3"))
    wide.graph.output[1].CopyFrom(
        helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, 3])
    )
    (tmp_path / "wide.onnx").write_bytes(wide.SerializeToString())
    bundle(project / "build", tmp_path / "wide.onnx", tmp_path / "b.onnx", assume_order=True)
    report = shadow(project / "served_v1.onnx", tmp_path / "b.onnx", data=churn_csv(), limit=50)
    probs = next(o for o in report.outputs if o.name == "probabilities")
    assert probs.kind == "incomparable" and "A [50, 2], B [50, 3]" in probs.note


def test_exactly_one_source_of_rows(project: Path) -> None:
    with pytest.raises(DataError, match="exactly one source"):
        shadow(project / "build", project / "build")


def test_cli_exit_status_and_json(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, data = str(project / "served_v1.onnx"), str(project / "served_v2.onnx"), str(churn_csv())
    out_json = tmp_path / "shadow.json"
    assert run_cli(["shadow", a, b, "--data", data, "--json", str(out_json)]) == 0
    report = json.loads(out_json.read_text("utf-8"))
    assert report["rows"] == 2000 and report["failed"] is False
    probs = next(o for o in report["outputs"] if o["name"] == "probabilities")
    assert 0 < probs["changed_share"] < 1 and probs["top"][0]["inputs"]
    capsys.readouterr()
    assert run_cli(["shadow", a, b, "--data", data, "--fail-above", "0.05"]) == 1
    assert "FAIL" in capsys.readouterr().out
    # Only the labels gate the rollout; a loose tolerance passes the same pair.
    assert (
        run_cli(["shadow", a, b, "--data", data, "--output", "label", "--fail-above", "0.5"]) == 0
    )
    assert run_cli(["shadow", a, a, "--data", data, "--fail-above", "0"]) == 0
    assert run_cli(["shadow", a, b]) == 2  # neither --data nor --log: a usage error


def test_epoch_integer_data_needs_the_timestamp_unit(project: Path, tmp_path: Path) -> None:
    """shadow --data follows the rule of every reader: plain integer times need their unit."""
    import pandas as pd

    from featuredsl.errors import DataError

    frame = pd.read_csv(churn_csv())
    for name in ("event_ts", "signup_ts"):
        micros = pd.to_datetime(frame[name], utc=True, format="ISO8601").astype("int64") // 1000
        frame[name] = micros // 1_000_000  # epoch seconds
    seconds = tmp_path / "seconds.csv"
    frame.to_csv(seconds, index=False)
    with pytest.raises(DataError, match="bare integers"):
        shadow(project / "build", project / "served_v1.onnx", data=seconds)
    report = shadow(project / "build", project / "served_v1.onnx", data=seconds, timestamp_unit="s")
    assert report.rows == len(frame)
