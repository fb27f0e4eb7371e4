"""The portable regular-expression subset of matches(): read identically by RE2 and Python re.

The ONNX backend runs RegexFullMatch (RE2); the numpy backend runs Python's re with re.ASCII.
Both must accept a pattern and agree on what it matches, so the checker only lets through a
subset whose meaning is the same in both:

- literal characters (non-ASCII ones too) and ASCII punctuation escaped with a backslash;
- ``.``; the escapes ``\\d \\D \\w \\W`` (ASCII in both) and ``\\n \\t \\r \\f \\v \\xHH``;
- classes ``[...]`` with ranges and ``^`` negation (no nested ``[``, no POSIX ``[:alpha:]``);
- groups ``(...)`` and ``(?:...)``, alternation ``|``;
- quantifiers ``* + ? {m} {m,} {m,n}`` (at most 1000, also when nested), optionally lazy.

Everything else is rejected with a short reason: anchors (a match is always of the whole
string), ``\\s`` (RE2 leaves out \\v, Python does not), ``\\b``, backreferences, lookaround,
named groups, inline flags, atomic groups and possessive quantifiers, ``\\p{..}``, octal escapes.
"""

from __future__ import annotations

import re
import string
import warnings

MAX_REPEAT = 1000  # RE2's limit for a counted repetition, also for nested ones
MAX_DEPTH = 100  # nesting of groups
PUNCTUATION = frozenset(string.punctuation)
CLASS_ESCAPES = frozenset("dDwW")
CONTROL_ESCAPES = frozenset("ntrfv")
SPECIAL = frozenset("\\.[](){}|*+?^$")
QUANTIFIERS = frozenset("*+?{")

# Why an escape letter is not portable; letters not listed are unknown to one of the engines.
ESCAPE_REASONS = {
    "s": "\\s (RE2's \\s leaves out \\v, Python's includes it: write [ \\t\\n\\r\\f])",
    "S": "\\S (RE2 and Python disagree on \\v: write [^ \\t\\n\\r\\f])",
    "b": "word boundary \\b",
    "B": "\\B",
    "A": "anchor \\A (matches() always tests the whole string)",
    "z": "anchor \\z (matches() always tests the whole string)",
    "Z": "anchor \\Z (matches() always tests the whole string)",
    "p": "Unicode class \\p{..}",
    "P": "Unicode class \\P{..}",
    "u": "\\u escape (write the character itself)",
    "U": "\\U escape (write the character itself)",
    "N": "\\N escape (write the character itself)",
    "Q": "\\Q...\\E quoting",
    "E": "\\E",
    "C": "\\C",
    "G": "\\G",
    "a": "\\a escape",
}
GROUP_REASONS = {
    "=": "lookahead (?=...)",
    "!": "negative lookahead (?!...)",
    "<=": "lookbehind (?<=...)",
    "<!": "negative lookbehind (?<!...)",
    "P<": "named group (?P<name>...)",
    "P=": "named backreference (?P=name)",
    "<": "named group (?<name>...)",
    "#": "comment group (?#...)",
    ">": "atomic group (?>...)",
}


class _NotPortable(Exception):
    pass


