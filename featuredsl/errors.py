"""User-facing error types. Anything raised from these reaches the user as a message, never a traceback."""

from __future__ import annotations


class FeatureDSLError(Exception):
    """Base of every error meant for a person: the CLI prints str(err) and exits 1."""


class DataError(FeatureDSLError):
    """Bad training data or a bad serving request: the message names the column (and row)."""


class ArtifactError(FeatureDSLError):
    """A build directory, model or log that is missing, corrupt or of another version."""
