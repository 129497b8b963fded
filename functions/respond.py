"""The ``respond`` queue worker and its poison-queue companion: one case per message, so an incident fans out."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()
log = logging.getLogger("tokenwarden.respond")

QUEUE = "tokenwarden-respond"
"""``shared.core.resource_names.QUEUE_RESPOND``; a literal here because bindings are read at indexing time."""


@bp.function_name("respond")
@bp.queue_trigger(arg_name="message", queue_name=QUEUE, connection="AzureWebJobsStorage")
def respond(message: func.QueueMessage, context: func.Context) -> None:
    start_telemetry()
    from shared.core.settings import load_settings
    from shared.jobs.respond import respond_to_cases
    from shared.ledger.connection import open_ledger
    from shared.respond.work_queue import parse_work_item

    item = parse_work_item(message.get_body())  # a bad message raises: the host retries, then parks it as poison
    settings = load_settings(os.environ)
    ledger = open_ledger(settings)
    try:
        for answer in respond_to_cases(settings, ledger, [item.case_id], invocation_id=context.invocation_id,
                                       run_id=item.run_id(message.id), now=datetime.now(UTC), mode=item.mode,
                                       approved_by=item.approved_by, actor=item.actor or "tokenwarden"):
            # A case another invocation holds completes this message quietly: the holder does the work, and
            # the case's outbox mark brings it back if the holder dies.
            log.info("case %s is %s%s: %s", answer.case_id, answer.state,
                     " (in progress elsewhere)" if answer.in_progress else "", answer.reason,
                     extra={"case_id": answer.case_id, "invocation_id": context.invocation_id})
    finally:
        ledger.close()


@bp.function_name("respond_poison")
@bp.queue_trigger(arg_name="message", queue_name=QUEUE + "-poison", connection="AzureWebJobsStorage")
def respond_poison(message: func.QueueMessage, context: func.Context) -> None:
    start_telemetry()
    from shared.core.errors import DataError
    from shared.core.settings import load_settings
    from shared.ledger.connection import open_ledger
    from shared.respond.poison import fail_poisoned_case
    from shared.respond.work_queue import parse_work_item

    try:
        item = parse_work_item(message.get_body())
    except DataError as exc:
        log.error("poison message %s is not a respond message (%s); body kept here: %r", message.id, exc,
                  message.get_body()[:2048])
        return
    settings = load_settings(os.environ)
    ledger = open_ledger(settings)
    try:
        result = fail_poisoned_case(settings, ledger, item, message_id=message.id or "",
                                    dequeue_count=message.dequeue_count or 0, now=datetime.now(UTC),
                                    invocation_id=context.invocation_id)
    finally:
        ledger.close()
    log.error("case %s failed: its respond message %s was poisoned (%s)", item.case_id, message.id, result,
              extra={"case_id": item.case_id, "invocation_id": context.invocation_id})
