"""One module per trigger: each job wires its pieces from settings (see :mod:`shared.jobs.wiring`) and runs one pass."""
