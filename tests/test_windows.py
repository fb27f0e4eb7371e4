"""Window aggregates end to end: the checker, the backfill, the numpy module and the ONNX graph
on the request encoding, the Session, the build and its parity proof (docs/windows.md).

The brute-force reference of the window semantics and the kernels' property tests are in
tests/test_backfill.py; here the three implementations are held to each other on random event
streams, and the surfaces a user touches are exercised."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featuredsl.artifact.load import load
from featuredsl.artifact.spec import Spec, load_spec
from featuredsl.artifact.windows import backfill, convert_events, request_feed
from featuredsl.compiler.frontend import check_source
from featuredsl.errors import DataError
from featuredsl.ingest.feed import take
from featuredsl.language.diagnostics import DiagnosticError
from featuredsl.parity.build import build
from featuredsl.runtime.serving import Session

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "windows"
MINUTE = 60_000_000
DAY = 1440 * MINUTE

SPEC = """spec w

input {
  time t
  t: timestamp
  user: string
  x: float
}

events ev by user lag 2m {
  time ts
  ts: timestamp
  amount: float?
  n: int
  kind: string?
  flag: bool
}

feature c = window_count(ev, 1h)
feature c_kind = window_count(ev.kind, 1d)
feature s = window_sum(ev.amount, 1d)
feature s_int = window_sum(ev.n, 7d, where=ev.flag)
feature m = fill_null(window_mean(ev.amount, 7d), -1.0)
feature m_int = fill_null(window_mean(ev.n, 1d), -1.0)
feature lo = fill_null(window_min(ev.amount, 7d), 0.0)
feature hi = fill_null(window_max(ev.n, 1d), 0)
feature second_n = fill_null(window_nth_last(ev.n, 2, 7d), -3)
feature first_kind = if fill_null(window_first(ev.kind, 7d), "") == "a" then 1 else 0
feature last_n = fill_null(window_last(ev.n, 1h, where=fill_null(ev.amount, 0.0) > 0.0), -7)
feature z = zscore(fill_null(window_mean(ev.amount, 1d), 0.0) + x)
feature big = window_count(ev, 1d, where=log1p(abs(fill_null(ev.amount, 0.0))) > 0.5 and sin(ev.n * 1.0) < 0.5)
"""


def random_tables(seed: int, labels: int = 60, events: int = 400) -> tuple[dict, dict]:
    """Labels and events crowded at the window edges: event times on a 1-minute grid, with the
    labels' times on it too (so events fall exactly at T - lag and T - lag - length)."""
    rng = np.random.default_rng(seed)
    users = np.array(["u0", "u1", "u2", "ü3", ""], dtype=object)
    ts = rng.integers(0, 3 * 1440, events) * MINUTE
    amounts = rng.choice([0.0, -0.0, 1.5, -2.25, 1e308, -1e308, 1e-300, math.inf, 3.0], events)
    amounts = np.where(rng.random(events) < 0.1, np.nan, amounts)
    ev = {
        "user": users[rng.integers(0, 4, events)],
        "ts": ts,
        "amount": amounts,
        "n": rng.choice([0, 1, -1, 2**62, -(2**62), 2**53 + 1, 7], events),
        "kind": [
            None if r < 0.2 else k
            for r, k in zip(
                rng.random(events), rng.choice(["a", "b", "é", ""], events), strict=True
            )
        ],
        "flag": rng.random(events) < 0.5,
    }
    lab = {
        "t": rng.integers(1440, 3 * 1440, labels) * MINUTE + rng.choice([0, 2 * MINUTE, 1], labels),
        "user": users[rng.integers(0, 5, labels)],
        "x": rng.normal(size=labels),
    }
    return lab, ev


def plain(value: object) -> object:
    """A numpy scalar as the Python value a request holds."""
    return value.item() if hasattr(value, "item") else value


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


