"""K — smart charging."""
