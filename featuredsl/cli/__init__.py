"""The `featuredsl` command, one module per area."""
