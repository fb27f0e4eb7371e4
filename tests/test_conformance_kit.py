"""The conformance kit in every build directory: the lossless encoding, the kit's files and the
Python reference client."""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import random_feed
from hypothesis import given
from hypothesis import strategies as st

from featuredsl.artifact.conformance import encoding, kit
from featuredsl.artifact.conformance.edge_cases import INT64_MAX, INT64_MIN
from featuredsl.artifact.contract import MANIFEST_FILE, ONNX_FILE
from featuredsl.artifact.spec import FittedSpec, Spec

SPEC = """spec kit
input {
  x: float?
  n: int
  s: string?
  t: timestamp
  b: bool?
}
let x_f = fill_null(x, median(x))
feature x_z = zscore(x_f)
feature x_missing = is_null(x)
feature s_idx = lookup(fill_null(s, "none"), vocab(s, top=5), oov_buckets=1)
feature hour = hour(t)
feature flag = fill_null(b, false)
feature big = n > 3
feature half = x_f / 2.0
"""


def bits(value: float) -> int:
    return int(struct.unpack(">Q", struct.pack(">d", value))[0])


@pytest.fixture(scope="module")
def fitted() -> FittedSpec:
    spec = Spec(SPEC)
    return spec.fit(random_feed(spec.inputs, 300, seed=1), timestamp_unit="us")


@pytest.fixture
def build_dir(fitted: FittedSpec, tmp_path: Path) -> Path:
    fitted.save(tmp_path / "build")
    return tmp_path / "build"


