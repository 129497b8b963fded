"""The published untrusted-key list: one JSON blob that apps poll when they cannot subscribe to events.

``signing-keys/untrusted-keys.json`` in the Function App's storage account holds::

    {"version": 1, "generated_at": "2026-11-28T21:40:00Z",
     "kids": ["1LTMzakihiRla_8z2BEJVXeWMqo", ...], "thumbprints": ["d4b4cccd...", ...],
     "observed_kids": [...], "sha256": "<hash of everything but generated_at>"}

``kids`` are JWKS ``kid`` spellings (base64url without padding for thumbprint-based ids, opaque ids as given)
and ``thumbprints`` lower-case hex. The list is the shipped compromised keys, the operator's
``EXTRA_COMPROMISED_KEYS``, and every key id a response step has flagged (``observed_kids``). Flagged ids are
cumulative: each write keeps the ones already published, so one case's keys are not dropped by the next case's
write; shipped and operator keys are recomputed every time, so removing an operator key removes it.

Writes are idempotent and ETag-guarded: the blob is read, merged, and rewritten only when the content hash
(kept in the blob's ``sha256`` metadata and in the document) changed, with ``If-Match`` (or
``If-None-Match: *`` for the first write), so concurrent writers never lose each other's flagged keys. In
Azure the blob endpoint (``AzureWebJobsStorage__blobServiceUri``) is reached with the app's identity; locally
a connection string (Azurite's) is used and the container is created on first use.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.core.errors import ConfigurationError, DataError, ThrottledError, UpstreamError
from shared.core.resource_names import BLOB_CONTAINER_SIGNING_KEYS, UNTRUSTED_KEYS_BLOB
from shared.detect.keys.compromised import CompromisedKeyList, load_compromised_keys
from shared.detect.keys.forms import key_forms
from shared.respond.transport.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.storage.blob.aio import BlobServiceClient, ContainerClient

    from shared.core.settings import Settings

__all__ = ["DOCUMENT_VERSION", "PublishResult", "UntrustedKeyList", "UntrustedKeyPublisher", "untrusted_key_list"]

DOCUMENT_VERSION = 1
_HASH_METADATA = "sha256"
_MAX_CONFLICTS = 5


def _spellings(value: str) -> tuple[set[str], set[str]]:
    """The published kid and thumbprint spellings of one key id or thumbprint."""
    forms = key_forms(value)
    text = value.strip()
    if not forms.thumbprints:
        return {text}, set()
    kids = {base64.urlsafe_b64encode(bytes.fromhex(t)).decode("ascii").rstrip("=") for t in forms.thumbprints}
    if text.lower() not in forms.thumbprints:
        kids.add(text)  # the id as the issuer spelled it, when it was not hex
    return kids, set(forms.thumbprints)


@dataclass(frozen=True, kw_only=True)
class UntrustedKeyList:
    """What the blob says, without its timestamp; ``content_hash`` identifies it."""

    kids: tuple[str, ...]
    thumbprints: tuple[str, ...]
    observed_kids: tuple[str, ...] = ()
    """Key ids response steps flagged (as given to them), carried from one write to the next."""

    def content(self) -> dict[str, Any]:
        return {"version": DOCUMENT_VERSION, "kids": list(self.kids), "thumbprints": list(self.thumbprints),
                "observed_kids": list(self.observed_kids)}

    @property
    def content_hash(self) -> str:
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def document(self, generated_at: datetime) -> dict[str, Any]:
        stamp = generated_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return {**self.content(), "generated_at": stamp, "sha256": self.content_hash}


def untrusted_key_list(compromised: CompromisedKeyList, observed: Iterable[str] = ()) -> UntrustedKeyList:
    """The compromised list (shipped plus ``EXTRA_COMPROMISED_KEYS``, as loaded) plus *observed* key ids."""
    kids: set[str] = set()
    thumbprints: set[str] = set()
    flagged = sorted({value.strip() for value in observed if value and value.strip()})
    values = [v for key in compromised.keys for v in (key.kid, key.thumbprint) if v] + flagged
    for value in values:
        try:
            found_kids, found_thumbprints = _spellings(value)
        except ValueError:
            continue
        kids |= found_kids
        thumbprints |= found_thumbprints
    return UntrustedKeyList(kids=tuple(sorted(kids)), thumbprints=tuple(sorted(thumbprints)),
                            observed_kids=tuple(flagged))


@dataclass(frozen=True, kw_only=True)
class PublishResult:
    written: bool
    """False when the blob already held this content (nothing was sent but the read)."""
    sha256: str
    etag: str | None
    url: str
    kids: int

    def detail(self) -> dict[str, Any]:
        return {"written": self.written, "sha256": self.sha256, "etag": self.etag, "blob": self.url,
                "kids": self.kids}


class UntrustedKeyPublisher:
    """Writes the untrusted-key list to one blob. Build with :meth:`from_settings`; close when done."""

    def __init__(self, service: BlobServiceClient, *, compromised: CompromisedKeyList,
                 container: str = BLOB_CONTAINER_SIGNING_KEYS, blob: str = UNTRUSTED_KEYS_BLOB,
                 create_container: bool = False, retry: RetryPolicy | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.service = service
        self.compromised = compromised
        self.container_name = container
        self.blob_name = blob
        self.retry = retry or RetryPolicy()
        self._create_container = create_container
        self._container_ready = False
        self._now = now or (lambda: datetime.now(UTC))

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential | AsyncTokenCredential | None = None,
                      *, container: str = BLOB_CONTAINER_SIGNING_KEYS, blob: str = UNTRUSTED_KEYS_BLOB,
                      retry: RetryPolicy | None = None, timeout: float = 30.0) -> UntrustedKeyPublisher:
        """The connection string if set (locally, Azurite; the container is created), else
        ``AzureWebJobsStorage__blobServiceUri`` with *credential* (the app's managed identity)."""
        from azure.storage.blob.aio import BlobServiceClient

        options: dict[str, Any] = {"retry_total": 0, "connection_timeout": min(10.0, timeout), "read_timeout": timeout}
        compromised = load_compromised_keys(settings.extra_compromised_keys)
        if settings.storage_connection_string:
            try:
                service = BlobServiceClient.from_connection_string(settings.storage_connection_string, **options)
            except ValueError as exc:
                # The message must not echo the string: it may hold an account key.
                raise ConfigurationError(f"AzureWebJobsStorage is not a usable connection string ({exc})") from None
            return cls(service, compromised=compromised, container=container, blob=blob, create_container=True,
                       retry=retry)
        if settings.blob_service_uri:
            if not settings.blob_service_uri.startswith("https://"):
                raise ConfigurationError(f"AzureWebJobsStorage__blobServiceUri is {settings.blob_service_uri!r}; "
                                         "expected an https:// URL")
            if credential is None:
                raise ConfigurationError("the untrusted-key list needs a credential for "
                                         "AzureWebJobsStorage__blobServiceUri (the app's managed identity)")
            # A sync credential works too: azure-core's async bearer policy awaits get_token only when it must.
            service = BlobServiceClient(account_url=settings.blob_service_uri,
                                        credential=credential,  # type: ignore[arg-type]
                                        **options)
            return cls(service, compromised=compromised, container=container, blob=blob, retry=retry)
        raise ConfigurationError("the untrusted-key list has no storage: set AzureWebJobsStorage__blobServiceUri "
                                 "(Azure, identity-based) or AzureWebJobsStorage (a connection string, locally)")

    @property
    def url(self) -> str:
        return f"{self.service.url.rstrip('/')}/{self.container_name}/{self.blob_name}"

    def _container(self) -> ContainerClient:
        return self.service.get_container_client(self.container_name)

    async def publish(self, observed_kids: Iterable[str] = ()) -> PublishResult:
        """Merge *observed_kids* into the published list and write it if its content changed."""
        flagged = [k for k in observed_kids if k and k.strip()]
        async for attempt in self.retry.retrying():
            with attempt:
                return await self._publish_once(flagged)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def read(self) -> tuple[dict[str, Any] | None, str | None, str | None]:
        """The published document, its ETag and its ``sha256`` metadata; ``(None, None, None)`` when absent."""
        from azure.core.exceptions import ResourceNotFoundError

        blob = self._container().get_blob_client(self.blob_name)
        try:
            downloader = await blob.download_blob()
            raw = await downloader.readall()
        except ResourceNotFoundError:
            return None, None, None
        properties = downloader.properties
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise DataError(f"{self.url} is not JSON; delete it and let the next run rewrite it") from None
        if not isinstance(document, dict):
            raise DataError(f"{self.url} is not a JSON object; delete it and let the next run rewrite it")
        return document, properties.etag, (properties.metadata or {}).get(_HASH_METADATA)

    async def _ensure_container(self) -> None:
        if self._create_container and not self._container_ready:
            from azure.core.exceptions import ResourceExistsError

            with contextlib.suppress(ResourceExistsError):
                await self._container().create_container()
            self._container_ready = True

    async def _publish_once(self, flagged: list[str]) -> PublishResult:
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            HttpResponseError,
            ResourceExistsError,
            ResourceModifiedError,
            ServiceRequestError,
            ServiceResponseError,
        )
        from azure.storage.blob import ContentSettings

        try:
            await self._ensure_container()
            for _ in range(_MAX_CONFLICTS):
                document, etag, stored_hash = await self.read()
                carried = document.get("observed_kids", []) if document else []
                carried = [k for k in carried if isinstance(k, str)] if isinstance(carried, list) else []
                wanted = untrusted_key_list(self.compromised, [*carried, *flagged])
                current = stored_hash or (document or {}).get("sha256")
                if document is not None and current == wanted.content_hash:
                    return PublishResult(written=False, sha256=wanted.content_hash, etag=etag, url=self.url,
                                         kids=len(wanted.kids))
                data = json.dumps(wanted.document(self._now()), indent=2, sort_keys=True).encode("utf-8")
                blob = self._container().get_blob_client(self.blob_name)
                conditions: dict[str, Any] = (
                    {"overwrite": True, "etag": etag, "match_condition": MatchConditions.IfNotModified}
                    if etag is not None else {"overwrite": False})
                try:
                    result = await blob.upload_blob(
                        data, metadata={_HASH_METADATA: wanted.content_hash},
                        content_settings=ContentSettings(content_type="application/json", cache_control="no-cache"),
                        **conditions)
                except (ResourceModifiedError, ResourceExistsError):
                    continue  # another writer got there first: read its list and merge again
                return PublishResult(written=True, sha256=wanted.content_hash, etag=result.get("etag"),
                                     url=self.url, kids=len(wanted.kids))
        except HttpResponseError as exc:
            status = exc.status_code
            headers = getattr(exc.response, "headers", None) or {}
            hint = parse_retry_after(headers.get("Retry-After"))
            code = getattr(exc, "error_code", None) or exc.reason
            message = f"writing {self.url}: storage answered {status} ({code})"
            if status == 429:
                raise ThrottledError(message, status=429, retry_after=hint) from None
            raise UpstreamError(message, status=status, retry_after=hint) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise UpstreamError(f"writing {self.url}: {type(exc).__name__}: {exc}") from None
        raise UpstreamError(f"writing {self.url}: the blob kept changing under {_MAX_CONFLICTS} attempts", status=409)

    async def close(self) -> None:
        await self.service.close()

    async def __aenter__(self) -> UntrustedKeyPublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
