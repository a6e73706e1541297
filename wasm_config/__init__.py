"""edgehost tenant contract."""
