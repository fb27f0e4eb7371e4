"""Runtime helpers copied verbatim into generated numpy modules (which must need numpy only).

Each helper is plain, tested Python here; the numpy backend copies the source of the helpers a
module uses, so the generated file stays standalone.
"""

from __future__ import annotations

import re

import numpy as np

_STRING = np.dtypes.StringDType()
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _distinct(values):
    """(distinct values in first-seen order, index of each element among them): one dict pass."""
    items = np.asarray(values).reshape(-1).tolist()
    index = {value: i for i, value in enumerate(dict.fromkeys(items))}
    codes = np.fromiter(map(index.__getitem__, items), dtype=np.int64, count=len(items))
    return list(index), codes


def _lookup(values, table):
    """Index of each value in the vocabulary (a dict value -> index), or -1."""
    values = np.asarray(values)
    items = values.reshape(-1).tolist()  # str or int objects, whatever the array's dtype
    found = np.fromiter(map(table.get, items, [-1] * len(items)), dtype=np.int64, count=len(items))
    return found.reshape(values.shape)


def _bucketize(values, edges):
    """Number of edges <= value (numpy.searchsorted side='right'); NaN sorts last, so it lands in
    the last bucket, len(edges)."""
    return np.searchsorted(edges, values, side="right").astype(np.int64, copy=False)


def _pow(base, exponent):
    """IEEE pow. numpy swaps in sqrt/square/reciprocal when the exponent is a scalar (or a
    stride-0 view) of 0.5, 2, -1..., which differs from pow on -inf and -0.0: pass a real array."""
    base, exponent = np.broadcast_arrays(base, exponent)
    return np.power(base, np.array(exponent))


def _minimum(a, b):
    """IEEE 754-2019 minimum: NaN if either is NaN, and -0.0 below 0.0 (between two zeros
    np.minimum returns its second argument)."""
    low = np.minimum(a, b)
    return np.where((low == 0) & (np.signbit(a) | np.signbit(b)), -0.0, low)


def _maximum(a, b):
    """IEEE 754-2019 maximum: NaN if either is NaN, and 0.0 above -0.0 (between two zeros
    np.maximum returns its second argument)."""
    high = np.maximum(a, b)
    return np.where((high == 0) & ~(np.signbit(a) & np.signbit(b)), 0.0, high)


def _one_hot(index, width):
    """1.0 in column `index` of each row (indices outside 0..width-1 give a row of zeros)."""
    index = np.asarray(index)
    out = np.zeros((*index.shape, width), dtype=np.float64)
    flat, positions = out.reshape(-1, width), index.reshape(-1)
    valid = (positions >= 0) & (positions < width)
    flat[np.flatnonzero(valid), positions[valid]] = 1.0
    return out


def _one_hot_into(block, index):
    """_one_hot written into `block` (a rows x width view of the output) in place, without a
    rows x width temporary."""
    width = block.shape[1]
    block[...] = 0.0
    rows = np.flatnonzero((index >= 0) & (index < width))
    block[rows, index[rows]] = 1.0


def _rotl32(x, r):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _murmur3_rows(encoded, lengths):
    """MurmurHash3_x86_32 (seed 0) of equally padded byte strings, vectorised over rows."""
    rows = encoded.shape[0]
    width = encoded.dtype.itemsize
    padded = np.zeros((rows, (width + 3) // 4 * 4 + 4), dtype=np.uint8)
    if width:
        padded[:, :width] = encoded.view(np.uint8).reshape(rows, width)
    words = padded.view("<u4")
    c1, c2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)
    h = np.zeros(rows, dtype=np.uint32)
    blocks = lengths // 4
    for j in range(int(blocks.max(initial=0))):
        k = _rotl32(words[:, j] * c1, 15) * c2
        mixed = _rotl32(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
        h = np.where(j < blocks, mixed, h)
    tail_bytes = (lengths & 3).astype(np.uint64)
    tail = words[np.arange(rows), blocks].astype(np.uint64) & (
        (np.uint64(1) << (tail_bytes * np.uint64(8))) - np.uint64(1)
    )
    k = _rotl32(tail.astype(np.uint32) * c1, 15) * c2
    h = np.where(tail_bytes > 0, h ^ k, h)
    h = h ^ lengths.astype(np.uint32)
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _murmur3(values):
    """MurmurHash3_x86_32, seed 0, of each string's UTF-8 bytes, as a non-negative int64."""
    values = np.asarray(values)
    distinct, codes = _distinct(values)  # hash each distinct string once
    flat = np.array(distinct, dtype=_STRING)
    out = np.zeros(flat.shape[0], dtype=np.uint32)
    # Rows are hashed in groups of similar length so one long string does not pad every row.
    length_class = np.ceil(np.log2(np.strings.str_len(flat) + 1)).astype(np.int64)
    for group in np.unique(length_class):
        rows = np.nonzero(length_class == group)[0]
        encoded = np.strings.encode(flat[rows], "utf-8")
        out[rows] = _murmur3_rows(encoded, np.strings.str_len(encoded).astype(np.int64))
    return out.astype(np.int64)[codes].reshape(values.shape)


def _matches(values, pattern):
    """Full match of a portable regular expression; each distinct string is matched once."""
    compiled = re.compile(pattern, re.ASCII)
    values = np.asarray(values, dtype=_STRING)
    distinct, inverse = np.unique(values.reshape(-1), return_inverse=True)  # sorting is reliable
    hits = np.array(
        [compiled.fullmatch(text) is not None for text in distinct.tolist()], dtype=bool
    )
    return hits[inverse].reshape(values.shape)


HELPER_DEPENDENCIES = {
    "_murmur3": ("_rotl32", "_murmur3_rows", "_distinct", "_murmur3"),
    "_lookup": ("_lookup",),
    "_bucketize": ("_bucketize",),
    "_one_hot": ("_one_hot",),
    "_one_hot_into": ("_one_hot_into",),
    "_matches": ("_distinct", "_matches"),
    "_pow": ("_pow",),
    "_minimum": ("_minimum",),
    "_maximum": ("_maximum",),
}
