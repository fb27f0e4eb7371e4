"""Shared helpers for the monitor tests (no tests here): a tiny hand-written ONNX feature graph
standing in for a compiled artifact, and its numpy twin standing in for features_train.py."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np


def make_model(
    fingerprint: str = "fp-test-0001",
    inputs: Sequence[str] = ("x", "y"),
    feature_names: Sequence[str] = ("x2", "y1"),
    *,
    with_metadata: bool = True,
) -> bytes:
    """features = [inputs[0] * 2, inputs[1] + 1] as float64 [N, 2], named "features"."""
    import onnx
    from onnx import TensorProto, helper

    a, b = inputs
    graph = helper.make_graph(
        [
            helper.make_node("Mul", [a, "two"], ["m"]),
            helper.make_node("Add", [b, "one"], ["p"]),
            helper.make_node("Unsqueeze", ["m", "axis"], ["m2"]),
            helper.make_node("Unsqueeze", ["p", "axis"], ["p2"]),
            helper.make_node("Concat", ["m2", "p2"], ["features"], axis=1),
        ],
        "toy_features",
        [helper.make_tensor_value_info(n, TensorProto.DOUBLE, ["N"]) for n in inputs],
        [helper.make_tensor_value_info("features", TensorProto.DOUBLE, ["N", 2])],
        initializer=[
            helper.make_tensor("two", TensorProto.DOUBLE, [], [2.0]),
            helper.make_tensor("one", TensorProto.DOUBLE, [], [1.0]),
            helper.make_tensor("axis", TensorProto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if with_metadata:
        helper.set_model_props(
            model,
            {
                "featuredsl.fingerprint": fingerprint,
                "featuredsl.feature_names": json.dumps(list(feature_names)),
            },
        )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def make_session(**kwargs):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(make_model(**kwargs), options, providers=["CPUExecutionProvider"])


def make_transform(inputs: Sequence[str] = ("x", "y")):
    """The numpy twin of make_model: what the training module computes."""
    a, b = inputs

    def transform_feed(feed: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.column_stack([np.asarray(feed[a]) * 2.0, np.asarray(feed[b]) + 1.0])

    return transform_feed


class EchoSession:
    """A session-like object accepting any feed; returns one float output per row."""

    def run(self, output_names, feed, run_options=None):
        rows = len(next(iter(feed.values())))
        return [np.arange(rows, dtype=np.float64).reshape(rows, 1)]

    def get_outputs(self):
        class _Out:
            name = "features"

        return [_Out()]


# Process targets for the serving-log tests: here, so a spawned child imports little.
def logging_worker(log: str, worker: int, calls: int, queue) -> None:
    from featuredsl.monitor.serving_log import LoggedSession

    session = LoggedSession(make_session(), log, "fp-test-0001")
    returned = []
    for i in range(calls):
        feed = {"x": np.array([float(worker), float(i)]), "y": np.array([0.5, -1.0])}
        session.run(None, feed, request_id=f"w{worker}-{i}")
        returned.append(f"w{worker}-{i}")
    queue.put(returned)


def crashing_worker(log: str, calls: int) -> None:
    from featuredsl.monitor.serving_log import LoggedSession

    session = LoggedSession(make_session(), log, "fp-test-0001")
    for i in range(calls):
        session.run(None, {"x": np.array([1.0]), "y": np.array([2.0])}, request_id=f"crash-{i}")
    os._exit(17)  # no close(), no flush, no atexit: a crash right after the last call returned


class FakeArtifact:
    """Stands in for featuredsl.artifact.load.load(DIR) until the compiler lands: same attributes."""

    def __init__(self, fingerprint: str = "fp-test-0001") -> None:
        self.fingerprint = fingerprint
        self.feature_names = ("x2", "y1")
        self.session = make_session(fingerprint=fingerprint)
        self._transform = make_transform()

    def feed(self, data, timestamp_unit=None) -> dict[str, np.ndarray]:
        import pyarrow as pa

        table = data if isinstance(data, pa.Table) else pa.table(data)
        return {
            name: np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
            for name in ("x", "y")
        }

    def transform_feed(self, feed) -> np.ndarray:
        return self._transform(feed)


def fake_artifacts_module(fingerprint: str = "fp-test-0001"):
    import types

    module = types.ModuleType("featuredsl.artifact.load")
    loaded: list[str] = []

    def load(build_dir):
        loaded.append(str(build_dir))
        return FakeArtifact(fingerprint)

    module.load = load  # type: ignore[attr-defined]
    module.loaded = loaded  # type: ignore[attr-defined]
    return module
