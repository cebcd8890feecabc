"""Durable state: SQLAlchemy tables, repositories, migrations (SQLite or PostgreSQL)."""
