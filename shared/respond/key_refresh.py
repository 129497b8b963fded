"""Make every registered app drop its cached signing keys: the key_drift timer's and the Key Vault events' response.

A key an issuer stopped publishing (key drift), or a new, expiring or expired version of a customer's own
signing key (Key Vault events), concerns every app in ``CACHE_REFRESH_APPS``, not the apps of one case. So
:func:`refresh_registered_apps` runs ``refresh_app_key_cache`` on every registered target
(``KeyCacheRefresher.targets_for(None)``), after publishing the untrusted-key list when there are key ids to
add to it and storage is configured.

Each step is recorded in the ``Actions`` table by the recorder that runs a case's steps
(:class:`~shared.respond.recorder.StepRecorder`: intent before, outcome after), under a synthetic case id hashed
from what caused the refresh (:func:`refresh_case_id`): ``drift-<hash>`` for drift rows, ``keys-<hash>`` for a
Key Vault event. The same cause gives the same ids, so a replay (a timer run after one that died, an Event Grid
redelivery) skips the targets already refreshed and retries only the ones that failed.

Mode: ``dry-run`` records each target as ``planned`` and touches nothing. ``approval`` and ``auto`` both act:
the targets are apps the operator registered for exactly this, and no principal is acted on, so the
per-principal guardrails (protected principals, blast radius) do not apply.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from shared.core.resource_names import UNTRUSTED_KEYS_BLOB
from shared.core.settings import Settings
from shared.ledger.connection import Ledger
from shared.respond.actions import ActionRecord, ActionStore
from shared.respond.recorder import StepRecorder
from shared.respond.steps.base import Mechanisms, StepCall, StepOutcome
from shared.respond.steps.publish_untrusted_keys import PublishUntrustedKeys
from shared.respond.steps.refresh_app_key_cache import RefreshAppKeyCache

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = [
    "PUBLISH_STEP",
    "REFRESH_STEP",
    "RefreshReport",
    "refresh_case_id",
    "refresh_registered_apps",
]

REFRESH = RefreshAppKeyCache()
PUBLISH = PublishUntrustedKeys()
REFRESH_STEP = REFRESH.name
PUBLISH_STEP = PUBLISH.name
ACTOR = "tokenwarden-keys"


@dataclass(frozen=True, kw_only=True)
class RefreshReport:
    """What one refresh did. ``complete``: every step reached a final phase (succeeded or skipped), so the cause
    can be marked handled; a dry run or a failure leaves it incomplete."""

    case_id: str
    mode: str
    outcomes: tuple[StepOutcome, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> tuple[StepOutcome, ...]:
        return tuple(o for o in self.outcomes if o.phase == "failed")

    @property
    def complete(self) -> bool:
        return all(o.phase in ("succeeded", "skipped") for o in self.outcomes)

    @property
    def refreshed(self) -> tuple[str, ...]:
        """Targets refreshed by this call (not by an earlier one)."""
        return tuple(o.target for o in self.outcomes
                     if o.step == REFRESH_STEP and o.phase == "succeeded" and not o.replayed)

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "mode": self.mode, "complete": self.complete,
                "outcomes": [o.to_json() for o in self.outcomes], "notes": list(self.notes)}


def refresh_case_id(prefix: Literal["drift", "keys"], seed: str) -> str:
    """The synthetic case id the refresh's actions are recorded under: the same *seed*, the same id."""
    return f"{prefix}-{hashlib.sha256(seed.encode('utf-8')).hexdigest()[:24]}"


def refresh_registered_apps(settings: Settings, ledger: Ledger, *, kids: Sequence[str], reason: str,
                            event_id_seed: str, now: datetime, case_prefix: Literal["drift", "keys"] = "keys",
                            invocation_id: str = "", credential: TokenCredential | None = None) -> RefreshReport:
    """Publish *kids* to the untrusted-key list (when there are any and storage is configured), then refresh
    every registered app's key cache; each step recorded in the Actions table.

    :param kids: key ids apps must stop trusting (removed keys); may be empty (a Key Vault rotation).
    :param reason: one line the endpoint and Event Grid mechanisms pass on to the apps.
    :param event_id_seed: what caused the refresh (drift row ids, an Event Grid event id); it keys the records.
    :raises ConfigurationError: ``CACHE_REFRESH_APPS`` or the storage settings are invalid.
    Failures of single targets do not raise: they are recorded ``failed`` and reported in ``failed``.
    """
    return asyncio.run(_refresh(settings, ledger, kids=kids, reason=reason,
                                case_id=refresh_case_id(case_prefix, event_id_seed), now=now,
                                invocation_id=invocation_id, credential=credential))


async def _refresh(settings: Settings, ledger: Ledger, *, kids: Sequence[str], reason: str, case_id: str,
                   now: datetime, invocation_id: str, credential: TokenCredential | None) -> RefreshReport:
    from contextlib import AsyncExitStack

    from shared.audit.ingestion import AuditSink
    from shared.core.credentials import credential_for

    signer = credential or credential_for(settings)
    async with AsyncExitStack() as stack:
        audit = AuditSink.from_settings(settings, signer)
        if audit is not None:  # the same audit trail as the response engine's, flushed on the way out
            await stack.enter_async_context(audit)
        return await _refresh_recorded(settings, ledger, kids=kids, reason=reason, case_id=case_id, now=now,
                                       invocation_id=invocation_id, signer=signer, on_record=audit)


async def _refresh_recorded(settings: Settings, ledger: Ledger, *, kids: Sequence[str], reason: str, case_id: str,
                            now: datetime, invocation_id: str, signer: Any,
                            on_record: Callable[[ActionRecord], None] | None) -> RefreshReport:
    from shared.respond.steps.key_cache import KeyCacheRefresher
    from shared.respond.steps.untrusted_keys import UntrustedKeyPublisher

    mode = settings.response_mode
    recorder = StepRecorder(store=ActionStore(ledger.actions, on_record=on_record), mode=mode,
                            invocation_id=invocation_id, actor=ACTOR)
    flagged = sorted({k.strip() for k in kids if k and k.strip()})
    notes: list[str] = []
    outcomes: list[StepOutcome] = []
    if not settings.cache_refresh_apps:
        notes.append("CACHE_REFRESH_APPS is not set: no app is told to reload its keys")
    refresher = KeyCacheRefresher.from_settings(settings, signer)
    async with refresher:
        if flagged and (settings.storage_connection_string or settings.blob_service_uri):
            publisher = UntrustedKeyPublisher.from_settings(settings, signer)
            async with publisher:
                call = StepCall(case_id=case_id, target=UNTRUSTED_KEYS_BLOB, tools=Mechanisms(publisher=publisher),
                                kids=flagged)
                outcomes.append(await recorder.run(PUBLISH, call, plan={"kids": flagged}, now=now))
        elif flagged:
            notes.append("no storage is configured: the untrusted-key list was not published")
        # The list is published above as a step of its own, so the refresh step is given no publisher.
        tools = Mechanisms(key_cache=refresher)
        for target in refresher.targets_for(None):
            call = StepCall(case_id=case_id, target=target.key, tools=tools, kids=flagged, reason=reason)
            outcomes.append(await recorder.run(REFRESH, call, now=now,
                                               plan={"apps": list(target.app_ids), "kids": flagged, "reason": reason}))
    return RefreshReport(case_id=case_id, mode=mode, outcomes=tuple(outcomes), notes=tuple(notes))
