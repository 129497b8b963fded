"""Make every registered app drop its cached signing keys: the key_drift timer's and the Key Vault events' response.

A key an issuer stopped publishing (key drift), or a new, expiring or expired version of a customer's own
signing key (Key Vault events), concerns every app in ``CACHE_REFRESH_APPS``, not the apps of one case. So
:func:`refresh_registered_apps` runs ``refresh_app_key_cache`` on every registered target
(``KeyCacheRefresher.targets_for(None)``), after publishing the untrusted-key list when there are key ids to
add to it and storage is configured.

Each step is recorded in the ``Actions`` table like a case's steps (:class:`~shared.respond.actions.ActionStore`:
intent before, outcome after), under a synthetic case id hashed from what caused the refresh
(:func:`refresh_case_id`): ``drift-<hash>`` for drift rows, ``keys-<hash>`` for a Key Vault event. The same
cause gives the same ids, so a replay (a timer run after one that died, an Event Grid redelivery) skips the
targets already refreshed and retries only the ones that failed.

Mode: ``dry-run`` records each target as ``planned`` and touches nothing. ``approval`` and ``auto`` both act:
the targets are apps the operator registered for exactly this, and no principal is acted on, so the
per-principal guardrails (protected principals, blast radius) do not apply.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from shared.core.errors import TokenwardenError
from shared.core.resource_names import UNTRUSTED_KEYS_BLOB
from shared.core.settings import Settings
from shared.ledger.connection import Ledger

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.respond.actions import ActionPhase, ActionRecord, ActionStore

__all__ = [
    "PUBLISH_STEP",
    "REFRESH_STEP",
    "RefreshReport",
    "TargetOutcome",
    "refresh_case_id",
    "refresh_registered_apps",
]

REFRESH_STEP = "refresh_app_key_cache"
PUBLISH_STEP = "publish_untrusted_keys"
ACTOR = "tokenwarden-keys"


@dataclass(frozen=True, kw_only=True)
class TargetOutcome:
    step: str
    target: str
    phase: str
    detail: Mapping[str, Any]
    replayed: bool = False
    """The Actions table already held a final outcome for this target: nothing was sent this time."""

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "target": self.target, "phase": self.phase, "detail": dict(self.detail),
                "replayed": self.replayed}


@dataclass(frozen=True, kw_only=True)
class RefreshReport:
    """What one refresh did. ``complete``: every step reached a final phase (succeeded or skipped), so the cause
    can be marked handled; a dry run or a failure leaves it incomplete."""

    case_id: str
    mode: str
    outcomes: tuple[TargetOutcome, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> tuple[TargetOutcome, ...]:
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
    from shared.respond.actions import ActionStore
    from shared.respond.steps.key_cache import KeyCacheRefresher
    from shared.respond.steps.untrusted_keys import UntrustedKeyPublisher

    mode = settings.response_mode
    store = ActionStore(ledger.actions, on_record=on_record)
    flagged = sorted({k.strip() for k in kids if k and k.strip()})
    notes: list[str] = []
    outcomes: list[TargetOutcome] = []
    if not settings.cache_refresh_apps:
        notes.append("CACHE_REFRESH_APPS is not set: no app is told to reload its keys")
    refresher = KeyCacheRefresher.from_settings(settings, signer)
    async with refresher:
        targets = refresher.targets_for(None)
        if flagged and (settings.storage_connection_string or settings.blob_service_uri):
            publisher = UntrustedKeyPublisher.from_settings(settings, signer)
            async with publisher:
                async def publish() -> dict[str, Any]:
                    return (await publisher.publish(flagged)).detail()

                outcomes.append(await _step(store, case_id, PUBLISH_STEP, UNTRUSTED_KEYS_BLOB, publish, mode=mode,
                                            invocation_id=invocation_id, now=now, plan={"kids": flagged}))
        elif flagged:
            notes.append("no storage is configured: the untrusted-key list was not published")
        for target in targets:
            event_id = _event_id(case_id, target.key)

            async def refresh(target: Any = target, event_id: str = event_id) -> dict[str, Any]:
                return await refresher.refresh(target, untrusted_kids=flagged, event_id=event_id, reason=reason)

            outcomes.append(await _step(store, case_id, REFRESH_STEP, target.key, refresh, mode=mode,
                                        invocation_id=invocation_id, now=now,
                                        plan={"apps": list(target.app_ids), "kids": flagged, "reason": reason}))
    return RefreshReport(case_id=case_id, mode=mode, outcomes=tuple(outcomes), notes=tuple(notes))


def _event_id(case_id: str, target: str) -> str:
    from shared.respond.actions import action_id

    return action_id(case_id, REFRESH_STEP, target).removeprefix("act-")


async def _step(store: ActionStore, case_id: str, step: str, target: str, act: Any, *, mode: str,
                invocation_id: str, now: datetime, plan: Mapping[str, Any]) -> TargetOutcome:
    """One recorded step: skip it if a final outcome is stored; in a dry run record the plan only; otherwise
    intent, act, outcome."""
    from shared.respond.actions import FINAL_PHASES

    def record(phase: ActionPhase, detail: Mapping[str, Any]) -> TargetOutcome:
        stored = store.record(case_id, step, target, phase=phase, mode=mode, invocation_id=invocation_id,
                              detail=detail, now=now, actor=ACTOR)
        return TargetOutcome(step=step, target=target, phase=stored.phase, detail=stored.detail)

    existing = await asyncio.to_thread(store.get, case_id, step, target)
    if existing is not None and existing.phase in FINAL_PHASES:
        return TargetOutcome(step=step, target=target, phase=existing.phase, detail=existing.detail, replayed=True)
    if mode == "dry-run":
        return await asyncio.to_thread(record, "planned", {**plan, "reason": "dry run: nothing was changed"})
    resumed = existing is not None and existing.phase == "intent"
    await asyncio.to_thread(record, "intent", {**plan, "resumed": resumed})
    try:
        detail = await act()
    except TokenwardenError as exc:
        return await asyncio.to_thread(record, "failed", {"error": str(exc)})
    return await asyncio.to_thread(record, "succeeded", detail)
