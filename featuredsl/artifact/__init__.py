"""Artifacts: the contract, building, the manifest and fingerprint, and loading with integrity checks."""
