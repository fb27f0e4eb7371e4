"""Serving log: exact storage of feeds, every returned call logged, several writer processes,
no loss on a crash after a call returned."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_monitor_support import EchoSession, crashing_worker, logging_worker, make_session

from featuredsl.errors import ArtifactError, DataError
from featuredsl.monitor.codec import decode_arrays, encode_arrays
from featuredsl.monitor.serving_log import (
    LoggedSession,
    _sampled,
    artifact_feature_names,
    read_log,
)

FP = "fp-test-0001"


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bits (NaN payloads and -0.0 included)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fiubmM":
        return a.tobytes() == b.tobytes()
    return all(type(x) is type(y) and x == y for x, y in zip(a.ravel(), b.ravel(), strict=True))


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def feeds(draw):
    n = draw(st.integers(0, 6))
    shape = draw(st.sampled_from([(n,), (n, 1)]))
    strings = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        strings[index] = draw(text)
    floats = draw(hnp.arrays(np.float64, shape, elements=st.floats(allow_nan=True, width=64)))
    return {
        "f64": floats,
        "nan_payload": np.array([0x7FF8000000000001, 0xFFF0000000000F00] * n, dtype=np.uint64)
        .view(np.float64)
        .reshape(-1),
        "f32": draw(hnp.arrays(np.float32, shape, elements=st.floats(width=32))),
        "i64": draw(hnp.arrays(np.int64, shape)),
        "i64_extremes": np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, -1, 0] * n),
        "flag": draw(hnp.arrays(np.bool_, shape)),
        "s": strings,
        "s.is_null": draw(hnp.arrays(np.bool_, shape)),
        "u": np.array(["é", "", "日本"] * n),
        "ts": np.array([0, -1, 1_700_000_000_000_000] * n, dtype="datetime64[us]"),
    }


@settings(max_examples=60, deadline=None)
@given(feeds())
def test_codec_round_trips_exactly(feed) -> None:
    decoded = decode_arrays(encode_arrays(feed))
    assert list(decoded) == list(feed)
    for name, array in feed.items():
        assert _same(decoded[name], array), name


def test_codec_keeps_special_floats_and_refuses_what_it_cannot_store() -> None:
    special = np.array([-0.0, 0.0, np.inf, -np.inf, np.nan, 5e-324, np.finfo(np.float64).max])
    back = decode_arrays(encode_arrays({"v": special}))["v"]
    assert back.tobytes() == special.tobytes()
    assert np.signbit(back[0]) and not np.signbit(back[1])
    with pytest.raises(DataError, match="input 'c' holds a NoneType"):
        encode_arrays({"c": np.array(["a", None], dtype=object)})
    with pytest.raises(DataError, match="not valid Unicode"):
        encode_arrays({"c": np.array(["\ud800"], dtype=object)})
    with pytest.raises(DataError, match="cannot store"):
        encode_arrays({"c": np.array([1 + 2j])})


def test_logged_session_records_the_call(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    session = LoggedSession(make_session(), log, FP)
    feed = {"x": np.array([1.5, -0.0, np.nan]), "y": np.array([2.0, 3.0, np.inf])}
    before = time.time()
    outputs = session.run(["features"], feed, request_id="req-1")
    after = time.time()
    np.testing.assert_array_equal(outputs[0], [[3.0, 3.0], [-0.0, 4.0], [np.nan, np.inf]])
    assert session.get_inputs()[0].name == "x"  # the wrapped session's API is still there
    records = list(read_log(log))
    assert len(records) == 1
    record = records[0]
    assert (record.request_id, record.fingerprint, record.rows) == ("req-1", FP, 3)
    assert before <= record.time <= after and record.pid == os.getpid()
    assert all(_same(record.inputs[k], v) for k, v in feed.items())
    assert _same(record.outputs["features"], outputs[0])
    assert artifact_feature_names(log) == {FP: ("x2", "y1")}  # from the model's metadata
    session.run(None, feed)  # output_names=None: names from get_outputs()
    assert [r.request_id for r in read_log(log)][:1] == ["req-1"]
    assert len(list(read_log(log))) == 2
    session.close()


def test_strings_and_null_masks_are_logged_exactly(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    feed = {
        "country": np.array(["US", "", "日本", "placeholder"], dtype=object),
        "country.is_null": np.array([False, False, False, True]),
        "clicks": np.array([np.iinfo(np.int64).max, 0, -5, 0], dtype=np.int64),
        "clicks.is_null": np.array([False, False, False, True]),
    }
    with LoggedSession(EchoSession(), log, FP, feature_names=["f"]) as session:
        session.run(["features"], feed, request_id="r")
    (record,) = read_log(log)
    assert all(_same(record.inputs[k], v) for k, v in feed.items())


def test_refuses_a_session_of_another_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="refusing to log"):
        LoggedSession(make_session(fingerprint="other-fp"), tmp_path / "l.db", FP)


def test_sampling_is_by_request_id(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    session = LoggedSession(EchoSession(), log, FP, sample_rate=0.3)
    feed = {"x": np.ones(2)}
    ids = [f"req-{i}" for i in range(1000)]
    for rid in ids:
        assert len(session.run(None, feed, request_id=rid)[0]) == 2  # outputs always returned
    expected = {rid for rid in ids if _sampled(rid, 0.3)}
    assert 240 <= len(expected) <= 360
    assert {r.request_id for r in read_log(log)} == expected
    assert (session.logged, session.skipped) == (len(expected), 1000 - len(expected))
    none = LoggedSession(EchoSession(), tmp_path / "none.db", FP, sample_rate=0.0)
    none.run(None, feed)
    assert list(read_log(tmp_path / "none.db")) == []


def test_batched_commits_flush_on_close(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    session = LoggedSession(EchoSession(), log, FP, commit_every=10)
    for i in range(15):
        session.run(None, {"x": np.ones(1)}, request_id=str(i))
    assert len(list(read_log(log))) == 10  # one batch committed, five pending
    session.close()
    assert [r.request_id for r in read_log(log)] == [str(i) for i in range(15)]


def test_log_errors_raise_or_warn(tmp_path: Path) -> None:
    bad = {"c": np.array(["a", 3], dtype=object)}
    strict = LoggedSession(EchoSession(), tmp_path / "a.db", FP)
    with pytest.raises(DataError, match="input 'c' holds a int"):
        strict.run(None, bad)
    lenient = LoggedSession(EchoSession(), tmp_path / "b.db", FP, on_log_error="warn")
    with pytest.warns(UserWarning, match="dropped request"):
        outputs = lenient.run(None, bad)
    assert len(outputs[0]) == 2 and lenient.dropped == 1


def test_reading_something_that_is_not_a_log(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not found"):
        list(read_log(tmp_path / "absent.db"))
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(ArtifactError, match="not an SQLite database"):
        list(read_log(text))
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ArtifactError, match="not a featuredsl serving log"):
        list(read_log(other))


def test_threads_share_one_logged_session(tmp_path: Path) -> None:
    log = tmp_path / "serving.db"
    session = LoggedSession(make_session(), log, FP)
    returned: list[str] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(40):
            rid = f"t{t}-{i}"
            session.run(
                None, {"x": np.array([float(i)]), "y": np.array([float(t)])}, request_id=rid
            )
            with lock:
                returned.append(rid)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logged = [r.request_id for r in read_log(log)]
    assert sorted(logged) == sorted(returned) and len(returned) == 240


def test_several_processes_log_every_returned_call(tmp_path: Path) -> None:
    log = str(tmp_path / "serving.db")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=logging_worker, args=(log, w, 40, queue)) for w in range(4)]
    for p in workers:
        p.start()
    returned = [rid for _ in workers for rid in queue.get(timeout=120)]
    for p in workers:
        p.join(timeout=120)
        assert p.exitcode == 0
    records = list(read_log(log))
    assert sorted(r.request_id for r in records) == sorted(returned)
    assert len(returned) == 160 and len({r.pid for r in records}) == 4
    for record in records:
        worker = int(record.request_id[1 : record.request_id.index("-")])
        i = int(record.request_id.split("-")[1])
        expected = [[2.0 * worker, 1.5], [2.0 * i, 0.0]]
        np.testing.assert_array_equal(record.outputs["features"], expected)


def test_no_record_lost_when_the_process_crashes(tmp_path: Path) -> None:
    log = str(tmp_path / "serving.db")
    ctx = multiprocessing.get_context("spawn")
    process = ctx.Process(target=crashing_worker, args=(log, 25))
    process.start()
    process.join(timeout=120)
    assert process.exitcode == 17
    assert [r.request_id for r in read_log(log)] == [f"crash-{i}" for i in range(25)]
