"""The ``events`` Event Grid trigger: Key Vault key events, relayed Azure Monitor alerts and app token anomalies.

One function takes both delivery schemas. azure-functions 1.26 decodes a CloudEvents 1.0 body (it has
``specversion``) into ``func.CloudEvent`` and an Event Grid schema body into ``func.EventGridEvent``, whatever the
parameter's annotation says; the annotation must be one class, so it names EventGridEvent and the body checks.
Its Event Grid subscriptions (infra/app/topic-subscription.bicep) deliver to this function by name.

Outcomes for Event Grid: a malformed event is logged in one line and acknowledged (a retry cannot fix it), an
unknown type is logged and acknowledged; anything else that fails (an app's key cache could not be refreshed,
the ledger or the log source is unreachable, a setting is wrong) raises, so Event Grid redelivers with backoff
and the redelivery, keyed by the event id, redoes only what is not done. Cases the event opened or changed are
queued for the respond worker, as the scan timer queues its own.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()
log = logging.getLogger("tokenwarden.events")

QUEUE = "tokenwarden-respond"
"""``shared.core.resource_names.QUEUE_RESPOND``; a literal here because bindings are read at indexing time."""


@bp.function_name("events")
@bp.event_grid_trigger(arg_name="event")
@bp.queue_output(arg_name="work", queue_name=QUEUE, connection="AzureWebJobsStorage")
def events(event: func.EventGridEvent, work: func.Out[list[str]], context: func.Context) -> None:
    start_telemetry()
    from shared.core.errors import DataError, TokenwardenError
    from shared.core.settings import load_settings
    from shared.intake.events import event_from_cloudevent, event_from_eventgrid
    from shared.jobs.events import dispatch_event
    from shared.ledger.connection import open_ledger
    from shared.respond.work_queue import WorkItem

    received: object = event  # the host may hand over a CloudEvent despite the annotation
    envelope = event_from_cloudevent(received) if isinstance(received, func.CloudEvent) else event_from_eventgrid(event)
    label = f"{envelope.get('type')!r} id {envelope.get('id')!r} ({envelope['schema']} schema)"
    settings = load_settings(os.environ)
    now = datetime.now(UTC)
    ledger = open_ledger(settings)
    try:
        result = dispatch_event(envelope, settings, ledger, now=now, invocation_id=context.invocation_id)
    except DataError as exc:
        log.error("rejected malformed event %s: %s", label, exc)
        return
    except TokenwardenError as exc:
        log.error("event %s failed; Event Grid will redeliver it: %s", label, exc)
        raise
    finally:
        ledger.close()
    if result.kind == "unknown":
        log.warning("acknowledged event of unknown type %s; nothing to do", label)
    else:
        log.info("event %s: %s %s", label, result.kind, json.dumps(
            {"action": result.action, "case_ids": list(result.case_ids), **result.detail}, default=str,
            separators=(",", ":")))
    queued = [WorkItem(case_id=case_id, queued_at=now, reason=f"event:{result.kind}").to_json()
              for case_id in result.case_ids]
    if queued:
        work.set(queued)
        log.info("event %s: %d case(s) queued for response", label, len(queued))
