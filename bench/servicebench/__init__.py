"""Helpers of the service benchmarks (bench/self_heal.py, bench/deploy.py)."""
