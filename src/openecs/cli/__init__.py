"""Command line entry points: `openecs server`, `openecs up`, `openecs agent`, ..."""