def client(kit_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(kit_dir / "client.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


# ----------------------------------------------------------------------------- the encoding


SPECIAL_FLOATS = [
    0.0,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    5e-324,
    -5e-324,
    1.7976931348623157e308,
    0.1,
    1 / 3,
    2.0**53 + 2,
    -(2.0**63),
]


@pytest.mark.parametrize("value", SPECIAL_FLOATS)
def test_every_float_survives_json_bit_for_bit(value: float) -> None:
    decoded = encoding.decode_float(json.loads(json.dumps(encoding.encode_float(value))))
    assert (math.isnan(value) and math.isnan(decoded)) or bits(decoded) == bits(value)


@given(st.floats(allow_nan=False))
def test_random_floats_round_trip_through_json(value: float) -> None:
    text = encoding.dumps({"rows": [[encoding.encode_float(value)]]})
    (row,) = json.loads(text)["rows"]
    assert bits(encoding.decode_float(row[0])) == bits(value)


def test_non_finite_floats_and_negative_zero_are_tagged_not_numbers() -> None:
    assert [encoding.encode_float(v) for v in (math.nan, math.inf, -math.inf, -0.0, 0.0)] == [
        "NaN",
        "Infinity",
        "-Infinity",
        "-0.0",
        0.0,
    ]


@pytest.mark.parametrize("value", [INT64_MIN, INT64_MAX, 2**53 + 1, -(2**53) - 1, 0])
def test_int64_is_always_a_decimal_string(value: int) -> None:
    assert encoding.encode_int(value) == str(value)
    assert encoding.decode_int(json.loads(json.dumps(encoding.encode_int(value)))) == value


@pytest.mark.parametrize("bad", [5, "1.0", "01", "+1", " 1", str(2**63), "NaN", None])
def test_malformed_int64_is_a_message_naming_the_place(bad: object) -> None:
    with pytest.raises(encoding.EncodingError, match="row 3, column 'n'"):
        encoding.decode_int(bad, "row 3, column 'n'")


def test_rows_round_trip_with_masks_and_nulls(fitted: FittedSpec) -> None:
    feed = fitted.kit_sample
    assert feed is not None
    inputs = fitted.manifest()["inputs"]
    rows = encoding.encode_rows(feed, inputs)
    back = encoding.decode_rows(json.loads(encoding.dumps({"rows": rows}))["rows"], inputs)
    assert set(back) == set(feed)
    for name, values in feed.items():
        assert back[name].dtype == values.dtype, name
        if values.dtype == np.float64:
            nan = np.isnan(values)
            assert np.array_equal(nan, np.isnan(back[name]))
            assert values[~nan].tobytes() == back[name][~nan].tobytes()
        else:
            assert values.tolist() == back[name].tolist(), name
    nulls = [row["s"] is None for row in rows]
    assert nulls == feed["s.is_null"].tolist() and any(nulls)
    assert all(row["x"] is None for row, x in zip(rows, feed["x"], strict=True) if math.isnan(x))


def test_a_null_in_a_column_that_is_not_nullable_is_refused() -> None:
    inputs = [{"name": "n", "dtype": "int", "nullable": False}]
    with pytest.raises(encoding.EncodingError, match="row 1, column 'n': null"):
        encoding.decode_rows([{"n": "1"}, {"n": None}], inputs)


def test_tensors_round_trip() -> None:
    tensors = [
        np.array([[1.5, -0.0], [math.inf, 5e-324]]),
        np.array([1.5, -0.0], dtype=np.float32),
        np.array([INT64_MIN, INT64_MAX]),
        np.array([1, -2], dtype=np.int32),
        np.array([True, False]),
        np.array(["a", "日本"], dtype=object),
    ]
    for tensor in tensors:
        back = encoding.decode_tensor(json.loads(json.dumps(encoding.encode_tensor(tensor))))
        assert back.dtype == tensor.dtype and back.shape == tensor.shape
        if tensor.dtype.kind == "f":
            assert tensor.tobytes() == back.tobytes()
        else:
            assert tensor.tolist() == back.tolist()


# ----------------------------------------------------------------------------- the kit


def test_every_build_carries_the_kit_listed_with_hashes(build_dir: Path) -> None:
    manifest = json.loads((build_dir / MANIFEST_FILE).read_text())
    for name in kit.KIT_FILES:
        assert (build_dir / name).is_file(), name
        assert name in manifest["files"], name
    assert (build_dir / kit.CLIENT_PY).read_bytes() == kit.client_source("client.py")


def test_expected_outputs_are_the_numpy_modules_bits(build_dir: Path, fitted: FittedSpec) -> None:
    rows_doc = json.loads((build_dir / kit.ROWS).read_text())
    expected_doc = json.loads((build_dir / kit.EXPECTED).read_text())
    feed = encoding.decode_rows(rows_doc["rows"], rows_doc["inputs"])
    expected = encoding.decode_matrix(expected_doc["rows"], len(expected_doc["feature_names"]))
    assert expected.tobytes() == fitted.transform_feed(feed).tobytes()
    assert expected_doc["feature_names"] == list(fitted.feature_names)
    assert [s["name"] for s in rows_doc["sources"]] == ["data", "edge cases"]
    assert sum(s["rows"] for s in rows_doc["sources"]) == len(rows_doc["rows"])
    assert len(rows_doc["rows"]) <= kit.DATA_ROWS + kit.EDGE_ROWS
    masks = {c["name"]: c["mask"] for c in rows_doc["inputs"]}
    assert masks == {"x": None, "n": None, "s": "s.is_null", "t": None, "b": "b.is_null"}


def test_every_kit_row_validates_against_the_request_schema(build_dir: Path) -> None:
    schema = json.loads((build_dir / kit.SCHEMA).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    rows = json.loads((build_dir / kit.ROWS).read_text())["rows"]
    for row in rows:
        validator.validate(row)
    bad = dict(rows[0], n=7)  # an int64 as a JSON number
    assert not validator.is_valid(bad)
    assert not validator.is_valid({k: v for k, v in rows[0].items() if k != "t"})
    assert not validator.is_valid(dict(rows[0], n=None))  # n is not nullable
    assert not validator.is_valid(dict(rows[0], x="nan"))


def test_kits_are_byte_deterministic(tmp_path: Path) -> None:
    spec = Spec(SPEC)
    feed = random_feed(spec.inputs, 300, seed=1)
    for name in ("a", "b"):
        Spec(SPEC).fit(feed, timestamp_unit="us").save(tmp_path / name, float32=True)
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert files_a == files_b and len(files_a) == 4 + len(kit.KIT_FILES)
    for name in files_a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_python_client_verifies_a_kit_copied_out_with_its_graph(
    build_dir: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean"
    shutil.copytree(build_dir / kit.KIT_DIR, clean)
    shutil.copy(build_dir / ONNX_FILE, clean / ONNX_FILE)
    done = client(clean, "--optimization", "disabled", "--report", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: ")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ok"] and report["differing"] == 0 and report["cells"] == report["rows"] * 7


def test_python_client_reports_the_first_differing_cells_with_bits(build_dir: Path) -> None:
    path = build_dir / kit.EXPECTED
    document = json.loads(path.read_text())
    column = document["feature_names"].index("x_missing")
    row = next(i for i, r in enumerate(document["rows"]) if r[column] == 0.0)
    document["rows"][row][column] = "-0.0"  # the sign of zero is a difference
    path.write_text(json.dumps(document))
    done = client(build_dir / kit.KIT_DIR)
    assert done.returncode == 1
    assert "DIFFERENT: 1 of" in done.stdout
    assert (
        f"row {row}, x_missing: expected -0.0 (0x8000000000000000), got 0.0 (0x0000000000000000)"
        in done.stdout
    )


def test_python_client_says_what_is_wrong_with_a_bad_kit(build_dir: Path) -> None:
    path = build_dir / kit.ROWS
    document = json.loads(path.read_text())
    document["rows"][2]["n"] = 7
    path.write_text(json.dumps(document))
    done = client(build_dir / kit.KIT_DIR)
    assert done.returncode == 1
    assert "rows.json row 2, column 'n': 7 is not an int64 as a decimal string" in done.stderr
    assert "Traceback" not in done.stderr