@pytest.fixture(scope="module")
def fitted_w():
    spec = Spec(SPEC)
    labels, events = random_tables(0)
    return spec.fit(labels, events={"ev": events}, timestamp_unit="us")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_backfill_module_and_graph_agree_bit_for_bit(fitted_w, seed: int) -> None:
    """For random event streams and prediction times: backfill == numpy module (request
    encoding) == ONNX graph, bit for bit, every feature."""
    program = fitted_w.program
    labels, events = random_tables(seed)
    feed = fitted_w.feed(labels, timestamp_unit="us")
    event_feeds = convert_events(program, {"ev": events}, "us")
    backfilled = fitted_w.transform_feed({**feed, **backfill(program, feed, event_feeds)})
    request = request_feed(program, feed, event_feeds)
    module = fitted_w.transform_feed(request)
    np.testing.assert_array_equal(bits(module), bits(backfilled))
    import onnxruntime as ort

    session = ort.InferenceSession(
        fitted_w.onnx_model().SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = {i.name for i in session.get_inputs()}
    graph = session.run(None, {k: v for k, v in request.items() if k in names})[0]
    np.testing.assert_array_equal(bits(graph), bits(module))


def test_the_edge_rule_is_the_same_everywhere(fitted_w) -> None:
    """An event at T - lag - length is in, one at T - lag is out; a one-row request with events
    at every edge gives the count the rule says, in the module and the graph."""
    t = 10 * DAY
    lag, hour = 2 * MINUTE, 60 * MINUTE
    times = [t - lag - hour - 1, t - lag - hour, t - lag - 1, t - lag, t]
    request = {
        "t": np.array([t]),
        "user": np.array(["u"], dtype=object),
        "x": np.array([0.0]),
        "ev.offsets": np.array([0, len(times)]),
        "ev.ts": np.array(times),
        "ev.amount": np.ones(len(times)),
        "ev.n": np.arange(len(times)),
        "ev.kind": np.array(["a"] * len(times), dtype=object),
        "ev.kind.is_null": np.zeros(len(times), dtype=bool),
        "ev.flag": np.ones(len(times), dtype=bool),
    }
    column = fitted_w.feature_names.index("c")
    assert fitted_w.transform_feed(request)[0, column] == 2.0  # start in, end out
    last = fitted_w.feature_names.index("last_n")
    assert fitted_w.transform_feed(request)[0, last] == 2.0  # the event at T - lag - 1


def test_session_serves_what_training_saw(tmp_path: Path) -> None:
    """The example end to end: build with events, then each request through the Session with
    its card's recent events gives the backfill's features, bit for bit."""
    report = build(
        EXAMPLE / "windows.fdsl",
        EXAMPLE / "train.csv",
        tmp_path / "build",
        events={"purchases": EXAMPLE / "purchases.csv"},
    )
    assert report.parity.ok
    spec = load_spec(EXAMPLE / "windows.fdsl")
    fitted = report.fitted
    labels = fitted.feed(EXAMPLE / "train.csv")
    rows = take(labels, np.arange(0, 2000, 37))
    event_feeds = convert_events(spec.program, {"purchases": EXAMPLE / "purchases.csv"})
    expected = fitted.transform_feed({**rows, **backfill(spec.program, rows, event_feeds)})
    request = request_feed(spec.program, rows, event_feeds)
    served = []
    with Session(tmp_path / "build", timestamp_unit="us") as session:
        for i in range(len(rows["card"])):
            one = take(request, [i])
            lo, hi = one["purchases.offsets"]
            assert lo == 0
            row = {
                name: plain(one[name][0]) for name in ("auth_ts", "card", "amount", "merchant_type")
            }
            row["purchases"] = [
                {
                    c: plain(one[f"purchases.{c}"][j])
                    for c in ("purchase_ts", "amount", "merchant_type", "online")
                }
                for j in range(hi)
            ]
            served.append(session.transform([row])[0])
    np.testing.assert_array_equal(bits(np.vstack(served)), bits(expected))
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert manifest["windows"][0]["expression"] == "window_mean(purchases.amount, 30d)"
    assert load(tmp_path / "build").event_sources[0].lag == 5 * MINUTE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feature q = ev.amount", "one value per event, not per row"),
        ("feature q = window_sum(ev, 7d)", "aggregates a column, not the events"),
        ("feature q = window_count(ev, 7)", "must be a duration"),
        ("feature q = window_count(ev)", "no window length: every window must be bounded in time"),
        ("feature q = window_count(ev, 7d, 1h)", "takes 2 arguments"),
        ("feature q = window_count(ev, 7d, where=x > 1.0)", "can only use columns of 'ev'"),
        ("feature q = window_sum(ev.kind, 7d)", "needs float or int values"),
        (
            "feature q = window_count(ev, 7d, where=ev.amount > mean(ev.amount))",
            "fitted on training rows",
        ),
        ("feature q = window_count(ev, 7d, where=ev.amount)", "must be a condition"),
        ("feature q = 3d", "only allowed as the length of a window"),
        ("feature q = window_count(nope, 7d)", "first argument of window_count"),
        ("feature q = window_count(ev, 0d)", "cannot be computed"),
        ("feature q = window_count(ev, 200000d)", "cannot be computed"),
        ("feature q = window_count(ev.nope, 7d)", "has no column 'nope'"),
        ("feature q = window_nth_last(ev.n, 0, 7d)", "must be 1 to 1,000"),
        ("feature q = window_nth_last(ev.n, 7d)", "takes 3 arguments"),
        ("feature q = window_nth_last(ev.n, 1.5, 7d)", "must be an integer literal"),
        ("feature q = window_count(ev, 2d, where=zscore(ev.n) > 1.0)", "fitted on training rows"),
        ("feature q = window_count(ev, 2d, where=true)", "must use an event column"),
        ("feature q = window_count(ev, 1ns)", "'ns' after a number is not a duration unit"),
        ('feature q = window_count(ev, 2d, where=ev.user == "a")', "a filter on the key"),
    ],
)
def test_checker_refuses_misused_windows(text: str, message: str) -> None:
    with pytest.raises(DiagnosticError) as caught:
        check_source(SPEC + text + "\n")
    rendered = caught.value.render()
    assert message in rendered and "^" in rendered


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("  n: int\n", "  n: int\n  offsets: int\n"),
            "would take the name of the request's offsets",
        ),
        (("  x: float\n", "  x: float\n  `ev.offsets`: int\n"), "starts with 'ev.'"),
        (("  flag: bool\n", "  flag: bool\n  user: int\n"), "is the key of 'ev'"),
        (("events ev by", "events pi by"), "built-in constant"),
        (
            ("feature c = ", "events ev2 by user {\n  time ts\n  ts: timestamp\n}\n\nfeature c = "),
            "not used by any window",
        ),
    ],
)
def test_sources_whose_names_would_collide_or_mislead(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(DiagnosticError) as caught:
        check_source(SPEC.replace(*edit, 1))
    assert message in caught.value.render() and "^" in caught.value.render()


def test_event_tables_and_requests_say_what_is_wrong() -> None:
    labels, events = random_tables(2, labels=10, events=30)
    spec = Spec(SPEC)
    with pytest.raises(DataError, match=r"events= maps each event source to its table"):
        spec.fit(labels, events="ev.csv", timestamp_unit="us")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"events given for zz, which the spec does not declare"):
        spec.fit(labels, events={"zz": events}, timestamp_unit="us")
    countless = {**events, "n": [None, *events["n"].tolist()[1:]]}
    with pytest.raises(DataError, match=r"declare it 'n: int\?' in the events block of 'ev'"):
        spec.fit(labels, events={"ev": countless}, timestamp_unit="us")
    keyless = {**events, "user": [None, *events["user"][1:]]}
    with pytest.raises(
        DataError, match=r"column 'user', row 0: is null; every event needs its entity key"
    ):
        spec.fit(labels, events={"ev": keyless}, timestamp_unit="us")


