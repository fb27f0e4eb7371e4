"""Serving log: wrap an ONNX session so every call records its raw feed and outputs to SQLite.

One row per call (request): request id, unix time, artifact fingerprint, row count, the feed
and the outputs as exact Arrow IPC bytes (featuredsl.monitor.codec; never pickle). The database
runs in WAL mode so several processes can log to one file; each call's record is committed
before run() returns (commit_every=1), so a crash after a call returned loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from featuredsl.artifact.contract import OFFSETS_SUFFIX
from featuredsl.errors import ArtifactError, DataError, FeatureDSLError
from featuredsl.monitor.codec import decode_arrays, encode_arrays

LOG_FORMAT = "featuredsl.serving_log"
SCHEMA_VERSION = 1
FINGERPRINT_KEY = "featuredsl.fingerprint"
FEATURE_NAMES_KEY = "featuredsl.feature_names"

SCHEMA = """
CREATE TABLE IF NOT EXISTS featuredsl_log_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    fingerprint TEXT PRIMARY KEY,
    feature_names TEXT,          -- JSON list, or NULL when unknown
    first_seen REAL NOT NULL     -- unix seconds
);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    time REAL NOT NULL,          -- unix seconds when the call started
    fingerprint TEXT NOT NULL,
    rows INTEGER NOT NULL,       -- rows in the request (first dimension of the feed)
    inputs BLOB NOT NULL,        -- the feed, Arrow IPC (codec.encode_arrays)
    outputs BLOB NOT NULL,       -- the outputs by name, Arrow IPC
    pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_id ON requests (request_id);
CREATE INDEX IF NOT EXISTS requests_by_time ON requests (time);
"""


def _connect(path: Path, timeout: float, synchronous: str) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        _prepare(conn, path, timeout, synchronous)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path, timeout: float, synchronous: str) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    if str(mode).lower() != "wal":
        raise ArtifactError(f"{path}: cannot switch the serving log to WAL mode (got {mode})")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    with _transaction(conn):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        row = conn.execute("SELECT value FROM featuredsl_log_meta WHERE key = 'format'").fetchone()
        if row is None:
            conn.execute("INSERT INTO featuredsl_log_meta VALUES ('format', ?)", (LOG_FORMAT,))
            conn.execute(
                "INSERT INTO featuredsl_log_meta VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
    _check_meta(conn, path)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT; on any error roll back and re-raise that error.

    SQLite rolls a transaction back by itself on SQLITE_FULL and some I/O errors, so ROLLBACK
    is issued only while one is open, and a failing ROLLBACK never hides the error that caused
    it (a full disk used to surface as "cannot rollback - no transaction is active")."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def _check_meta(conn: sqlite3.Connection, path: Path | str) -> None:
    meta = dict(conn.execute("SELECT key, value FROM featuredsl_log_meta").fetchall())
    if meta.get("format") != LOG_FORMAT:
        raise ArtifactError(f"{path}: not a featuredsl serving log")
    if meta.get("schema_version") != str(SCHEMA_VERSION):
        raise ArtifactError(
            f"{path}: serving log schema version {meta.get('schema_version')} is not supported "
            f"(this featuredsl reads version {SCHEMA_VERSION})"
        )


def _rows(feed: Mapping[str, np.ndarray]) -> int:
    for name, array in feed.items():
        if name.endswith(OFFSETS_SUFFIX):  # an event source (docs/windows.md): rows + 1
            return int(array.shape[0]) - 1
        return int(array.shape[0]) if array.ndim else 1
    return 0


def _sampled(request_id: str, rate: float) -> bool:
    """Deterministic in the request id, so every service samples the same requests."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.blake2b(request_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


