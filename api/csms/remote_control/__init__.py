"""F — remote control: start, stop, unlock, trigger."""
