"""Fitting: analyzers as mergeable accumulators, and phased fitting of a checked program."""
