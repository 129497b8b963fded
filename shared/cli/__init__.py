"""The ``tokenwarden`` command line and its rendering."""
