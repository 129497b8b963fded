"""``python -m shared.cli``: the same command line as the ``tokenwarden`` script."""

from shared.cli.main import main

raise SystemExit(main())
