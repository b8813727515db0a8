"""N02–N08 — monitoring and events."""
