"""Live shadow records: a candidate's outputs for logged requests, in the serving log itself.

`featuredsl serve A --shadow B --log serving.db` logs every request A answers in the serving
log's `requests` table (featuredsl.monitor.serving_log, committed before the response goes
out) and, off the response path, runs the same request through the candidate B and records B's
outputs here, under the same request id:

    shadow_pairs    one row per (A, B) pair served: both fingerprints, both paths, A's input
                    schema and both feature-name lists (what the report needs to read rows)
    shadow          one row per shadowed request: request id, B's fingerprint, A's fingerprint,
                    B's outputs (Arrow IPC, featuredsl.monitor.codec) or the reason B refused it

Each record is one SQLite transaction (WAL mode), so a process killed mid-request leaves either
the whole record or none. A request can be logged without its shadow record (B was still
running when the server stopped, or the shadow backlog was full); `read_pairs` says how many.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.errors import ArtifactError
from featuredsl.monitor.codec import decode_arrays, encode_arrays
from featuredsl.monitor.serving_log import _connect, _transaction, open_log

SCHEMA = """
CREATE TABLE IF NOT EXISTS shadow_pairs (
    primary_fingerprint TEXT NOT NULL,
    candidate_fingerprint TEXT NOT NULL,
    primary_path TEXT NOT NULL,
    candidate_path TEXT NOT NULL,
    inputs TEXT NOT NULL,                 -- JSON [{name, dtype, nullable}] of the primary
    primary_feature_names TEXT NOT NULL,  -- JSON list
    candidate_feature_names TEXT NOT NULL,
    first_seen REAL NOT NULL,
    PRIMARY KEY (primary_fingerprint, candidate_fingerprint)
);
CREATE TABLE IF NOT EXISTS shadow (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    time REAL NOT NULL,                   -- unix seconds when the candidate finished
    fingerprint TEXT NOT NULL,            -- the candidate's
    primary_fingerprint TEXT NOT NULL,
    outputs BLOB,                         -- the candidate's outputs (Arrow IPC), NULL on error
    error TEXT,                           -- why the candidate refused or failed, else NULL
    pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS shadow_by_id ON shadow (request_id);
"""


@dataclass(frozen=True)
class Pair:
    """A primary (A) and candidate (B) served together."""

    primary_fingerprint: str
    candidate_fingerprint: str
    primary_path: str
    candidate_path: str
    inputs: tuple[Mapping[str, Any], ...]
    primary_feature_names: tuple[str, ...]
    candidate_feature_names: tuple[str, ...]
    first_seen: float = 0.0  # unix seconds the pair was first served


class ShadowLog:
    """Appends candidate records to a serving log (thread-safe; one transaction per record).

    Args:
        path: the serving log (created with the serving log's schema if new).
        pair: the primary and candidate this server runs.

    Raises:
        ArtifactError: the log cannot be opened or is not a featuredsl serving log.
    """

    def __init__(self, path: str | Path, pair: Pair, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.pair = pair
        self.written = 0
        self.dropped = 0
        self._lock = threading.Lock()
        try:
            self._conn = _connect(self.path, busy_timeout, "NORMAL")
            with _transaction(self._conn):
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(
                    "INSERT OR IGNORE INTO shadow_pairs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        pair.primary_fingerprint,
                        pair.candidate_fingerprint,
                        pair.primary_path,
                        pair.candidate_path,
                        json.dumps(list(pair.inputs)),
                        json.dumps(list(pair.primary_feature_names)),
                        json.dumps(list(pair.candidate_feature_names)),
                        pair.first_seen or time.time(),
                    ),
                )
        except sqlite3.Error as err:
            raise ArtifactError(f"{self.path}: cannot open the serving log ({err})") from None

    def write(
        self, request_id: str, outputs: Mapping[str, np.ndarray] | None, error: str | None
    ) -> None:
        """Record the candidate's outputs for `request_id` (or the error that stopped it).

        Raises:
            ArtifactError: SQLite cannot write the record (counted in `dropped`).
        """
        blob = None if outputs is None else encode_arrays(dict(outputs))
        record = (
            request_id,
            time.time(),
            self.pair.candidate_fingerprint,
            self.pair.primary_fingerprint,
            blob,
            error,
            os.getpid(),
        )
        with self._lock:
            try:
                with _transaction(self._conn):
                    self._conn.execute(
                        "INSERT INTO shadow (request_id, time, fingerprint, primary_fingerprint,"
                        " outputs, error, pid) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        record,
                    )
            except sqlite3.Error as err:
                self.dropped += 1
                raise ArtifactError(
                    f"{self.path}: could not log the shadow record of request {request_id} ({err})"
                ) from None
            self.written += 1

    def close(self) -> None:
        """Release the database."""
        with self._lock, suppress(sqlite3.Error):
            self._conn.close()


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ShadowRecord:
    """One logged request with the candidate's record: A's feed and outputs, B's outputs."""

    request_id: str
    rows: int
    inputs: dict[str, np.ndarray]
    primary: dict[str, np.ndarray]
    candidate: dict[str, np.ndarray] | None  # None when the candidate refused or failed
    error: str | None


@dataclass(frozen=True)
class PairRecords:
    """Everything the log holds for one pair."""

    pair: Pair
    records: tuple[ShadowRecord, ...]
    unshadowed: int  # A's requests logged since the pair was first served with no B record


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    }


def read_pairs(path: str | Path, *, limit: int | None = None) -> list[PairRecords]:
    """Every (A, B) pair in a serving log with its shadowed requests, oldest first.

    Args:
        path: a serving log written by `featuredsl serve --shadow`.
        limit: at most this many shadowed requests per pair.

    Raises:
        ArtifactError: not a serving log, no shadow records in it, or a corrupt record.
    """
    conn = open_log(path)
    try:
        if "shadow_pairs" not in _tables(conn):
            raise ArtifactError(
                f"{path}: has no live shadow records; write them with "
                "`featuredsl serve A --shadow B --log LOG`, or compare two builds on it with "
                "`featuredsl shadow A B --log LOG`"
            )
        pairs = [_pair(row) for row in conn.execute("SELECT * FROM shadow_pairs").fetchall()]
        return [_read_pair(conn, path, pair, limit) for pair in pairs]
    finally:
        conn.close()


def _pair(row: Sequence[Any]) -> Pair:
    return Pair(
        row[0],
        row[1],
        row[2],
        row[3],
        tuple(json.loads(row[4])),
        tuple(json.loads(row[5])),
        tuple(json.loads(row[6])),
        float(row[7]),
    )


def _read_pair(
    conn: sqlite3.Connection, path: str | Path, pair: Pair, limit: int | None
) -> PairRecords:
    query = (
        "SELECT r.request_id, r.rows, r.inputs, r.outputs, s.outputs, s.error, r.seq "
        "FROM shadow s JOIN requests r "
        "ON r.request_id = s.request_id AND r.fingerprint = s.primary_fingerprint "
        "WHERE s.fingerprint = ? AND s.primary_fingerprint = ? ORDER BY r.seq"
    )
    params: list[Any] = [pair.candidate_fingerprint, pair.primary_fingerprint]
    if limit is not None:
        query += " LIMIT ?"
        params.append(int(limit))
    records = list(_decoded(conn.execute(query, params), path))
    unshadowed = conn.execute(
        "SELECT COUNT(*) FROM requests r WHERE r.fingerprint = ? AND r.time >= ? AND NOT EXISTS "
        "(SELECT 1 FROM shadow s WHERE s.request_id = r.request_id AND s.fingerprint = ?)",
        (pair.primary_fingerprint, pair.first_seen, pair.candidate_fingerprint),
    ).fetchone()[0]
    return PairRecords(pair, tuple(records), int(unshadowed))


def _decoded(rows: Iterator[Sequence[Any]], path: str | Path) -> Iterator[ShadowRecord]:
    for rid, n, inputs, primary, candidate, error, seq in rows:
        try:
            yield ShadowRecord(
                rid,
                n,
                decode_arrays(inputs),
                decode_arrays(primary),
                None if candidate is None else decode_arrays(candidate),
                error,
            )
        except Exception as err:  # a corrupt blob: name the record, not Arrow's internals
            raise ArtifactError(f"{path}: record {seq} (request {rid}) is corrupt: {err}") from None
