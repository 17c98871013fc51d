"""Django's PostgreSQL backend with a rate-limited connection health check (see base.py)."""
