"""Spec text -> checked Program: parse, check, lower. The one entry point to the front end."""

from __future__ import annotations

from pathlib import Path

from featuredsl.compiler.checker import Checker
from featuredsl.compiler.ir import Builder, Program
from featuredsl.errors import FeatureDSLError
from featuredsl.language.diagnostics import Diagnostic, DiagnosticError, Span
from featuredsl.language.formatter import format_spec
from featuredsl.language.parser import parse


def check_source(source: str, filename: str = "<spec>", builder: Builder | None = None) -> Program:
    """Parse and check spec text; raises DiagnosticError listing every problem found."""
    spec = parse(source, filename)
    canonical = format_spec(spec, source, comments=False)
    try:
        return Checker(spec, source, filename, builder).run(canonical)
    except RecursionError:
        # The parser bounds expression depth; this only guards pathological chains of lets.
        problem = Diagnostic(
            "spec too deeply nested to check", spec.span, "shorten chains of let definitions"
        )
        raise DiagnosticError([problem], source, filename) from None


def read_spec(path: str | Path) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise FeatureDSLError(f"{path}: cannot read the spec: {error.strerror}") from None
    return decode_spec(raw, str(path))


def decode_spec(raw: bytes, filename: str = "<spec>") -> str:
    """Spec bytes as text; bytes that are not UTF-8 are a diagnostic at their line and column."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        line = raw.count(b"\n", 0, error.start) + 1
        column = len(raw[line_start : error.start].decode("utf-8")) + 1
        problem = Diagnostic(
            f"the spec is not valid UTF-8 (byte {error.start}: 0x{raw[error.start]:02x})",
            Span(line, column, line, column + 1),
            "save the file as UTF-8",
        )
        shown = raw.decode("utf-8", errors="replace")
        raise DiagnosticError([problem], shown, filename) from None


def check_file(path: str | Path) -> Program:
    return check_source(read_spec(path), str(path))
