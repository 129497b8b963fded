"""Thin trigger adapters: parse the trigger, call ``shared``, render the result."""
