"""Packages only so that each block may have its own test_handlers.py / test_commands.py: pytest
imports a test file by its name, and two folders' test_handlers.py would otherwise collide."""