class LoggedSession:
    """An onnxruntime-like session whose run() also appends the call to a serving log.

    session: anything with run(output_names, input_feed[, run_options]). If it also has
    get_modelmeta() (onnxruntime), its "featuredsl.fingerprint" must equal `fingerprint` and its
    "featuredsl.feature_names" are recorded unless feature_names is given.

    commit_every=1 commits each call's record before run() returns. commit_every=N > 1 batches
    N calls per transaction for throughput: a crash can then lose up to N-1 returned calls.
    synchronous="NORMAL" survives a process crash; "FULL" also survives power loss (an fsync
    per commit). on_log_error="raise" fails the call when its record cannot be written (so a
    returned call is always logged); "warn" returns the outputs and counts the drop. Either way
    the message names SQLite's cause, a batch that cannot be written is dropped rather than
    kept (at most commit_every - 1 records wait between calls, whatever the disk does), and
    logged + dropped + pending = sampled calls, exactly.
    """

    def __init__(
        self,
        session: Any,
        log_path: str | Path,
        fingerprint: str,
        sample_rate: float = 1.0,
        *,
        feature_names: Sequence[str] | None = None,
        commit_every: int = 1,
        synchronous: str = "NORMAL",
        busy_timeout: float = 30.0,
        on_log_error: str = "raise",
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in [0, 1], got {sample_rate}")
        if commit_every < 1:
            raise ValueError("commit_every must be >= 1")
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be NORMAL, FULL or EXTRA")
        if on_log_error not in ("raise", "warn"):
            raise ValueError("on_log_error must be 'raise' or 'warn'")
        self.session = session
        self.path = Path(log_path)
        self.fingerprint = fingerprint
        self.sample_rate = sample_rate
        self.commit_every = commit_every
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self.on_log_error = on_log_error
        meta = self._model_metadata()
        meta_fingerprint = meta.get(FINGERPRINT_KEY)
        if meta_fingerprint is not None and meta_fingerprint != fingerprint:
            raise ArtifactError(
                f"the session's model has fingerprint {meta_fingerprint[:12]}, not {fingerprint[:12]}: "
                f"refusing to log its calls under the wrong artifact"
            )
        if feature_names is None and FEATURE_NAMES_KEY in meta:
            feature_names = json.loads(meta[FEATURE_NAMES_KEY])
        self.feature_names = tuple(feature_names) if feature_names is not None else None
        self.logged = 0
        self.skipped = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, ...]] = []
        self._pid = -1
        self._conn: sqlite3.Connection | None = None
        self._connection()  # create the schema now: a bad path fails at start-up, not mid-traffic

    def _model_metadata(self) -> dict[str, str]:
        getter = getattr(self.session, "get_modelmeta", None)
        if getter is None:
            return {}
        try:
            return dict(getter().custom_metadata_map)
        except Exception:  # a session-like object may not support metadata
            return {}

    def _output_names(self) -> list[str]:
        getter = getattr(self.session, "get_outputs", None)
        if getter is None:
            raise DataError("output_names=None needs a session with get_outputs(); pass the names")
        return [o.name for o in getter()]

    def _connection(self) -> sqlite3.Connection:
        # A forked child must not reuse its parent's connection (or its unflushed records).
        if self._conn is None or self._pid != os.getpid():
            self._pending = []
            try:
                conn = _connect(self.path, self.busy_timeout, self.synchronous)
            except sqlite3.DatabaseError as err:
                raise ArtifactError(f"{self.path}: cannot open the serving log ({err})") from None
            try:
                self._register_artifact(conn)
            except sqlite3.DatabaseError as err:
                conn.close()
                raise ArtifactError(f"{self.path}: cannot open the serving log ({err})") from None
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _register_artifact(self, conn: sqlite3.Connection) -> None:
        names = None if self.feature_names is None else json.dumps(list(self.feature_names))
        with _transaction(conn):
            conn.execute(
                "INSERT OR IGNORE INTO artifacts VALUES (?, ?, ?)",
                (self.fingerprint, names, time.time()),
            )
            if names is not None:
                conn.execute(
                    "UPDATE artifacts SET feature_names = ? "
                    "WHERE fingerprint = ? AND feature_names IS NULL",
                    (names, self.fingerprint),
                )

    def run(
        self,
        output_names: Sequence[str] | None,
        input_feed: Mapping[str, Any],
        run_options: Any = None,
        *,
        request_id: str | None = None,
    ) -> list[Any]:
        """Run the session, then log the call (sampled by request id) before returning."""
        started = time.time()
        if run_options is None:
            outputs = self.session.run(output_names, input_feed)
        else:
            outputs = self.session.run(output_names, input_feed, run_options)
        request_id = request_id if request_id is not None else uuid.uuid4().hex
        if not _sampled(request_id, self.sample_rate):
            with self._lock:
                self.skipped += 1
            return list(outputs)
        try:
            names = list(output_names) if output_names is not None else self._output_names()
            feed = {k: np.asarray(v) for k, v in input_feed.items()}
            record = (
                request_id,
                started,
                self.fingerprint,
                _rows(feed),
                encode_arrays(feed),
                encode_arrays(dict(zip(names, outputs, strict=True))),
                os.getpid(),
            )
        except (FeatureDSLError, ValueError) as err:
            with self._lock:
                self.dropped += 1
            if self.on_log_error == "raise":
                if isinstance(err, FeatureDSLError):
                    raise
                raise ArtifactError(
                    f"{self.path}: could not log request {request_id}: {err}"
                ) from None
            warnings.warn(
                f"serving log {self.path}: dropped request {request_id}: {err}", stacklevel=2
            )
            return list(outputs)
        try:
            self._write(record)
        except _WriteFailed as failure:
            earlier = failure.records - 1  # a batch takes the earlier calls it holds with it
            also = f" and {earlier} earlier call(s) of its batch" if earlier else ""
            self._report(failure, f"request {request_id}{also}")
        return list(outputs)

    def _write(self, record: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                conn = self._connection()
            except ArtifactError as err:
                self.dropped += 1
                raise _WriteFailed(str(err), 1) from None
            self._pending.append(record)
            if len(self._pending) >= self.commit_every:
                self._flush_locked(conn)

    def _flush_locked(self, conn: sqlite3.Connection) -> None:
        """Write the pending records in one transaction. A batch that cannot be written is
        dropped and counted, never kept to be sent again: the backlog stays below
        commit_every records whatever the disk does."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            with _transaction(conn):
                conn.executemany(
                    "INSERT INTO requests "
                    "(request_id, time, fingerprint, rows, inputs, outputs, pid) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    batch,
                )
        except (sqlite3.Error, OSError) as err:
            self.dropped += len(batch)
            raise _WriteFailed(f"{self.path}: {err}", len(batch)) from None
        self.logged += len(batch)

    def _report(self, failure: _WriteFailed, what: str) -> None:
        """A write failure, loudly: ArtifactError (on_log_error="raise") or a warning."""
        if self.on_log_error == "raise":
            raise ArtifactError(f"could not log {what}: {failure.cause}")
        warnings.warn(f"serving log: dropped {what}: {failure.cause}", stacklevel=3)

    def flush(self) -> None:
        """Write the batched records now (commit_every > 1)."""
        failure: _WriteFailed | None = None
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                try:
                    self._flush_locked(self._conn)
                except _WriteFailed as err:
                    failure = err
        if failure is not None:
            self._report(failure, f"{failure.records} batched call(s)")

    def close(self) -> None:
        """Flush and release the database. The connection is closed whatever happens; a batch
        that cannot be written is reported as by run() (ArtifactError or a warning), never as a
        raw sqlite3 error."""
        failure: _WriteFailed | None = None
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                try:
                    self._flush_locked(conn)
                except _WriteFailed as err:
                    failure = err
                finally:
                    with suppress(sqlite3.Error):
                        conn.close()
            self._pending = []
        if failure is not None:
            self._report(failure, f"{failure.records} batched call(s) at close")

    def __enter__(self) -> LoggedSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        # get_inputs(), get_outputs(), get_modelmeta() ... of the wrapped session.
        if name == "session":
            raise AttributeError(name)
        return getattr(self.session, name)


class _WriteFailed(Exception):
    """Records that could not be written (already counted in `dropped`), and why."""

    def __init__(self, cause: str, records: int):
        super().__init__(cause)
        self.cause = cause
        self.records = records


@dataclass(frozen=True)
class LogRecord:
    seq: int
    request_id: str
    time: float
    fingerprint: str
    rows: int
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    pid: int


def open_log(path: str | Path) -> sqlite3.Connection:
    """Open an existing serving log for reading; a clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: serving log not found")
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise ArtifactError(f"{path}: not a featuredsl serving log (not an SQLite database)")
    conn, tables = _open_read_only(path)
    if "featuredsl_log_meta" not in tables:
        conn.close()
        raise ArtifactError(f"{path}: not a featuredsl serving log (no featuredsl_log_meta table)")
    _check_meta(conn, path)
    return conn


def _open_read_only(path: Path) -> tuple[sqlite3.Connection, set[str]]:
    """A read-only connection (URI mode=ro: reading never writes, so a log on a read-only file
    system or a copy without write permission replays).

    A WAL database needs its -shm index, which SQLite cannot create on a read-only file system.
    A log closed cleanly has no -wal file (everything is in the main file), so it is then opened
    immutable; a log with a -wal file there cannot be read without its index, and the error
    says how to get it readable rather than reading it without the records in its -wal."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        return _tables(sqlite3.connect(uri, uri=True, timeout=30.0))
    except sqlite3.DatabaseError as err:
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise ArtifactError(
                f"{path}: cannot read the serving log ({err}); its -wal file holds records "
                "that need an index SQLite cannot create here: copy the log with its -wal and "
                "-shm files to a writable directory"
            ) from None
    try:
        return _tables(sqlite3.connect(uri + "&immutable=1", uri=True, timeout=30.0))
    except sqlite3.DatabaseError as err:
        raise ArtifactError(f"{path}: cannot read the serving log ({err})") from None


def _tables(conn: sqlite3.Connection) -> tuple[sqlite3.Connection, set[str]]:
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except BaseException:
        conn.close()
        raise
    return conn, {r[0] for r in rows}


def artifact_feature_names(path: str | Path) -> dict[str, tuple[str, ...] | None]:
    """fingerprint -> feature names recorded for it (None when unknown)."""
    conn = open_log(path)
    try:
        rows = conn.execute("SELECT fingerprint, feature_names FROM artifacts").fetchall()
    finally:
        conn.close()
    return {fp: None if names is None else tuple(json.loads(names)) for fp, names in rows}


def read_log(
    path: str | Path, *, fingerprint: str | None = None, limit: int | None = None
) -> Iterator[LogRecord]:
    """Records in commit order, decoded; optionally only one artifact's."""
    conn = open_log(path)
    query = "SELECT seq, request_id, time, fingerprint, rows, inputs, outputs, pid FROM requests"
    params: list[Any] = []
    if fingerprint is not None:
        query += " WHERE fingerprint = ?"
        params.append(fingerprint)
    query += " ORDER BY seq"
    if limit is not None:
        query += " LIMIT ?"
        params.append(int(limit))
    try:
        for seq, rid, t, fp, rows, inputs, outputs, pid in conn.execute(query, params):
            try:
                decoded_in, decoded_out = decode_arrays(inputs), decode_arrays(outputs)
            except Exception as err:  # a corrupt blob: name the record, not the Arrow internals
                raise ArtifactError(
                    f"{path}: record {seq} (request {rid}) is corrupt: {err}"
                ) from None
            yield LogRecord(seq, rid, t, fp, rows, decoded_in, decoded_out, pid)
    finally:
        conn.close()
