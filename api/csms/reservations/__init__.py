"""H — reservations."""
