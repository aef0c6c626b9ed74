"""Digi-Cadence domain layer: config, database, models, scoring, imports, demo data.

Nothing in here imports from `dashboard` or `api`.
"""
