"""The syntax tree of a spec: frozen nodes; positions are carried but ignored by equality."""

from __future__ import annotations

from dataclasses import dataclass, field

from featuredsl.language.diagnostics import Span

# Positions are carried for diagnostics but ignored by equality and hashing.
NO_SPAN = Span.unknown()


@dataclass(frozen=True)
class Expr:
    pass


@dataclass(frozen=True)
class Number(Expr):
    text: str
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)

    @property
    def is_int(self) -> bool:
        return self.text.isdigit()


@dataclass(frozen=True)
class String(Expr):
    value: str
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Bool(Expr):
    value: bool
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Null(Expr):
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Name(Expr):
    id: str
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # "-" or "not"
    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Member(Expr):
    """`source.column`: a column of an event source (only inside a window aggregate)."""

    source: str
    column: str
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Duration(Expr):
    """A duration literal (`7d`, `90s`): the length of a window; `micros` in microseconds."""

    text: str
    micros: int
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Keyword:
    name: str
    value: Expr
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)
    func_span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class ListExpr(Expr):
    items: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class IfExpr(Expr):
    condition: Expr
    then: Expr
    otherwise: Expr
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class ColumnOption:
    """A freshness option of a column: `as_of COLUMN`, `max_age DURATION` or `else POLICY`.

    `value` is the as-of column's name, the duration as written (`6h`) or the policy
    (`refuse` / `null`); `micros` is the duration in microseconds (max_age only)."""

    kind: str  # "as_of", "max_age" or "else"
    value: str
    micros: int | None = None
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Column:
    name: str
    type_name: str
    nullable: bool
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)
    options: tuple[ColumnOption, ...] = ()


@dataclass(frozen=True)
class TimeDecl:
    """`time COLUMN` in the input block: the column holding each row's prediction time."""

    column: str
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class EventSource:
    """`events NAME by KEY [lag DURATION] { ... }`: a table of events keyed by an input column.

    `columns` and `time_decls` are written like the input block's; `lag` is the duration as
    written ("" when absent) and `lag_micros` its microseconds (0 when absent)."""

    name: str
    key: str
    columns: tuple[Column, ...]
    time_decls: tuple[TimeDecl, ...] = ()
    sources: tuple[EventSource, ...] = ()
    lag: str = ""
    lag_micros: int = 0
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)
    name_span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)
    key_span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Statement:
    kind: str  # "let" or "feature"
    name: str
    expr: Expr
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)
    name_span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Comment:
    text: str  # including the leading '#'
    line: int
    own_line: bool  # False when it trails code on the same line


@dataclass(frozen=True)
class Spec:
    name: str
    columns: tuple[Column, ...]
    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False, hash=False, repr=False)
    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)
    input_span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False)
    time_decls: tuple[TimeDecl, ...] = ()
    sources: tuple[EventSource, ...] = ()
