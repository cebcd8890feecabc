"""One function per operation. Each owns its transaction and is the only writer of state."""
