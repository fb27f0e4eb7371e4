"""Serving: the validated Session, scikit-learn integration, bundles and shadow comparison."""
