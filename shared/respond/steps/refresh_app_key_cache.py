"""``refresh_app_key_cache``: make the apps that accepted a forged token drop their cached signing keys.

The step publishes the untrusted-key list first (when storage is configured), so an app told to reload finds
the key id on it, then asks each registered refresh mechanism (:mod:`shared.respond.steps.key_cache`) to reload.
A case plans one target per registered mechanism serving its apps; the key-drift and Key Vault jobs
(:mod:`shared.respond.key_refresh`) run the same step on every registered target, after publishing the list as
a step of its own.
"""

from __future__ import annotations

from typing import Any

from shared.cases.model import Case
from shared.respond.actions import action_id
from shared.respond.steps.base import NO_TARGET, PlanInputs, ResponseStep, Resume, StepCall, Unavailable

__all__ = ["RefreshAppKeyCache"]


class RefreshAppKeyCache(ResponseStep):
    name = "refresh_app_key_cache"

    def targets(self, case: Case, inputs: PlanInputs) -> list[str]:
        return list(inputs.refresh_targets)

    def unavailable(self, call: StepCall) -> Unavailable | None:
        if call.target != NO_TARGET:
            return None
        why = "CACHE_REFRESH_APPS is not set" if call.tools.key_cache is None \
            else "no refresh mechanism is registered for the apps in this case"
        return "skipped", why

    async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
        key_cache = call.tools.key_cache
        assert key_cache is not None  # a target other than NO_TARGET came from it
        target = next(t for t in key_cache.targets_for(call.app_scope) if t.key == call.target)
        published: dict[str, Any] | None = None
        if call.tools.publisher is not None:  # the polled list first, so an app told to reload finds the kid on it
            published = (await call.tools.publisher.publish(call.kids)).detail()
        # The apps' idempotency key: the action id, the same on every retry of this step on this target.
        event_id = action_id(call.case_id, self.name, call.target).removeprefix("act-")
        detail = await key_cache.refresh(target, untrusted_kids=call.kids, event_id=event_id, reason=call.reason)
        return {**detail, "untrusted_key_list": published} if published is not None else detail
