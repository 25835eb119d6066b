"""Helpers for testing latentedit and its plugins (importable by third-party plugin test suites)."""
