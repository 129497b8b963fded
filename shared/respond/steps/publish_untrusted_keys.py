"""``publish_untrusted_keys``: add key ids to the untrusted-key list apps poll (:mod:`.untrusted_keys`).

Only Tokenwarden's key jobs run it as a step of its own (a key an issuer stopped publishing, a Key Vault
event), before they refresh every registered app; a case's ``refresh_app_key_cache`` publishes inside its
own step. No playbook names it.
"""

from __future__ import annotations

from typing import Any

from shared.respond.steps.base import ResponseStep, Resume, StepCall

__all__ = ["PublishUntrustedKeys"]


class PublishUntrustedKeys(ResponseStep):
    name = "publish_untrusted_keys"
    in_playbooks = False

    async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
        assert call.tools.publisher is not None  # the key jobs run this step only where storage is configured
        return (await call.tools.publisher.publish(call.kids)).detail()
