"""Every response step, by name: the one list the policy loader, the plan, the engine and the key jobs read.

==========================  =========================================  ==============================
step                        module (the step class)                    mechanism it acts through
==========================  =========================================  ==============================
``revoke_sessions``         :mod:`.revoke_sessions`                    Graph (:mod:`..transport.graph_actions`)
``confirm_compromised``     :mod:`.confirm_compromised`                Graph, in batches (:mod:`.confirm_batcher`)
``disable_user``            :mod:`.disable_user`                       Graph
``refresh_app_key_cache``   :mod:`.refresh_app_key_cache`              :mod:`.key_cache`, :mod:`.untrusted_keys`
``sentinel_incident``       :mod:`.sentinel_incident`                  Sentinel (:mod:`.sentinel`)
``notify``                  :mod:`.notify`                             the webhook (:class:`.notify.Notifier`)
``publish_untrusted_keys``  :mod:`.publish_untrusted_keys`             :mod:`.untrusted_keys` (key jobs only)
==========================  =========================================  ==============================

Adding a step is adding its module and one line here; :data:`STEP_NAMES` (what a playbook may name) follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from shared.core.errors import TokenwardenError
from shared.respond.steps.base import ResponseStep
from shared.respond.steps.confirm_compromised import ConfirmCompromised
from shared.respond.steps.disable_user import DisableUser
from shared.respond.steps.notify import Notify
from shared.respond.steps.publish_untrusted_keys import PublishUntrustedKeys
from shared.respond.steps.refresh_app_key_cache import RefreshAppKeyCache
from shared.respond.steps.revoke_sessions import RevokeSessions
from shared.respond.steps.sentinel_incident import SentinelIncident

__all__ = ["ACTING_STEPS", "REPORTING_STEPS", "STEPS", "STEP_NAMES", "step_named"]

STEPS: Mapping[str, ResponseStep] = MappingProxyType({step.name: step for step in (
    RevokeSessions(), ConfirmCompromised(), DisableUser(), RefreshAppKeyCache(), SentinelIncident(), Notify(),
    PublishUntrustedKeys(),
)})
"""Every step by name, in the order a policy's error message lists them."""

STEP_NAMES: tuple[str, ...] = tuple(name for name, step in STEPS.items() if step.in_playbooks)
"""The response steps a playbook may name."""
REPORTING_STEPS: tuple[str, ...] = tuple(name for name in STEP_NAMES if STEPS[name].reporting)
"""Steps that report rather than act: they run after the acting steps, so they can say what was done."""
ACTING_STEPS: tuple[str, ...] = tuple(name for name in STEP_NAMES if not STEPS[name].reporting)


def step_named(name: str) -> ResponseStep:
    """The registered step *name*; a name no step has is a bug in the caller (policies are checked on load)."""
    try:
        return STEPS[name]
    except KeyError:
        raise TokenwardenError(f"there is no response step {name!r}; steps are {', '.join(STEPS)}") from None
