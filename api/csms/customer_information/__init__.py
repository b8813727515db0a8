"""N09/N10 — customer information."""