def test_a_window_needs_a_prediction_time_and_a_valid_source() -> None:
    no_time = SPEC.replace("  time t\n", "")
    with pytest.raises(DiagnosticError, match="declares none"):
        check_source(no_time)
    bad_key = SPEC.replace("by user", "by x")
    with pytest.raises(DiagnosticError, match="entity key is a non-nullable string or int"):
        check_source(bad_key)
    no_event_time = SPEC.replace("  time ts\n", "")
    with pytest.raises(DiagnosticError, match="does not say which column is the event time"):
        check_source(no_event_time)


def test_bad_requests_name_row_event_and_column(tmp_path: Path) -> None:
    build(
        EXAMPLE / "windows.fdsl",
        EXAMPLE / "train.csv",
        tmp_path / "b",
        events={"purchases": EXAMPLE / "purchases.csv"},
    )
    row = {"auth_ts": 10**15, "card": "c001", "amount": 5.0, "merchant_type": "fuel"}
    event = {"purchase_ts": 10**15 - DAY, "amount": 3.0, "merchant_type": "fuel", "online": False}
    with Session(tmp_path / "b", timestamp_unit="us") as session:
        with pytest.raises(DataError, match="no events for event source 'purchases'"):
            session.transform([row])
        with pytest.raises(DataError, match=r"column 'amount', row 0, event 1: expected float"):
            session.transform([{**row, "purchases": [event, {**event, "amount": "x"}]}])
        with pytest.raises(DataError, match="row 0: event 1 is earlier than the one before"):
            later = {**event, "purchase_ts": 10**15 - 2 * DAY}
            session.transform([{**row, "purchases": [event, later]}])
        with pytest.raises(DataError, match="no value for column 'online'"):
            session.transform(
                [{**row, "purchases": [{k: v for k, v in event.items() if k != "online"}]}]
            )
        empty = session.transform([{**row, "purchases": []}])
        assert empty.shape == (1, 9)


