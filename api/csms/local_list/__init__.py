"""D — local authorization list management."""
