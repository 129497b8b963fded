"""Following Tokenwarden's untrusted-key list: ``untrusted-keys.json`` in the ``signing-keys`` container.

Tokenwarden writes the blob (``shared/respond/steps/untrusted_keys.py`` in its repository) as::

    {"version": 1, "generated_at": "...Z", "kids": ["1LTMzakihiRla_8z2BEJVXeWMqo", ...],
     "thumbprints": ["d4b4cccd...", ...], "observed_kids": [...], "sha256": "..."}

The follower reads it every ``interval`` seconds with a conditional GET (``If-None-Match`` with the last ETag,
so an unchanged list costs a 304 and no body: https://learn.microsoft.com/rest/api/storageservices/get-blob,
"Specifying conditional headers for Blob service operations"). Every kid and thumbprint is added to the
sensor's untrusted set; the set only grows while the process lives (a key once published as untrusted is never
trusted again by a sensor that saw it). New keys trigger the app's key-refresh callback, once per change.

The app's identity needs *Storage Blob Data Reader* on the container (or a connection string locally).
A missing blob, a refused read or an unreachable account is counted and logged once a minute, never raised.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = ["BLOB_NAME", "CONTAINER", "UntrustedKeyFollower", "keys_in_document"]

CONTAINER = "signing-keys"
BLOB_NAME = "untrusted-keys.json"
log = logging.getLogger("tokenwarden_sensor")


def keys_in_document(document: object) -> list[str]:
    """The kids and thumbprints an untrusted-key document lists (anything malformed is skipped)."""
    if not isinstance(document, dict):
        return []
    found: list[str] = []
    for field in ("kids", "thumbprints", "observed_kids"):
        values = document.get(field)
        if isinstance(values, list):
            found += [v for v in values if isinstance(v, str) and v.strip()]
    return found


class UntrustedKeyFollower:
    """Polls one blob in a daemon thread and hands the keys it lists to ``on_keys``."""

    def __init__(self, on_keys: Callable[[Iterable[str]], object], *, account_url: str | None = None,
                 credential: TokenCredential | None = None, connection_string: str | None = None,
                 container: str = CONTAINER, blob: str = BLOB_NAME, interval: float = 10.0) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if not connection_string and not (account_url and credential is not None):
            raise ValueError("the untrusted-key list needs account_url and credential, or a connection string")
        self.interval = interval
        self.container = container
        self.blob = blob
        self.etag: str | None = None
        self.polls = 0
        self.changes = 0
        self.errors = 0
        self._on_keys = on_keys
        self._account_url = account_url
        self._credential = credential
        self._connection_string = connection_string
        self._client: Any = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_warning = 0.0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tokenwarden-sensor-untrusted-keys", daemon=True)
            self._thread.start()

    def poll(self) -> bool:
        """Read the blob once (conditionally); True when it changed. Never raises."""
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            AzureError,
            ResourceModifiedError,
            ResourceNotFoundError,
            ResourceNotModifiedError,
        )

        self.polls += 1
        try:
            client = self._blob_client()
            conditions: dict[str, Any] = (
                {"etag": self.etag, "match_condition": MatchConditions.IfModified} if self.etag else {})
            downloader = client.download_blob(**conditions, timeout=10)
            raw = downloader.readall()
            etag = downloader.properties.etag
        except (ResourceNotModifiedError, ResourceModifiedError):
            # The service answers the conditional GET with 304 and x-ms-error-code ConditionNotMet, which
            # azure-storage-blob raises as ResourceModifiedError: either way, the list did not change.
            return False
        except ResourceNotFoundError:
            return False  # nothing published yet
        except (AzureError, OSError, ValueError) as exc:
            self.errors += 1
            detail = " ".join(str(exc).split())[:200]
            self._warn(f"reading {self.container}/{self.blob}: {type(exc).__name__}: {detail}")
            return False
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self.errors += 1
            self._warn(f"{self.container}/{self.blob} is not JSON; keeping the keys already known")
            return False
        self.etag = etag
        self.changes += 1
        try:
            self._on_keys(keys_in_document(document))
        except Exception as exc:  # the app's callback: its failure must not stop the follower
            self.errors += 1
            self._warn(f"the untrusted-key callback failed: {type(exc).__name__}: {exc}")
        return True

    def wake(self) -> None:
        """Poll now instead of at the next tick (a webhook event said the list changed)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._wake.wait(self.interval)
            self._wake.clear()

    def _blob_client(self) -> Any:
        if self._client is None:
            from azure.storage.blob import BlobClient

            # No SDK retries (its first backoff is 15 s): the next poll, `interval` seconds on, is the retry.
            options: dict[str, Any] = {"connection_timeout": 5.0, "read_timeout": 10.0, "retry_total": 0}
            if self._connection_string:
                self._client = BlobClient.from_connection_string(self._connection_string, self.container, self.blob,
                                                                 **options)
            else:
                self._client = BlobClient(f"{(self._account_url or '').rstrip('/')}", self.container, self.blob,
                                          credential=self._credential, **options)
        return self._client

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 60.0:
            self._last_warning = now
            log.warning("tokenwarden sensor: %s", message)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self._client is not None:
            client, self._client = self._client, None
            client.close()
