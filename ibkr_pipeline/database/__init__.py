"""The project database (SQLAlchemy): the ledger of orders and fills, claims, kill switch, caches, pacing budget."""
