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
        lines = [head, *self._excerpt(source)]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def _excerpt(self, source: str) -> list[str]:
        """The source line and a caret under the span (an empty line past the end of the text)."""
        # Lines are counted by '\n' alone, as the parser counts them (not str.splitlines).
        source_lines = source.split("\n")
        line = max(self.span.line, 1)
        text = source_lines[line - 1] if line <= len(source_lines) else ""
        text = _printable(text.rstrip("\r"))
        column = max(self.span.column, 1)
        width = 1
        if self.span.end_line == self.span.line and self.span.end_column > column:
            width = self.span.end_column - column
        width = max(1, min(width, len(text) + 1 - (column - 1)))
        text, offset, visible = _window(text, column - 1)
        width = min(width, max(1, visible - offset))
        return [f"  {line:>4} | {text}", "       | " + " " * offset + "^" * width]


EXCERPT_WIDTH = 160  # longer lines are shown as a window around the column, marked with ...


def _window(text: str, index: int) -> tuple[str, int, int]:
    """The part of a long line around `index`: the text shown, where `index` falls in it, and
    where the line's own characters end in it (a caret may sit one past the end)."""
    if len(text) <= EXCERPT_WIDTH:
        return text, index, len(text) + 1
    start = max(0, min(index - EXCERPT_WIDTH // 3, len(text) - EXCERPT_WIDTH))
    end = start + EXCERPT_WIDTH
    head = "..." if start > 0 else ""
    tail = "..." if end < len(text) else ""
    visible = len(head) + EXCERPT_WIDTH + (0 if tail else 1)
    return head + text[start:end] + tail, len(head) + index - start, visible


def _printable(text: str) -> str:
    # One character per column, so the caret lines up: tabs and control characters become spaces.
    return "".join(" " if (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) else c for c in text)


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
