"""The DuckDB warehouse: schema migrations, feed state and items, read-only queries.

Imports only ``silkwatch.{config,errors,types}``; everything that touches the file goes
through ``warehouse.db.open_db`` so locking and migrations are handled in one place.
"""
