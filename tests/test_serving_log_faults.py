"""The serving log fails loudly and boundedly (issue 18, item 4).

On a full disk every failing call names the real cause ("database or disk is full", not
"cannot rollback - no transaction is active"); nothing is kept to be re-sent, so the backlog
stays below `commit_every` records; `dropped` is exact (logged + dropped + pending = sampled
calls); close() releases the database and never raises a raw sqlite3 error. A log on a read-only
file system replays.

The disk is a real 200 KiB tmpfs (mounting needs root; otherwise those tests skip and say so)
and, everywhere, SQLite's own page limit (`PRAGMA max_page_count`), which fails writes with the
same SQLITE_FULL.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_serving
from test_monitor_support import EchoSession

from featuredsl.cli.main import main
from featuredsl.errors import ArtifactError
from featuredsl.monitor.serving_log import LoggedSession, artifact_feature_names, read_log
from featuredsl.runtime.serving import Session

FP = "fp-faults"
FULL = "database or disk is full"
build_dir = test_serving.build_dir  # the churn build directory (fixture)


def _mount(directory: Path, options: str) -> str:
    """'' when mounted, else why not."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    return "" if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


def _umount(directory: Path) -> None:
    if subprocess.run(["umount", str(directory)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)


def _remount_read_only(directory: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True, timeout=30)


def _tmpfs(directory: Path, size: str, purpose: str) -> Iterator[Path]:
    why = _mount(directory, f"size={size}")
    if why:
        pytest.skip(f"cannot mount a tmpfs {purpose} (needs root / CAP_SYS_ADMIN): {why}")
    yield directory
    _umount(directory)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 200 KiB tmpfs: room for the schema and a handful of records."""
    yield from _tmpfs(tmp_path / "tiny", "200k", "to fill up")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, to be remounted read-only by the test."""
    yield from _tmpfs(tmp_path / "ro", "4m", "to make read-only")


def _feed(i: int) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(i).random(50)}


def _capped(log: LoggedSession, pages: int) -> None:
    """Fault injection without root: SQLite refuses to grow the file past `pages` pages."""
    assert log._conn is not None
    used = log._conn.execute("PRAGMA page_count").fetchone()[0]
    log._conn.execute(f"PRAGMA max_page_count = {used + pages}")


def _calls(log: LoggedSession, n: int) -> tuple[list[str], list[str]]:
    """n calls; (errors raised, warnings issued), by message."""
    errors: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(n):
            try:
                outputs = log.run(None, _feed(i), request_id=f"r{i}")
                assert len(outputs[0]) == 50
            except ArtifactError as err:
                errors.append(str(err))
            assert len(log._pending) < log.commit_every  # the bound
    return errors, [str(w.message) for w in caught]


def _assert_exact(log: LoggedSession, calls: int, path: Path) -> None:
    """Every sampled call is logged, dropped or pending, before and after close(); close()
    reports a batch it cannot write like run() does and releases the database regardless."""
    pending = len(log._pending)
    assert log.logged + log.dropped + pending == calls
    if pending and log.on_log_error == "raise":
        with pytest.raises(ArtifactError, match=f"could not log {pending} batched call"):
            log.close()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            log.close()
    assert log._conn is None
    assert log.logged + log.dropped == calls
    assert len(list(read_log(path))) == log.logged


# ---------------------------------------------------------------- a real full disk
@pytest.mark.parametrize("commit_every", [1, 7])
def test_full_disk_raise_names_the_real_cause(tiny_disk: Path, commit_every: int) -> None:
    path = tiny_disk / "log.db"
    log = LoggedSession(EchoSession(), path, FP, commit_every=commit_every)
    errors, _ = _calls(log, 400)
    assert errors, "the disk never filled up"
    assert all(FULL in e and str(path) in e for e in errors), errors[:3]
    assert not any("rollback" in e for e in errors)
    assert log.dropped >= len(errors)  # a batch takes earlier returned calls with it
    _assert_exact(log, 400, path)


@pytest.mark.parametrize("commit_every", [1, 7])
def test_full_disk_warn_keeps_a_bounded_backlog_and_counts_drops(
    tiny_disk: Path, commit_every: int
) -> None:
    path = tiny_disk / "log.db"
    log = LoggedSession(EchoSession(), path, FP, commit_every=commit_every, on_log_error="warn")
    errors, warned = _calls(log, 400)
    assert not errors
    assert warned and all(FULL in w for w in warned), warned[:3]
    assert log.logged < 400 and log.dropped > 0
    _assert_exact(log, 400, path)


