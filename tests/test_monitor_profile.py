"""Profiles: the merge of two partitions' profiles is the profile of the whole; JSON round-trips;
skew against an exact profile equals skew against the raw data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from featuredsl.errors import DataError
from featuredsl.monitor import profile as profile_module
from featuredsl.monitor.profile import (
    EXACT_VALUES_MAX,
    CategoricalProfile,
    NumericProfile,
    Profile,
    profile_data,
)
from featuredsl.monitor.skew import compare


def _data(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, n)
    x[rng.random(n) < 0.1] = np.nan
    x[:3] = [np.inf, -np.inf, np.inf]
    return {
        "x": x,  # continuous: KLL sketch
        "k": rng.integers(0, 40, n).astype(np.int64),  # few distinct: exact histogram
        "c": rng.choice(np.array(["a", "b", "c", "é", ""], dtype=object), size=n),
    }


def _split(data: dict[str, np.ndarray], at: int) -> tuple[dict, dict]:
    return {k: v[:at] for k, v in data.items()}, {k: v[at:] for k, v in data.items()}


def test_merged_partitions_equal_the_whole() -> None:
    whole = _data(0, 50_000)
    left, right = _split(whole, 18_000)
    merged = profile_data(left).merge(profile_data(right))
    full = profile_data(whole)
    for name in ("x", "k"):
        m, f = merged.groups["features"][name], full.groups["features"][name]
        assert isinstance(m, NumericProfile) and isinstance(f, NumericProfile)
        assert (m.rows, m.nulls, m.pos_inf, m.neg_inf, m.min, m.max) == (
            f.rows,
            f.nulls,
            f.pos_inf,
            f.neg_inf,
            f.min,
            f.max,
        )
        assert m.mean == pytest.approx(f.mean, rel=1e-12)
        assert m.m2 == pytest.approx(f.m2, rel=1e-9)
        assert (m.values, m.counts) == (f.values, f.counts)
    assert merged.groups["features"]["k"].values is not None  # still exact: 40 distinct values
    assert merged.groups["features"]["x"].values is None  # past EXACT_VALUES_MAX: the sketch
    mc, fc = merged.groups["features"]["c"], full.groups["features"]["c"]
    assert isinstance(mc, CategoricalProfile) and mc == fc
    # The KLL part agrees within its rank error (0.7% at k=400, 99% confidence).
    finite = np.sort(whole["x"][np.isfinite(whole["x"])])
    summary = merged.summary("features", "x")
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        value = summary.quantile(q)
        rank = np.searchsorted(finite, value, side="right") / len(finite)
        assert abs(rank - q) < 0.01


def test_exact_counts_give_way_to_sketches_past_the_caps(monkeypatch) -> None:
    many = np.arange(EXACT_VALUES_MAX + 1, dtype=np.float64)
    left, right = profile_data({"v": many[:600]}), profile_data({"v": many[600:]})
    assert left.groups["features"]["v"].values is not None
    merged = left.merge(right)
    assert merged.groups["features"]["v"].values is None  # the union passed the cap
    assert merged.summary("features", "v").exact is False

    monkeypatch.setattr(profile_module, "EXACT_CATEGORIES_MAX", 50)
    rng = np.random.default_rng(3)
    common = np.array(["x"] * 3000 + ["y"] * 1000, dtype=object)
    tail = np.array([f"t{i}" for i in range(200)], dtype=object)
    wide = profile_data({"c": np.concatenate([common, tail])})
    narrow = profile_data({"c": rng.choice(np.array(["x", "y"], dtype=object), 400)})
    column = wide.groups["features"]["c"]
    assert isinstance(column, CategoricalProfile)
    assert column.counts is None and column.frequent is not None
    both = wide.merge(narrow).merge(profile_data({"c": np.array(["x"], dtype=object)}))
    summary = both.summary("features", "c")
    assert summary.complete is False and summary.rows == 4601
    estimates = dict(zip(summary.categories, summary.counts, strict=True))
    assert estimates["x"] >= 3000 and estimates["y"] >= 1000
    # A frequent-items reference cannot say what is unseen: the check says so, not "0%".
    report = compare(both, {"c": np.array(["x", "z"] * 100, dtype=object)})
    unseen = report.get("c").check("unseen")
    assert unseen is not None and unseen.value is None and "not checked" in unseen.detail


def test_json_round_trip(tmp_path: Path) -> None:
    original = profile_data(_data(1, 5_000), fingerprint="abc123")
    path = tmp_path / "profile.json"
    original.save(path)
    loaded = Profile.load(path)
    assert loaded.fingerprint == "abc123"
    assert loaded.to_dict() == original.to_dict()
    assert loaded.groups == original.groups
    text = path.read_text()

    def refuse(constant: str) -> None:
        raise AssertionError(f"profile JSON holds the non-standard constant {constant}")

    # Strict JSON: NaN/Infinity as bare constants are refused (a substring test would also hit
    # base64 sketch bytes that happen to spell "NaN").
    data = json.loads(text, parse_constant=refuse)
    assert data["format"] == "featuredsl.profile" and data["version"] == 1
    assert set(data["groups"]["features"]["x"]) >= {"rows", "nulls", "kll", "min", "max", "mean"}


def test_small_profiles_are_deterministic() -> None:
    data = _data(2, 300)  # below the KLL k: the sketch holds every value, no random compaction
    assert profile_data(data).to_json() == profile_data(data).to_json()


def test_skew_against_an_exact_profile_equals_skew_against_the_data() -> None:
    rng = np.random.default_rng(5)
    reference = {
        "k": rng.integers(0, 60, 20_000).astype(np.int64),
        "c": rng.choice(np.array(["a", "b", "c"], dtype=object), 20_000),
    }
    current = {
        "k": rng.integers(5, 60, 3_000).astype(np.int64),
        "c": rng.choice(np.array(["a", "b", "d"], dtype=object), 3_000),
    }
    from_data = compare(reference, current).to_dict()
    from_profile = compare(profile_data(reference), current).to_dict()
    for left, right in zip(from_data["features"], from_profile["features"], strict=True):
        assert left == right


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not a JSON profile"),
        ('{"format": "other"}', "not a featuredsl profile"),
        ('{"format": "featuredsl.profile", "version": 99}', "version 99 is not supported"),
        (
            '{"format": "featuredsl.profile", "version": 1, "groups": {"features": {"x": {"kind": "numeric"}}}}',
            "malformed profile column 'x' in group 'features'",
        ),
    ],
)
def test_bad_profile_files_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        Profile.load(path)
    assert str(path) in str(info.value)


def test_merge_refuses_mismatched_profiles() -> None:
    a = profile_data({"x": np.ones(5)}, fingerprint="aaaa")
    with pytest.raises(DataError, match="different artifacts"):
        a.merge(profile_data({"x": np.ones(5)}, fingerprint="bbbb"))
    with pytest.raises(DataError, match="different columns"):
        a.merge(profile_data({"y": np.ones(5)}))
    with pytest.raises(DataError, match="is numeric in one and categorical"):
        a.merge(profile_data({"x": np.array(["s"] * 5, dtype=object)}))
