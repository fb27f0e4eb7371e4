"""Integrity: a tampered build directory fails to load with a message naming the file, before
anything in it runs; a build that failed its checks leaves nothing loadable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import random_feed
from onnx import numpy_helper

import featuredsl
from featuredsl.artifact.contract import FAILED_FILE, MANIFEST_FILE, MODULE_FILE, ONNX_FILE
from featuredsl.artifact.load import load
from featuredsl.artifact.spec import Spec
from featuredsl.backends.numpy import codegen as numpy_backend
from featuredsl.errors import ArtifactError, FeatureDSLError
from featuredsl.parity.build import ParityError, build
from featuredsl.runtime.serving import Session

SPEC = """spec tamper
input { x: float?, s: string? }
feature half = fill_null(x, 0.0) / 2.0
feature x_missing = is_null(x)
feature s_oh = one_hot(fill_null(s, "none"), vocab(s, top=3))
"""


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    spec = Spec(SPEC)
    spec.fit(random_feed(spec.inputs, 200, seed=2)).save(tmp_path / "build")
    return tmp_path / "build"


# ----------------------------------------------------------------------------- integrity


def test_appended_module_code_never_runs(build_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with open(build_dir / MODULE_FILE, "a") as handle:
        handle.write(f"\nopen({str(marker)!r}, 'w').write('x')\n")
    with pytest.raises(ArtifactError, match=r"features_train\.py: changed after the build"):
        load(build_dir)
    with pytest.raises(ArtifactError, match=r"features_train\.py: changed after the build"):
        Session(build_dir)
    assert not marker.exists()


def test_a_changed_graph_constant_fails_to_load(build_dir: Path) -> None:
    model = onnx.load(str(build_dir / ONNX_FILE))
    for index, tensor in enumerate(model.graph.initializer):
        value = numpy_helper.to_array(tensor)
        if value.dtype == np.float64 and value.size == 1 and value.item() == 2.0:
            changed = numpy_helper.from_array(np.full_like(value, 7.0), tensor.name)
            model.graph.initializer[index].CopyFrom(changed)
            break
    else:
        pytest.fail("the graph has no constant 2.0")
    (build_dir / ONNX_FILE).write_bytes(model.SerializeToString())
    with pytest.raises(ArtifactError, match=r"features\.onnx: changed after the build"):
        load(build_dir)
    with pytest.raises(ArtifactError, match=r"features\.onnx: changed after the build"):
        Session(build_dir)


def test_swapped_feature_names_fail_to_load(build_dir: Path) -> None:
    path = build_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    names = manifest["feature_names"]
    names[0], names[1] = names[1], names[0]
    path.write_text(json.dumps(manifest))
    with pytest.raises(
        ArtifactError, match=r"manifest\.json: its feature_names do not match"
    ) as info:
        load(build_dir)
    assert "column 0: 'x_missing' in the manifest, 'half' in the file" in str(info.value)


def test_swapped_names_in_the_graph_metadata_fail_to_load(build_dir: Path) -> None:
    model = onnx.load(str(build_dir / ONNX_FILE))
    for prop in model.metadata_props:
        if prop.key == "featuredsl.feature_names":
            names = json.loads(prop.value)
            names[0], names[1] = names[1], names[0]
            prop.value = json.dumps(names)
    (build_dir / ONNX_FILE).write_bytes(model.SerializeToString())
    with pytest.raises(ArtifactError, match=r"feature_names do not match those of features\.onnx"):
        load(build_dir)


def test_edited_constants_in_the_manifest_fail_to_load(build_dir: Path) -> None:
    path = build_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["constants"][0]["value"] = 99.0
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"manifest\.json: its fingerprint .* does not follow"):
        load(build_dir)


def test_edited_input_schema_fails_to_load(build_dir: Path) -> None:
    path = build_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["inputs"][1]["nullable"] = not manifest["inputs"][1]["nullable"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"manifest\.json: its inputs differ"):
        load(build_dir)


# ----------------------------------------------------------------------------- failed builds

ROUND_SPEC = "spec ties\ninput { x: float }\nfeature r = round(x)\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "ties.fdsl").write_text(ROUND_SPEC)
    (tmp_path / "train.csv").write_text(
        "x\n" + "\n".join(str(v) for v in (0.5, 1.5, 2.5, -0.5, 3.0))
    )
    return tmp_path


def break_rounding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The numpy backend rounds half up while the graph rounds half to even: parity fails."""
    monkeypatch.setitem(
        numpy_backend.EMITTERS,
        "round_even",
        lambda node, args, ctx: f"np.floor(np.add({args[0]}, 0.5))",
    )


def test_a_failed_build_leaves_nothing_loadable(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = project / "build"
    break_rounding(monkeypatch)
    with pytest.raises(ParityError, match="was left as it was") as info:
        build(project / "ties.fdsl", project / "train.csv", out)
    assert not out.exists()
    failed = project / "build.failed"
    assert f"in {failed}" in str(info.value)
    assert (failed / FAILED_FILE).exists()
    with pytest.raises(ArtifactError, match="failed its checks and must not be used") as refused:
        load(failed)
    assert "VIOLATIONS" in str(refused.value)
    assert not [p for p in project.iterdir() if ".building-" in p.name]


def test_a_failed_rebuild_keeps_the_good_build(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = project / "build"
    build(project / "ties.fdsl", project / "train.csv", out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with monkeypatch.context() as patch:
        break_rounding(patch)
        with pytest.raises(ParityError):
            build(project / "ties.fdsl", project / "train.csv", out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    load(out)
    build(project / "ties.fdsl", project / "train.csv", out)
    assert not (project / "build.failed").exists()  # superseded by the good build


def test_a_rebuild_removes_the_files_the_earlier_build_wrote(project: Path) -> None:
    out = project / "build"
    build(project / "ties.fdsl", project / "train.csv", out, float32=True)
    (out / "conformance" / "node_modules").mkdir()  # what a user added stays
    build(project / "ties.fdsl", project / "train.csv", out)
    assert not (out / "features.f32.onnx").exists()
    assert (out / "conformance" / "node_modules").is_dir()
    load(out)


def test_a_build_onto_a_file_is_a_message(project: Path) -> None:
    (project / "taken").write_text("x")
    with pytest.raises(FeatureDSLError, match="taken: exists and is not a directory"):
        build(project / "ties.fdsl", project / "train.csv", project / "taken")


def test_loading_a_file_of_a_build_names_its_directory(build_dir: Path) -> None:
    with pytest.raises(ArtifactError, match=r"is a file of a build; pass its directory"):
        featuredsl.load(build_dir / "features.onnx")
