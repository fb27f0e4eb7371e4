"""Data types, nullability and shapes of featuredsl values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class DType(str, Enum):
    FLOAT = "float"  # IEEE-754 binary64; NaN is the null of a nullable float
    INT = "int"  # int64, two's complement, wraps on overflow
    BOOL = "bool"
    STRING = "string"  # Unicode text; UTF-8 at the ONNX boundary; U+0000 is not allowed
    TIMESTAMP = "timestamp"  # UTC instant, int64 microseconds since 1970-01-01T00:00:00Z

    @property
    def numeric(self) -> bool:
        return self in (DType.FLOAT, DType.INT)

    def __str__(self) -> str:
        return self.value


class Shape(str, Enum):
    ROW = "row"  # one value per input row
    SCALAR = "scalar"  # one value for all rows (a literal or a fitted statistic)
    LIST = "list"  # a constant vector (a list literal, quantiles or a vocabulary)


@dataclass(frozen=True)
class Type:
    dtype: DType
    shape: Shape = Shape.ROW
    width: int | None = 1  # columns of a row value; None until fitted (one_hot over a vocab)

    def __str__(self) -> str:
        if self.shape is Shape.LIST:
            return f"list[{self.dtype}]"
        return str(self.dtype)


def type_text(dtype: DType, nullable: bool, shape: Shape = Shape.ROW) -> str:
    base = f"list[{dtype}]" if shape is Shape.LIST else str(dtype)
    return base + ("?" if nullable else "")
