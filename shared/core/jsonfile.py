"""Reading a JSON file a person points Tokenwarden at (``--jwks``, ``--apps``, ``APP_CATALOG_FILE``, ``KEY_SOURCES``).

Whatever the file holds, the answer is the document or one :class:`~shared.core.errors.DataError` line naming the file:
unreadable, not UTF-8 (a binary file), not JSON, or nested too deeply for the parser (``RecursionError``), never
a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.core.errors import DataError

__all__ = ["read_json_file"]


def read_json_file(path: Path, what: str) -> Any:
    """The JSON document in *path*; DataError (located at *path*) saying why not. *what* names the file's role."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read {what}: {exc.strerror or type(exc).__name__}", location=str(path)) from None
    except UnicodeDecodeError:
        raise DataError(f"{what} is not UTF-8 text (a binary file?)", location=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON at line {exc.lineno}: {exc.msg}", location=str(path)) from None
    except RecursionError:
        raise DataError(f"{what} is nested too deeply to be read", location=str(path)) from None
    except ValueError as exc:  # an integer past Python's digit limit
        raise DataError(f"{what} is not usable JSON: {str(exc).splitlines()[0][:120]}", location=str(path)) from None
