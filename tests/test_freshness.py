"""Freshness (issue 16): `time` and `as_of ... max_age ... else refuse|null` in the language,
the nulling of stale values in both backends (bit for bit, at the budget edge, for future values
and int64 extremes), and the serving Session's refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from featuredsl.artifact.conformance.edge_cases import INT64_MAX, INT64_MIN, age_pairs
from featuredsl.artifact.spec import Spec
from featuredsl.compiler.frontend import check_source
from featuredsl.errors import DataError, FeatureDSLError
from featuredsl.language.durations import duration_micros, human_duration
from featuredsl.language.formatter import format_spec
from featuredsl.language.parser import parse
from featuredsl.parity.build import build
from featuredsl.runtime.serving import Session

H = 3_600_000_000
T0 = 1_700_000_000_000_000

SPEC = """spec fresh

input {
  time event_ts
  event_ts: timestamp
  score: float? as_of score_ts max_age 6h else null
  score_ts: timestamp
  clicks: int? as_of clicks_ts max_age 1h else null
  clicks_ts: timestamp
  plan: string as_of plan_ts max_age 2d
  plan_ts: timestamp
}

feature score_f = fill_null(score, -1.0)
feature score_stale = is_null(score)
feature clicks_f = fill_null(clicks, 0)
feature plan_idx = lookup(plan, vocab(plan))
"""


def training_frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    now = T0 + rng.integers(0, 1000 * H, n)
    frame = pd.DataFrame(
        {
            "event_ts": now,
            "score": rng.normal(size=n),
            "score_ts": now - rng.integers(0, 12 * H, n),
            "clicks": rng.integers(0, 9, n),
            "clicks_ts": now - rng.integers(0, 2 * H, n),
            "plan": rng.choice(["a", "b"], n),
            "plan_ts": now - rng.integers(0, H, n),
        }
    )
    frame["clicks"] = frame["clicks"].astype("Int64")
    return frame


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fresh")
    (directory / "fresh.fdsl").write_text(SPEC)
    report = build(
        directory / "fresh.fdsl", training_frame(), directory / "build", timestamp_unit="us"
    )
    assert report.parity.ok
    return directory / "build"


# ------------------------------------------------------------------------------ language


def test_syntax_round_trips_in_canonical_order() -> None:
    source = SPEC.replace(
        "as_of score_ts max_age 6h else null", "else null max_age 6h as_of score_ts"
    )
    formatted = format_spec(parse(source), source)
    assert "score: float? as_of score_ts max_age 6h else null" in formatted
    assert format_spec(parse(formatted), formatted) == formatted
    program = check_source(SPEC)
    assert program.freshness is not None and program.freshness.time == "event_ts"
    rules = {r.column: r for r in program.freshness.inputs}
    assert rules["score"].max_age == 6 * H and rules["score"].stale == "null"
    assert rules["plan"].stale == "refuse"  # the default policy of a budget


def test_time_stays_a_column_name() -> None:
    source = "spec t\ninput {\n  time time\n  time: timestamp\n  x: float? as_of x_ts max_age 90s else null\n  x_ts: timestamp\n}\nfeature f = fill_null(x, 0.0) + float(hour(time))\n"
    program = check_source(source)
    assert program.freshness is not None and program.freshness.time == "time"
    assert format_spec(parse(source), source) == source.replace("input {", "\ninput {").replace(
        "}\nfeature", "}\n\nfeature"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("x: float max_age 3h", ["3:11", "needs an as-of column", "as_of x_ts max_age 3h"]),
        (
            "x: float as_of x_ts else null\n x_ts: timestamp",
            ["has no budget", "max_age 6h else null"],
        ),
        ("x: float as_of x_ts\n x_ts: timestamp", ["names no prediction time", "time event_ts"]),
        ("time t\n t: timestamp\n x: float as_of nope", ["not an input column", "nope: timestamp"]),
        (
            "time t\n t: timestamp\n x: float as_of y\n y: int",
            ["is a int, not a timestamp", "`y: timestamp`"],
        ),
        ("time t\n t: timestamp?", ["is nullable", "`t: timestamp`"]),
        (
            "time t\n t: timestamp\n x: float as_of x_ts\n x_ts: timestamp?",
            ["the as-of column 'x_ts' of 'x' is nullable", "send it as null"],
        ),
        ("time t\n t: float", ["the prediction time 't' is a float"]),
        ("time t\n t: timestamp\n x: float as_of x", ["'x' is as of itself"]),
        ("time t\n t: timestamp\n x: float as_of t", ["as of the prediction time"]),
        (
            "time t\n t: timestamp\n x: float as_of t2 max_age 1h else null\n t2: timestamp",
            ["'x' is not nullable", "`x: float?`", "else refuse"],
        ),
        ("time t\n t: timestamp\n x: float as_of t2 as_of t2\n t2: timestamp", ["given twice"]),
        ("time t\n time t\n t: timestamp", ["declared twice"]),
        (
            "x: float as_of t max_age 6h else ignore",
            ["unknown freshness policy 'ignore'", "else null"],
        ),
        ("x: float as_of t max_age 6 h", ["expected a duration"]),
        ("x: float as_of t max_age 200000000d", ["longer than int64 microseconds"]),
    ],
)
def test_misuse_is_an_error_with_caret_and_fix(body: str, expected: list[str]) -> None:
    source = f"spec t\ninput {{\n {body}\n}}\nfeature f = 1.0\n"
    with pytest.raises(FeatureDSLError) as error:
        check_source(source)
    text = str(error.value)
    assert "^" in text
    for part in expected:
        assert part in text, text


def test_durations() -> None:
    assert duration_micros("6h") == 6 * H and duration_micros("500ms") == 500_000
    assert human_duration(7 * H + 15 * 60_000_000) == "7 h 15 min"
    assert human_duration(-120_000_000) == "-2 min"
    with pytest.raises(ValueError):
        duration_micros("6 h")


# ------------------------------------------------------------------------------ backends


def expected_stale(now: int, as_of: int, budget: int) -> bool:
    """The documented rule in Python integers: an age over budget, or negative, is stale."""
    age = now - as_of
    return age > budget or age < 0


def test_both_backends_null_stale_values_bit_for_bit(built: Path) -> None:
    from featuredsl.artifact.load import load

    artifacts = load(built)
    pairs = age_pairs(6 * H)
    n = len(pairs)
    feed = {
        "event_ts": np.array([p[0] for p in pairs], dtype=np.int64),
        "score": np.full(n, 2.5),
        "score_ts": np.array([p[1] for p in pairs], dtype=np.int64),
        "clicks": np.full(n, 4, dtype=np.int64),
        "clicks.is_null": np.zeros(n, dtype=bool),
        "clicks_ts": np.array([p[1] for p in pairs], dtype=np.int64),
        "plan": np.array(["a"] * n, dtype=object),
        "plan_ts": np.array([p[1] for p in pairs], dtype=np.int64),
    }
    module = artifacts.transform_feed(feed)
    graph = ort.InferenceSession(str(artifacts.onnx_path)).run(["features"], feed)[0]
    assert module.tobytes() == graph.tobytes()
    score_stale = np.array([expected_stale(now, a, 6 * H) for now, a in pairs])
    clicks_stale = np.array([expected_stale(now, a, H) for now, a in pairs])
    assert (module[:, 0] == np.where(score_stale, -1.0, 2.5)).all()
    assert (module[:, 1] == score_stale).all()
    assert (module[:, 2] == np.where(clicks_stale, 0.0, 4.0)).all()
    # the edges, spelled out: an age equal to the budget is served; one microsecond more is not
    at_budget = pairs.index((T0, T0 - 6 * H))
    assert module[at_budget, 0] == 2.5 and module[pairs.index((T0, T0 - 6 * H - 1)), 0] == -1.0
    assert module[pairs.index((T0, T0 + 1)), 0] == -1.0  # from the future
    assert module[pairs.index((INT64_MAX, INT64_MIN)), 0] == -1.0  # age 2**64 - 1
    assert module[pairs.index((INT64_MIN, INT64_MAX)), 0] == -1.0  # future by 2**64 - 1
    assert module[pairs.index((INT64_MIN, INT64_MIN)), 0] == 2.5  # age 0 at the far past


def test_the_build_proves_parity_on_age_edges(built: Path) -> None:
    from featuredsl.parity.runner import run_parity

    report = run_parity(built)
    assert report.ok
    assert report.rows["edge cases"] > 3 * len(age_pairs(H))


def test_training_values_over_budget_are_null_in_the_module_too() -> None:
    frame = training_frame(50)
    frame.loc[0, "score_ts"] = frame.loc[0, "event_ts"] - 7 * H
    fitted = Spec(SPEC).fit(frame, timestamp_unit="us")
    features = fitted.transform(frame, timestamp_unit="us")
    assert features[0, 1] == 1.0  # score_stale: the 7-hour-old score counts as null


# ------------------------------------------------------------------------------ the Session


def request(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "event_ts": T0,
        "score": 1.5,
        "score_ts": T0 - 6 * H,
        "clicks": 3,
        "clicks_ts": T0 - H,
        "plan": "a",
        "plan_ts": T0 - 48 * H,
    }
    row.update(changes)
    return row


def test_session_serves_within_budget_and_nulls_over_it(built: Path) -> None:
    session = Session(built, timestamp_unit="us")
    assert session.transform(request()).tolist() == [[1.5, 0.0, 3.0, 1.0]]
    stale = request(score_ts=T0 - 6 * H - 1, clicks_ts=T0 - H - 1)
    assert session.transform(stale).tolist() == [[-1.0, 1.0, 0.0, 1.0]]


def test_session_refuses_stale_values_naming_column_row_and_age(built: Path) -> None:
    session = Session(built, timestamp_unit="us")
    rows = [request(), request(plan_ts=T0 - 50 * H - 20 * 60_000_000)]
    with pytest.raises(DataError) as error:
        session.transform(rows)
    text = str(error.value)
    assert "row 1: column 'plan' is 2 d 2 h old" in text
    assert "over its max_age 2 d" in text and "else null" in text


@pytest.mark.parametrize("column", ["score", "clicks", "plan"])
def test_session_refuses_values_from_the_future_whatever_the_policy(
    built: Path, column: str
) -> None:
    session = Session(built, timestamp_unit="us")
    with pytest.raises(DataError) as error:
        session.transform(request(**{f"{column}_ts": T0 + 60_000_000}))
    assert f"row 0: column '{column}' is from the future" in str(error.value)
    assert "1 min after the prediction time" in str(error.value)


def test_a_null_value_has_no_age(built: Path) -> None:
    session = Session(built, timestamp_unit="us")
    out = session.transform(request(score=None, score_ts=T0 + 1, clicks=None, clicks_ts=T0 + 1))
    assert out.tolist() == [[-1.0, 1.0, 0.0, 1.0]]


def test_bundles_carry_the_freshness_contract(built: Path, tmp_path: Path) -> None:
    import onnx
    from test_bundle import linear_model

    from featuredsl.runtime.bundle import bundle

    model = linear_model(4)
    model.graph.node[0].output[0] = model.graph.output[0].name = "y"  # `score` is an input here
    onnx.save(model, tmp_path / "model.onnx")
    out = tmp_path / "bundle.onnx"
    bundle(built, tmp_path / "model.onnx", out, by_order=True, assume_order=True)
    session = Session(out, timestamp_unit="us")
    assert session.served.freshness is not None
    with pytest.raises(DataError, match="is from the future"):
        session.predict(request(score_ts=T0 + 1))


def test_an_edited_freshness_declaration_is_refused(built: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from featuredsl.errors import ArtifactError

    copy = tmp_path / "build"
    shutil.copytree(built, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["freshness"]["inputs"][2]["stale"] = None  # switch off plan's refusal
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="freshness declarations differ"):
        Session(copy)


@pytest.mark.parametrize(
    ("now", "as_of", "refused"),
    [
        (INT64_MIN, INT64_MIN, None),  # age 0 where now - max_age wraps
        (INT64_MIN + 2 * 24 * H, INT64_MIN, None),  # age exactly max_age
        (INT64_MIN + 2 * 24 * H + 1, INT64_MIN, "over its max_age"),
        (INT64_MAX, INT64_MIN, "over its max_age"),  # age 2**64 - 1
        (INT64_MIN, INT64_MAX, "from the future"),
    ],
)
def test_session_checks_are_exact_at_int64_extremes(
    now: int, as_of: int, refused: str | None
) -> None:
    from featuredsl.compiler.ir import AsOf, Freshness
    from featuredsl.runtime.freshness import check_freshness

    freshness = Freshness("t", (AsOf("plan", "plan_ts", 2 * 24 * H, "refuse"),))
    feed = {
        "t": np.array([now], dtype=np.int64),
        "plan": np.array(["a"], dtype=object),
        "plan_ts": np.array([as_of], dtype=np.int64),
    }
    if refused is None:
        check_freshness(feed, freshness, "request")
    else:
        with pytest.raises(DataError, match=refused):
            check_freshness(feed, freshness, "request")
