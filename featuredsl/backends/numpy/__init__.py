"""The numpy backend: renders the primitive IR as a standalone Python module (numpy only)."""