def test_fit_without_events_says_how_to_pass_them() -> None:
    labels, _ = random_tables(1)
    with pytest.raises(DataError, match=r"events=\{'ev': TABLE\}.*--events ev=PATH"):
        Spec(SPEC).fit(labels, timestamp_unit="us")


def test_the_module_defines_each_name_once(fitted_w) -> None:
    """The window kernels are copied into the module beside its own helpers: no name may be
    defined twice (a later definition would silently replace an earlier one)."""
    import ast as python_ast

    tree = python_ast.parse(fitted_w.numpy_source)
    names = [
        node.name if isinstance(node, python_ast.FunctionDef) else target.id
        for node in tree.body
        if isinstance(node, (python_ast.FunctionDef, python_ast.Assign))
        for target in (node.targets if isinstance(node, python_ast.Assign) else [node])
        if isinstance(target, (python_ast.Name, python_ast.FunctionDef))
    ]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert "window_bounds" in names and "exact_sums" in names


def test_a_model_bundled_with_window_features_serves_from_events(tmp_path: Path) -> None:
    """FeatureTransformer(events=...) in a scikit-learn pipeline, exported and bundled with the
    build: the bundle's Session takes rows with their events and predicts what the pipeline
    predicts on the backfilled rows."""
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline

    from featuredsl.runtime.bundle import bundle
    from featuredsl.runtime.sklearn import FeatureTransformer, model_to_onnx

    events = {"purchases": EXAMPLE / "purchases.csv"}
    build(EXAMPLE / "windows.fdsl", EXAMPLE / "train.csv", tmp_path / "build", events=events)
    spec = load_spec(EXAMPLE / "windows.fdsl")
    labels = spec.feed(EXAMPLE / "train.csv")
    frame = {name: values for name, values in labels.items()}
    frame["auth_ts"] = frame["auth_ts"].astype("datetime64[us]")  # typed instants (UTC)
    target = np.linspace(0.0, 1.0, len(frame["card"]))
    pipe = Pipeline(
        [("features", FeatureTransformer(spec, events=events)), ("model", LinearRegression())]
    )
    pipe.fit(frame, target)
    (tmp_path / "model.onnx").write_bytes(model_to_onnx(pipe).SerializeToString())
    served = bundle(
        tmp_path / "build", tmp_path / "model.onnx", tmp_path / "served.onnx", by_order=True
    )
    picked = np.arange(0, 2000, 199)
    rows = take(labels, picked)
    request = request_feed(spec.program, rows, convert_events(spec.program, events))
    with Session(served.path, timestamp_unit="us") as session:
        for i in range(len(rows["card"])):
            one = take(request, [i])
            row = {n: plain(one[n][0]) for n in ("auth_ts", "card", "amount", "merchant_type")}
            row["purchases"] = [
                {
                    c: plain(one[f"purchases.{c}"][j])
                    for c in ("purchase_ts", "amount", "merchant_type", "online")
                }
                for j in range(int(one["purchases.offsets"][1]))
            ]
            predicted = next(iter(session.predict([row]).values()))
            single = {n: v[picked[i] : picked[i] + 1] for n, v in frame.items()}
            assert np.asarray(predicted).reshape(-1)[0] == pytest.approx(
                pipe.predict(single)[0], rel=1e-9
            )


