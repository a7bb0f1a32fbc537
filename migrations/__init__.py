"""Alembic migration scripts for Threadline's database (run through ``bot.store.migrate``)."""
