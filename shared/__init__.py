"""Tokenwarden's core library: detection, key intelligence, log sources and the CLI.

Submodules are imported on demand; this package imports nothing at start-up so
that the Function App's cold start pays only for what a trigger uses.
"""
