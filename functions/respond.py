"""The ``respond`` queue worker and its poison-queue companion: one case per message, so an incident fans out
(:func:`shared.jobs.triggers.on_respond_message`, :func:`shared.jobs.triggers.on_respond_poison`)."""

from __future__ import annotations

import os

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()

QUEUE = "tokenwarden-respond"
"""``shared.core.resource_names.QUEUE_RESPOND``; a literal here because bindings are read at indexing time."""


@bp.function_name("respond")
@bp.queue_trigger(arg_name="message", queue_name=QUEUE, connection="AzureWebJobsStorage")
def respond(message: func.QueueMessage, context: func.Context) -> None:
    start_telemetry()
    from shared.jobs.triggers import on_respond_message

    on_respond_message(os.environ, message.get_body(), message_id=message.id, invocation_id=context.invocation_id)


@bp.function_name("respond_poison")
@bp.queue_trigger(arg_name="message", queue_name=QUEUE + "-poison", connection="AzureWebJobsStorage")
def respond_poison(message: func.QueueMessage, context: func.Context) -> None:
    start_telemetry()
    from shared.jobs.triggers import on_respond_poison

    on_respond_poison(os.environ, message.get_body(), message_id=message.id, dequeue_count=message.dequeue_count,
                      invocation_id=context.invocation_id)
