"""The runtime matrix: each example's conformance kit on every runtime and optimization level.

`make test` runs a bounded slice (the declared minimum and the newest Python onnxruntime, and
onnxruntime-node, on the ads example); `make conformance` runs everything: every runtime of
featuredsl.parity.matrix.MATRIX x every optimization level x every example. Runtimes are
installed on first use into the runtime cache (~/.cache/featuredsl/runtimes or
$FEATUREDSL_RUNTIME_CACHE) and reused, so a cached run takes seconds.

Every cell must agree, bit for bit, on every runtime: the ONNX backend avoids the op/dtype
combinations some releases get wrong (docs/parity.md, "Avoided op/dtype combinations").
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from conftest import random_feed

from featuredsl.artifact.conformance import kit
from featuredsl.artifact.contract import ONNX_FILE
from featuredsl.artifact.spec import Spec, load_spec
from featuredsl.backends.numpy import codegen as numpy_backend
from featuredsl.errors import ArtifactError
from featuredsl.parity import matrix
from featuredsl.parity.build import build
from featuredsl.parity.matrix import (
    MATRIX,
    OPTIMIZATIONS,
    RuntimeUnavailable,
    Verdict,
    ensure_runtime,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("churn", "ads", "fraud", "freshness", "windows")
MIN, MIDDLE, NEWEST, NODE, WEB = MATRIX

SLICE = [(rid, "ads", level) for rid in (MIN, NEWEST, NODE) for level in ("disabled", "all")]
FULL = [
    pytest.param(rid, example, level, marks=[pytest.mark.slow, pytest.mark.conformance])
    for rid in MATRIX
    for example in EXAMPLES
    for level in OPTIMIZATIONS
    if (rid, example, level) not in SLICE
]


@pytest.fixture(scope="session")
def example_build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    root = tmp_path_factory.mktemp("examples")

    @cache
    def built(example: str) -> Path:
        source = ROOT / "examples" / example
        spec = load_spec(source / f"{example}.fdsl")
        # An example with windows keeps each event table beside train.csv, named after its source.
        events = {s.name: source / f"{s.name}.csv" for s in spec.program.sources}
        build(spec, source / "train.csv", root / example, events=events)
        return root / example

    return built


def check(verdict: Verdict) -> None:
    """Every cell agrees."""
    assert verdict.error is None, verdict.format()
    assert verdict.cells == verdict.rows * verdict.features > 0
    assert verdict.ok, verdict.format()


@pytest.mark.parametrize(("rid", "example", "level"), [*SLICE, *FULL])
def test_matrix(rid: str, example: str, level: str, example_build: Callable[[str], Path]) -> None:
    verdict = ensure_runtime(rid).verify(example_build(example), optimization=level)
    assert verdict.runtime == rid and verdict.optimization == level
    assert verdict.version == rid.split("==")[1]
    check(verdict)


def test_verdicts_are_recorded_next_to_the_manifest(example_build: Callable[[str], Path]) -> None:
    directory = example_build("ads")
    verdict = ensure_runtime(NEWEST).verify(directory, optimization="basic", threads=2)
    runs = json.loads((directory / matrix.VERIFICATION_FILE).read_text())["runs"]
    (entry,) = [
        r for r in runs if (r["runtime"], r["optimization"], r["threads"]) == (NEWEST, "basic", 2)
    ]
    assert entry["ok"] == verdict.ok and entry["cells"] == verdict.cells
    assert entry["version"] == "1.32.0" and entry["verified_at"].endswith("Z")


# ----------------------------------------------------------------------------- Runtime.run

FEEDS = {
    "x": np.array([1.5, -0.0, np.nan, np.inf, 5e-324, 0.1]),
    "n": np.array([2**62 + 1, -(2**63), 2**53 + 1, 0, 1, -1]),
    "b": np.array([True, False, True, False, True, False]),
    "s": np.array(["a", "", "日本", "x" * 300, " ", "é"], dtype=object),
}


def identity_model(path: Path) -> Path:
    """A graph that returns its four inputs and x * 1.0 (which keeps -0.0 and NaN)."""
    import onnx
    from onnx import TensorProto, helper

    types = {
        "x": TensorProto.DOUBLE,
        "n": TensorProto.INT64,
        "b": TensorProto.BOOL,
        "s": TensorProto.STRING,
    }
    nodes = [helper.make_node("Identity", [name], [f"{name}_out"]) for name in types]
    nodes.append(helper.make_node("Mul", ["x", "one"], ["x_times_one"]))
    graph = helper.make_graph(
        nodes,
        "identity",
        [helper.make_tensor_value_info(name, t, ["N"]) for name, t in types.items()],
        [helper.make_tensor_value_info(f"{name}_out", t, ["N"]) for name, t in types.items()]
        + [helper.make_tensor_value_info("x_times_one", TensorProto.DOUBLE, ["N"])],
        [helper.make_tensor("one", TensorProto.DOUBLE, [], [1.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("rid", ["python", NEWEST, NODE])
def test_run_returns_every_output_bit_for_bit(rid: str, tmp_path: Path) -> None:
    outputs = ensure_runtime(rid).run(
        identity_model(tmp_path / "m.onnx"), FEEDS, optimization="disabled"
    )
    assert set(outputs) == {"x_out", "n_out", "b_out", "s_out", "x_times_one"}
    nan = np.isnan(FEEDS["x"])
    for name in ("x_out", "x_times_one"):
        assert outputs[name].dtype == np.float64
        assert np.array_equal(np.isnan(outputs[name]), nan)
        assert outputs[name][~nan].tobytes() == FEEDS["x"][~nan].tobytes()  # -0.0 kept
    assert outputs["n_out"].dtype == np.int64 and outputs["n_out"].tolist() == FEEDS["n"].tolist()
    assert outputs["b_out"].dtype == np.bool_ and outputs["b_out"].tolist() == FEEDS["b"].tolist()
    assert outputs["s_out"].tolist() == FEEDS["s"].tolist()


def test_run_says_why_a_graph_cannot_load(tmp_path: Path) -> None:
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(matrix.RuntimeFailure, match=r"node-ort==1\.30\.0: onnxruntime"):
        ensure_runtime(NODE).run(tmp_path / "broken.onnx", {"x": np.zeros(2)})


def test_run_refuses_feeds_the_clients_cannot_carry(tmp_path: Path) -> None:
    with pytest.raises(matrix.FeatureDSLError, match="feed 'x': dtype float16"):
        ensure_runtime("python").run(tmp_path / "m.onnx", {"x": np.zeros(2, dtype=np.float16)})


# ----------------------------------------------------------------------------- the Node client

KIT_SPEC = """spec kit
input { x: float?, n: int, s: string?, t: timestamp, b: bool? }
let x_f = fill_null(x, median(x))
feature x_z = zscore(x_f)
feature s_idx = lookup(fill_null(s, "none"), vocab(s, top=5), oov_buckets=1)
feature hour = hour(t)
feature flag = fill_null(b, false)
feature big = n > 3
"""


def test_node_client_verifies_green_from_a_clean_directory(tmp_path: Path) -> None:
    spec = Spec(KIT_SPEC)
    spec.fit_feed(random_feed(spec.inputs, 300, seed=5)).save(tmp_path / "build")
    clean = tmp_path / "clean"
    clean.mkdir()
    for name in kit.KIT_FILES:
        shutil.copy(tmp_path / "build" / name, clean)
    shutil.copy(tmp_path / "build" / ONNX_FILE, clean)
    node = ensure_runtime(NODE)
    assert node.home is not None
    (clean / "node_modules").symlink_to(node.home / "node_modules")
    for backend in ("node", "web"):
        if backend == "web":
            (clean / "node_modules").unlink()
            web = ensure_runtime(WEB)
            assert web.home is not None
            (clean / "node_modules").symlink_to(web.home / "node_modules")
        done = subprocess.run(
            ["node", "client.mjs", "--backend", backend, "--optimization", "all"],
            cwd=clean,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("OK: ") and "bit-identical" in done.stdout
    expected = json.loads((clean / "expected.json").read_text())
    expected["rows"][3][0] = "-0.0" if expected["rows"][3][0] != "-0.0" else 0.0
    (clean / "expected.json").write_text(json.dumps(expected))
    done = subprocess.run(
        ["node", "client.mjs", "--backend", "web"],
        cwd=clean,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "DIFFERENT: 1 of" in done.stdout
    assert "row 3, x_z: expected" in done.stdout and "(0x" in done.stdout


def test_node_client_says_to_install_its_dependencies(tmp_path: Path) -> None:
    shutil.copy(
        ROOT / "featuredsl" / "artifact" / "conformance" / "clients" / "client.mjs", tmp_path
    )
    (tmp_path / "rows.json").write_text('{"inputs": [], "rows": []}')
    (tmp_path / "features.onnx").write_bytes(b"")
    done = subprocess.run(
        ["node", "client.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "npm install --ignore-scripts" in done.stderr


# ----------------------------------------------------------------------------- setup errors


def test_missing_node_is_a_message_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(matrix.shutil, "which", lambda program: None)
    with pytest.raises(
        RuntimeUnavailable, match=r"Node\.js not found: install nodejs \(apt-get install nodejs\)"
    ):
        ensure_runtime("node-ort==1.30.0", cache=tmp_path)


@pytest.mark.parametrize("rid", ["ort==1.2", "python-ort==latest", "java"])
def test_unknown_runtime_ids_list_the_known_forms(rid: str) -> None:
    with pytest.raises(matrix.FeatureDSLError, match="use python, node, web, or an id such as"):
        ensure_runtime(rid)


@pytest.mark.slow  # creates a venv before pip says no: ~10 s
def test_a_release_that_does_not_exist_is_a_message(tmp_path: Path) -> None:
    with pytest.raises(RuntimeUnavailable, match=r"cannot install onnxruntime==0\.0\.1 from PyPI"):
        ensure_runtime("python-ort==0.0.1", cache=tmp_path)
    assert not (tmp_path / "python-ort-0.0.1" / ".ready").exists()


@pytest.mark.slow  # a fresh npm install (from npm's cache): ~8 s and 300 MB
def test_a_damaged_environment_is_installed_again(tmp_path: Path) -> None:
    home = tmp_path / "node-ort-1.30.0"
    (home / "node_modules").mkdir(parents=True)
    (home / ".ready").write_text("{}")  # as if someone emptied node_modules
    steps: list[str] = []
    runtime = ensure_runtime(NODE, cache=tmp_path, progress=steps.append)
    assert steps == [f"installing {NODE} into {home}"]
    assert (home / "node_modules" / "onnxruntime-node" / "package.json").exists()
    assert ensure_runtime(NODE, cache=tmp_path, progress=steps.append) == runtime
    assert len(steps) == 1  # reused


def test_cache_directory_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(matrix.CACHE_ENV, str(tmp_path))
    assert matrix.cache_dir() == tmp_path
    monkeypatch.delenv(matrix.CACHE_ENV)
    assert matrix.cache_dir() == Path.home() / ".cache" / "featuredsl" / "runtimes"


# ----------------------------------------------------------------------------- the command


def test_verify_command_exit_codes_and_json(
    example_build: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = [sys.executable, "-m", "featuredsl.cli.main", "verify"]
    ok = subprocess.run(
        [
            *command,
            str(example_build("ads")),
            "--runtime",
            "python",
            "--json",
            str(tmp_path / "v.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "python (onnxruntime" in ok.stdout and ": OK, " in ok.stdout
    (verdict,) = json.loads((tmp_path / "v.json").read_text())
    assert verdict["ok"] and verdict["differing"] == 0

    # A kit whose expected outputs came from a numpy module that rounds half up.
    monkeypatch.setitem(
        numpy_backend.EMITTERS,
        "round_even",
        lambda node, args, ctx: f"np.floor(np.add({args[0]}, 0.5))",
    )
    Spec("spec ties\ninput { x: float }\nfeature r = round(x)\n").fit(
        {"x": np.array([0.5, 1.5, 2.5])}
    ).save(tmp_path / "ties")
    different = subprocess.run(
        [*command, str(tmp_path / "ties"), "--runtime", "python", "--optimization", "every"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert different.returncode == 1
    assert different.stdout.count("DIFFERENT") == 4  # one verdict per optimization level
    assert (
        "  r: " in different.stdout
        and "expected 1.0 (0x3ff0000000000000), got 0.0" in different.stdout
    )

    unknown = subprocess.run(
        [*command, str(tmp_path / "ties"), "--runtime", "java"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 1 and "unknown runtime 'java'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_verify_refuses_a_kit_changed_after_the_build(
    example_build: Callable[[str], Path], tmp_path: Path
) -> None:
    directory = tmp_path / "ads"
    shutil.copytree(example_build("ads"), directory)
    expected = directory / kit.EXPECTED
    expected.write_text(expected.read_text().replace('"rows": [', '"rows": [ ', 1))
    with pytest.raises(ArtifactError, match=r"conformance/expected\.json: changed after the build"):
        ensure_runtime("python").verify(directory)
