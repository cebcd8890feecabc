"""Platform services every layer may use: clock, ids, configuration, logging."""
