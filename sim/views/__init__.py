"""Figures drawn from tidy tables (``figures``) and the dashboard's live charts (``charts``).
They import the schema and the core only, never the orchestration that produced the tables."""
