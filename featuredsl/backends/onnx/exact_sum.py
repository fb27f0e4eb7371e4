from __future__ import annotations


def __getattr__(name):
    raise NotImplementedError(name)
