"""The featuredsl language front end: grammar, parser, AST, diagnostics, formatter."""
