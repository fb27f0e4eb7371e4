"""The fingerprint: sha256 of the canonical spec text and the fitted constants (and the tzdata
version of a spec that names a time zone). Both artifacts, the manifest and bundles carry it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from featuredsl.compiler.ir import Program, walk


def fingerprint_of(
    canonical_source: str,
    values: Sequence[Any],
    params: Sequence[Any],
    tzdata: str | None = None,
) -> str:
    """sha256 (hex) of the canonical spec text, the fitted constants' values and parameters, and,
    for a spec that names a time zone, the tzdata version its zone tables come from."""
    content: dict[str, Any] = {"spec": canonical_source, "constants": list(values)}
    content["params"] = list(params)
    if tzdata is not None:
        content["tzdata"] = tzdata
    payload = json.dumps(content, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def tzdata_of(program: Program) -> str | None:
    """The tzdata version of the zone tables in `program`, or None when it names no zone."""
    versions = {node.attr("tzdata") for node in walk(program.roots) if node.op == "gather"}
    return versions.pop() if versions else None


def manifest_fingerprint(manifest: Mapping[str, Any]) -> str:
    """The fingerprint recomputed from the manifest's canonical spec and fitted constants."""
    return fingerprint_of(
        manifest["canonical_spec"],
        [c["value"] for c in manifest["constants"]],
        [c["params"] for c in manifest["constants"]],
        manifest.get("tzdata"),
    )
