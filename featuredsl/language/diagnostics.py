"""One diagnostic type for parser, checker, fitter and backends: position, caret, hint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from featuredsl.errors import FeatureDSLError


@dataclass(frozen=True)
class Span:
    """A region of spec text; lines and columns are 1-based, end is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def unknown() -> Span:
        return Span(0, 0, 0, 0)


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span
    hint: str = ""
    severity: str = "error"

    def render(self, source: str, filename: str) -> str:
        head = f"{filename}:{self.span.line}:{self.span.column}: {self.severity}: {self.message}"
        lines = [head]
        source_lines = source.splitlines()
        if 1 <= self.span.line <= len(source_lines):
            text = source_lines[self.span.line - 1].expandtabs(1)
            width = 1
            if self.span.end_line == self.span.line and self.span.end_column > self.span.column:
                width = self.span.end_column - self.span.column
            lines.append(f"  {self.span.line:>4} | {text}")
            lines.append("       | " + " " * (self.span.column - 1) + "^" * width)
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class DiagnosticError(FeatureDSLError):
    """All diagnostics of one spec file, raised once after collecting them."""

    def __init__(self, diagnostics: Iterable[Diagnostic], source: str, filename: str):
        self.diagnostics = tuple(sorted(diagnostics, key=lambda d: (d.span.line, d.span.column)))
        self.source = source
        self.filename = filename
        super().__init__(self.render())

    def render(self) -> str:
        parts = [d.render(self.source, self.filename) for d in self.diagnostics]
        count = len(self.diagnostics)
        parts.append(f"{count} error{'s' if count != 1 else ''} in {self.filename}")
        return "\n".join(parts)


class DiagnosticSink:
    """Collects diagnostics so a pass can report every error, then raise once."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, message: str, span: Span, hint: str = "") -> None:
        self.items.append(Diagnostic(message, span, hint))

    def raise_if_any(self, source: str, filename: str) -> None:
        if self.items:
            raise DiagnosticError(self.items, source, filename)
