"""edgehost host runtime."""
