"""One text rule at every boundary: strings must be Unicode NFC, else a clear error.

"Café" written with U+00E9 and with e + U+0301 are canonically equal; a vocabulary learnt from
one spelling would send the other to the out-of-vocabulary bucket with no error. featuredsl
compares text by code points and refuses non-NFC text in the spec, at fit, in the numpy module
and in the serving Session (the ONNX graph cannot check; callers in other languages normalize,
see docs/serving.md), naming the column and row.
"""

from __future__ import annotations

import numpy as np
import pytest

from featuredsl.artifact.spec import Spec
from featuredsl.errors import DataError
from featuredsl.language.diagnostics import DiagnosticError
from featuredsl.runtime.serving import Session

COMPOSED = "Caf\u00e9"
DECOMPOSED = "Cafe\u0301"
SPEC = "spec u\ninput { s: string }\nfeature f = lookup(s, vocab(s))\n"


def _fitted():
    return Spec(SPEC, "u.fdsl").fit({"s": np.array([COMPOSED, "Tea", COMPOSED], dtype=object)})


def test_fit_refuses_decomposed_text_naming_column_and_row() -> None:
    with pytest.raises(DataError, match=r"column 's', row 1: 'Cafe\\u0301' is not in Unicode NFC"):
        Spec(SPEC, "u.fdsl").fit({"s": np.array([COMPOSED, DECOMPOSED], dtype=object)})


def test_numpy_module_refuses_decomposed_text() -> None:
    fitted = _fitted()
    assert fitted.transform({"s": np.array([COMPOSED], dtype=object)}).tolist() == [[0.0]]
    with pytest.raises(Exception, match=r"column 's', row 2: 'Cafe\\u0301' is not in Unicode NFC"):
        fitted.transform_feed({"s": np.array(["Tea", COMPOSED, DECOMPOSED], dtype=object)})


def test_session_refuses_decomposed_request(tmp_path) -> None:
    _fitted().save(tmp_path / "build")
    session = Session(tmp_path / "build")
    assert session.transform([{"s": COMPOSED}]).tolist() == [[0.0]]
    with pytest.raises(DataError, match=r"column 's', row 0: 'Cafe\\u0301' is not in Unicode NFC"):
        session.transform([{"s": DECOMPOSED}])


def test_spec_string_literal_must_be_nfc() -> None:
    with pytest.raises(DiagnosticError, match="string is not in Unicode NFC form"):
        Spec('spec u\ninput { s: string }\nfeature f = s == "Cafe\\u0301"\n', "u.fdsl")


def test_a_lone_combining_mark_is_nfc_and_accepted() -> None:
    fitted = _fitted()
    out = fitted.transform({"s": np.array(["\u0301", "Tea"], dtype=object)})
    assert out[:, 0].tolist() == [2.0, 1.0]  # out of vocabulary, then "Tea"
