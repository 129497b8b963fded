"""The ``events`` Event Grid trigger: Key Vault key events, relayed Azure Monitor alerts and app token anomalies.

One function takes both delivery schemas. azure-functions 1.26 decodes a CloudEvents 1.0 body (it has
``specversion``) into ``func.CloudEvent`` and an Event Grid schema body into ``func.EventGridEvent``, whatever the
parameter's annotation says; the annotation must be one class, so it names EventGridEvent and the body checks.
Its Event Grid subscriptions (infra/app/topic-subscription.bicep) deliver to this function by name.

Outcomes for Event Grid: a malformed event is logged in one line and acknowledged (a retry cannot fix it), an
unknown type is logged and acknowledged; anything else that fails (an app's key cache could not be refreshed,
the ledger or the log source is unreachable, a setting is wrong) raises, so Event Grid redelivers with backoff
and the redelivery, keyed by the event id, redoes only what is not done. Cases the event opened or changed are
queued for the respond worker, as the scan timer queues its own (:func:`shared.jobs.triggers.on_event`).
"""

from __future__ import annotations

import os

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()

QUEUE = "tokenwarden-respond"
"""``shared.core.resource_names.QUEUE_RESPOND``; a literal here because bindings are read at indexing time."""


@bp.function_name("events")
@bp.event_grid_trigger(arg_name="event")
@bp.queue_output(arg_name="work", queue_name=QUEUE, connection="AzureWebJobsStorage")
def events(event: func.EventGridEvent, work: func.Out[list[str]], context: func.Context) -> None:
    start_telemetry()
    from shared.jobs.triggers import on_event

    queued = on_event(os.environ, event, invocation_id=context.invocation_id)  # a CloudEvent, too, despite the type
    if queued:
        work.set(queued)
