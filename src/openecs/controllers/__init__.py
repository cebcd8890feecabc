"""Reconcile loops that run inside the server (one leader with several replicas)."""
