"""Click commands, one module per area; registered lazily in featuredsl.cli."""
