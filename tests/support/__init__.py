"""Test support: real server processes, AWS clients, local PostgreSQL."""