class _Scanner:
    """Recursive descent over a pattern; raises _NotPortable with the first problem found."""

    def __init__(self, pattern: str):
        self.text = pattern
        self.pos = 0

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def fail(self, reason: str) -> _NotPortable:
        return _NotPortable(f"position {self.pos + 1}: {reason}")

    # ------------------------------------------------------------ structure
    def alternation(self, depth: int) -> int:
        """Parse up to ')' or the end; returns the largest repeat count reached inside."""
        if depth > MAX_DEPTH:
            raise self.fail(f"groups nested more than {MAX_DEPTH} deep")
        widest = self.sequence(depth)
        while self.peek() == "|":
            self.pos += 1
            widest = max(widest, self.sequence(depth))
        return widest

    def sequence(self, depth: int) -> int:
        widest = 1
        while self.peek() not in ("", "|", ")"):
            if self.peek() in QUANTIFIERS:
                raise self.fail(f"quantifier '{self.peek()}' with nothing to repeat")
            inner = self.atom(depth)
            count = self.quantifier()
            if inner * count > MAX_REPEAT:
                raise self.fail(f"nested repetition above {MAX_REPEAT}")
            widest = max(widest, inner * count)
        return widest

    def atom(self, depth: int) -> int:
        char = self.peek()
        if char == "(":
            return self.group(depth)
        if char == "[":
            self.char_class()
        elif char == "\\":
            self.escape()
        elif char in "^$":
            raise self.fail(f"anchor '{char}' (matches() always tests the whole string)")
        elif char in "]}":
            raise self.fail(f"unescaped '{char}'; write \\{char}")
        else:
            self.pos += 1  # a literal character or '.'
        return 1

    def group(self, depth: int) -> int:
        self.pos += 1
        if self.peek() == "?":
            if self.peek(1) != ":":
                raise self.fail(self._group_reason())
            self.pos += 2
        inner = self.alternation(depth + 1)
        if self.peek() != ")":
            raise self.fail("unbalanced '(': missing ')'")
        self.pos += 1
        return inner

    def _group_reason(self) -> str:
        rest = self.text[self.pos + 1 : self.pos + 3]
        for prefix in sorted(GROUP_REASONS, key=len, reverse=True):
            if rest.startswith(prefix):
                return GROUP_REASONS[prefix]
        return "inline flags or extension (?...)"

    def quantifier(self) -> int:
        char = self.peek()
        if char in "*+?":
            self.pos += 1
            count = 1  # unbounded repeats do not count towards RE2's repetition limit
        elif char == "{":
            count = self.counted()
        else:
            return 1
        if self.peek() == "?":
            self.pos += 1  # lazy: same full-match result in both engines
        if self.peek() in QUANTIFIERS:
            raise self.fail("quantifier after a quantifier (possessive or nested repeat)")
        return count

    def counted(self) -> int:
        match = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(self.text, self.pos)
        if match is None:
            raise self.fail(
                "'{' that is not a repetition {m}, {m,} or {m,n}; write \\{ for a brace"
            )
        if any(len(group or "") > 9 for group in (match.group(1), match.group(3))):
            raise self.fail(f"repetition count above {MAX_REPEAT}")  # before int(): any length
        low = int(match.group(1))
        high = low if match.group(2) is None else int(match.group(3) or low)
        if match.group(3) and high < low:
            raise self.fail(f"repetition {{{low},{high}}} with max below min")
        if max(low, high) > MAX_REPEAT:
            raise self.fail(f"repetition count above {MAX_REPEAT}")
        self.pos = match.end()
        return max(low, high, 1)

    # ------------------------------------------------------------ escapes and classes
    def escape(self) -> str:
        """Consume an escape; returns the character it stands for, or '' for \\d-style classes."""
        code = self.peek(1)
        if code == "":
            raise self.fail("trailing backslash")
        if code in PUNCTUATION:
            self.pos += 2
            return code
        if code in CLASS_ESCAPES:
            self.pos += 2
            return ""
        if code in CONTROL_ESCAPES:
            self.pos += 2
            return {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}[code]
        if code == "x":
            digits = self.text[self.pos + 2 : self.pos + 4]
            if len(digits) == 2 and all(c in string.hexdigits for c in digits):
                self.pos += 4
                return chr(int(digits, 16))
            raise self.fail("\\x needs exactly two hex digits (\\x{...} is not portable)")
        if code.isdigit():
            raise self.fail("backreference or octal escape \\" + code)
        reason = ESCAPE_REASONS.get(code)
        if reason is None:
            reason = f"unknown escape \\{code}" if code.isascii() else f"escaped non-ASCII '{code}'"
        raise self.fail(reason)

    def char_class(self) -> None:
        start = self.pos
        self.pos += 1
        if self.peek() == "^":
            self.pos += 1
        first = self.pos
        while True:
            char = self.peek()
            if char == "":
                self.pos = start
                raise self.fail("unterminated class '['")
            if char == "]":
                if self.pos == first:
                    raise self.fail("empty class, or ']' first in a class; write \\]")
                self.pos += 1
                return
            self.class_item(first)

    def class_item(self, first: int) -> None:
        char = self.peek()
        if char == "[":
            raise self.fail("'[' inside a class (nested class or [:posix:]); write \\[")
        if char == "-":
            self._class_dash(first)
            return
        if self.text[self.pos : self.pos + 2] in ("&&", "~~", "||"):
            raise self.fail(
                f"'{self.text[self.pos : self.pos + 2]}' inside a class; escape one of them"
            )
        low = self.class_char()
        if self.peek() == "-" and self.peek(1) not in ("]", ""):
            self.pos += 1
            high = self.class_char()
            if low == "" or high == "":
                raise self.fail("range with \\d, \\w, \\D or \\W as an end")
            if ord(high) < ord(low):
                raise self.fail(f"range {low!r}-{high!r} out of order")

    def _class_dash(self, first: int) -> None:
        at_edge = self.pos == first or self.peek(1) == "]"
        if not at_edge or self.peek(1) == "-":
            raise self.fail(
                "'-' inside a class that is not a range; write \\- or put it first or last"
            )
        self.pos += 1

    def class_char(self) -> str:
        if self.peek() == "\\":
            return self.escape()
        char = self.peek()
        self.pos += 1
        return char


def check_portable_regex(pattern: str) -> str:
    """Return "" when `pattern` is in the portable subset (same meaning in RE2 and re.ASCII),
    else a short reason."""
    scanner = _Scanner(pattern)
    try:
        scanner.alternation(0)
        if scanner.pos < len(pattern):
            raise scanner.fail("unbalanced ')'")
    except _NotPortable as problem:
        return str(problem)
    return _python_problem(pattern)


def _python_problem(pattern: str) -> str:
    # The last word belongs to Python: whatever it cannot compile cleanly is not portable.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            re.compile(pattern, re.ASCII)
    except (re.error, FutureWarning, DeprecationWarning, RecursionError, OverflowError) as error:
        return f"Python's re rejects it: {error}"
    return ""
