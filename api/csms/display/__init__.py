"""O — display messages."""
