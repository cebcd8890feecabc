"""Placement: a pure pipeline over a read-only view of a cluster.

    candidates → filters (each records why it rejected an instance)
               → strategies (binpack, spread, random; chained)
               → plan (placements + failures + rejections)

Modules, one concept each:

    view.py               ClusterView / InstanceView / PlacementRequest: the snapshot
    query_language.py     the cluster query language: tokenizer, parser, compiler
    constraints.py        placementConstraints validated (distinctInstance, memberOf)
    strategies.py         placementStrategy validated; ECS's default chains
    filters.py            feasibility filters, each with ECS's failure reason
    ranking.py            incremental selectors that apply a strategy chain
    placement.py          place_tasks(view, request) -> Plan
    capacity_providers.py split_by_capacity_provider: base, then weights

The scheduler never touches storage; the use case that applies a plan does,
with optimistic concurrency, so concurrent placements never oversubscribe.
"""
