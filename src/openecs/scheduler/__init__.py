"""Placement: a pure pipeline over a read-only view of a cluster.

    candidates → filters (each records why it rejected an instance)
               → strategies (binpack, spread, random; chained)
               → plan (placements + failures)

The scheduler never touches storage; the use case that applies a plan does,
with optimistic concurrency, so concurrent placements never oversubscribe.
"""