def test_a_streamed_fit_with_windows_does_not_depend_on_the_batch_size() -> None:
    """Label rows streamed in batches, each backfilled from the event table: the constants (so
    the fingerprint) equal the in-memory fit's at any batch size."""
    events = {"purchases": EXAMPLE / "purchases.csv"}
    spec = load_spec(EXAMPLE / "windows.fdsl")
    whole = spec.fit(spec.feed(EXAMPLE / "train.csv"), events=events, timestamp_unit="us")
    for batch_rows in (97, 2_000):
        streamed = spec.fit(EXAMPLE / "train.csv", events=events, batch_rows=batch_rows)
        assert streamed.fingerprint == whole.fingerprint
    assert whole.kit_sample is not None and "purchases.offsets" in whole.kit_sample


def test_show_lists_the_sources_and_windows(fitted_w) -> None:
    from featuredsl.artifact.summary import build_document

    document = build_document(fitted_w.manifest())
    titles = [table.title for table in document.tables]
    assert "Event sources" in titles and "Window aggregates" in titles
    windows = next(t for t in document.tables if t.title == "Window aggregates")
    assert ("window_count(ev, 1h)", "ev.count.1h", "int", "1 h", "0") in windows.rows
    feature = next(f for f in fitted_w.manifest()["features"] if f["name"] == "c")
    assert feature["inputs"] == ["t", "user"]  # a window reads its key and the prediction time


def test_a_nan_sum_is_the_same_in_training_and_serving() -> None:
    """+inf and -inf in one window sum to NaN (docs/windows.md): the backfill, the fit and the
    request path all carry it (the backfilled column is not refused as a null)."""
    spec = Spec(SPEC)
    labels, events = random_tables(5, labels=20, events=60)
    events["amount"] = np.where(np.arange(60) % 2 == 0, math.inf, -math.inf)
    fitted = spec.fit(labels, events={"ev": events}, timestamp_unit="us")
    feed = fitted.feed(labels, timestamp_unit="us")
    event_feeds = convert_events(spec.program, {"ev": events}, "us")
    backfilled = fitted.transform_feed({**feed, **backfill(spec.program, feed, event_feeds)})
    served = fitted.transform_feed(request_feed(spec.program, feed, event_feeds))
    column = fitted.feature_names.index("s")
    assert np.isnan(backfilled[:, column]).any()
    np.testing.assert_array_equal(bits(served), bits(backfilled))


def test_the_docs_example_spec_checks() -> None:
    """docs/windows.md's first spec is a valid spec (readers paste it)."""
    text = (ROOT / "docs" / "windows.md").read_text(encoding="utf-8")
    block = text.split("```fdsl\n", 1)[1].split("```", 1)[0]
    program = check_source(block, "docs/windows.md")
    assert {w.kind for w in program.windows} == {"count", "sum", "mean", "last"}