def test_session_close_on_a_full_disk_is_clean(tiny_disk: Path, build_dir: Path) -> None:
    rows = test_serving.rows(3)
    session = Session(build_dir, log=tiny_disk / "log.db")
    failures = []
    for _ in range(400):
        try:
            session.transform(rows)
        except ArtifactError as err:
            failures.append(str(err))
    assert failures and all(FULL in f for f in failures)
    session.close()  # no raw sqlite3.OperationalError


# ---------------------------------------------------------------- fault injection (no root)
@pytest.mark.parametrize("on_log_error", ["raise", "warn"])
def test_a_full_database_reports_its_cause_without_root(tmp_path: Path, on_log_error: str) -> None:
    path = tmp_path / "log.db"
    log = LoggedSession(EchoSession(), path, FP, commit_every=5, on_log_error=on_log_error)
    _capped(log, 12)
    errors, warned = _calls(log, 200)
    reports = errors if on_log_error == "raise" else warned
    assert reports and all(FULL in r for r in reports), reports[:3]
    assert log.dropped > 0 and log.logged > 0
    _assert_exact(log, 200, path)


def test_close_with_an_unwritable_batch_reports_it_and_releases_the_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    log = LoggedSession(EchoSession(), path, FP, commit_every=1000)
    for i in range(3):
        log.run(None, _feed(i), request_id=f"r{i}")
    _capped(log, 0)
    with pytest.raises(
        ArtifactError, match=f"could not log 3 batched call\\(s\\) at close: .*{FULL}"
    ):
        log.close()
    assert log._conn is None and log.dropped == 3 and log.logged == 0
    log.close()  # closing twice is fine
    lenient = LoggedSession(EchoSession(), tmp_path / "b.db", FP, commit_every=1000)
    lenient.on_log_error = "warn"
    for i in range(5):
        lenient.run(None, _feed(i))
    _capped(lenient, 0)
    with pytest.warns(UserWarning, match=FULL):
        lenient.close()


# ---------------------------------------------------------------- read-only file system
WRITER = """
import os, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_monitor_support import EchoSession
from featuredsl.monitor.serving_log import LoggedSession
log = LoggedSession(EchoSession(), {path!r}, {fp!r}, feature_names=["f"])
for i in range(3):
    log.run(None, {{"x": np.ones(2)}}, request_id=f"r{{i}}")
os._exit(0)  # a killed writer: its -wal and -shm files stay
"""


def _write_log(path: Path, crash: bool) -> None:
    if crash:
        code = WRITER.format(tests=str(Path(__file__).parent), path=str(path), fp=FP)
        subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, timeout=120)
        assert Path(f"{path}-wal").exists()
        return
    with LoggedSession(EchoSession(), path, FP, feature_names=["f"]) as log:
        for i in range(3):
            log.run(None, {"x": np.ones(2)}, request_id=f"r{i}")


@pytest.mark.parametrize("crash", [False, True], ids=["closed", "writer-killed"])
def test_a_log_on_a_read_only_file_system_replays(small_disk: Path, crash: bool) -> None:
    path = small_disk / "serving.db"
    _write_log(path, crash)
    before = sorted(p.name for p in small_disk.iterdir())
    _remount_read_only(small_disk)
    assert [r.request_id for r in read_log(path)] == ["r0", "r1", "r2"]
    assert artifact_feature_names(path) == {FP: ("f",)}
    assert sorted(p.name for p in small_disk.iterdir()) == before


def test_reading_a_log_never_writes_to_it(tmp_path: Path) -> None:
    path = tmp_path / "serving.db"
    _write_log(path, crash=False)
    before = path.read_bytes()
    records: list[Any] = list(read_log(path))
    assert len(records) == 3 and path.read_bytes() == before


def test_featuredsl_replay_of_a_served_log_on_a_read_only_file_system(
    small_disk: Path, build_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = small_disk / "serving.db"
    with Session(build_dir, log=log) as session:
        for i in range(3):
            session.transform(test_serving.rows(3), request_id=f"req-{i}")
    _remount_read_only(small_disk)
    with pytest.raises(SystemExit) as exited:
        main(["replay", str(build_dir), "--log", str(log)])
    out = capsys.readouterr().out
    assert exited.value.code == 0, out
    assert "3 requests, 9 rows compared" in out and "OK: within thresholds" in out
