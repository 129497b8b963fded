"""The ``sentinel_incident`` step: one Microsoft Sentinel incident per case, one comment per playbook run.

Calls go through :class:`~shared.respond.transport.arm_client.ArmClient` (the managed
identity, the one retry layer) to ``Microsoft.SecurityInsights`` at api-version
``2025-09-01``:

* ``GET``/``PUT .../providers/Microsoft.SecurityInsights/incidents/{incidentId}``
* ``GET``/``PUT .../incidents/{incidentId}/comments/{incidentCommentId}``

**Ids are deterministic.** The incident id is a UUIDv5 of the case id in
Tokenwarden's own namespace, and the comment id a UUIDv5 of the case id and the
run id, so a retried or replayed run finds what the first attempt made instead
of creating a second incident or comment (random ids are how playbooks end up
with duplicates).

**Updates keep the analyst's work.** An update starts from the incident as it
is now: status, owner and classification are left as the analyst set them,
severity only ever rises, labels are merged and the activity window only widens.
When the case came from an existing Sentinel incident (``incident_name``), its
title and description are left alone too, and a missing incident is an error,
never a reason to create one.

**Concurrency.** The 2025-09-01 contract carries optimistic concurrency in the
resource's ``etag`` property (``ResourceWithEtag``; the spec declares no
``If-Match`` header parameter), and the service answers a stale etag with 409
Conflict ("Newer version of resource ... exists"). An update sends the etag it
read in the body *and* as ``If-Match`` (in case ARM honours the header, which is
not documented: a 412 then), and on 409 or 412 re-reads and merges again, a
bounded number of times. The local simulator checks the body etag (409) first
and the header (412) as an extension.

**Comments are read before they are written.** ``add_comment`` GETs the comment
id first and leaves an existing comment alone: a comment records what one run
did, and a replay of that run must not rewrite it with a re-rendered text (nor
bump its modified time). Two workers racing past the GET both PUT the same id,
which the service treats as create-then-replace of one comment, so there is
still exactly one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.core.errors import DataError, UpstreamError
from shared.respond.summary import MAX_COMMENT_CHARS, OutcomeLike, render_comment, render_description

if TYPE_CHECKING:
    from shared.cases.model import Case
    from shared.detect.findings import Finding
    from shared.respond.transport.arm_client import ArmClient, ArmResponse

__all__ = [
    "SENTINEL_API_VERSION",
    "TOKENWARDEN_LABEL",
    "TOKENWARDEN_NAMESPACE",
    "SentinelIncidents",
    "comment_id_for",
    "incident_name_for",
]

SENTINEL_API_VERSION = "2025-09-01"
TOKENWARDEN_NAMESPACE = uuid.UUID("77cdac56-7491-422b-9356-a2c2a9c141e4")
"""Fixed for good: changing it would give every open case a second incident."""
TOKENWARDEN_LABEL = "Tokenwarden"
MAX_LABELS = 50
_CONFLICTS = frozenset({409, 412})
_SEVERITY_RANK = {"Informational": 0, "Low": 1, "Medium": 2, "High": 3}
_WORKSPACE_ID = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.OperationalInsights/workspaces/[^/]+",
    re.IGNORECASE)
_RESOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_KEPT = ("status", "owner", "classification", "classificationComment", "classificationReason")
"""The analyst's fields: copied from the incident as read, never from the case."""


def incident_name_for(case_id: str) -> str:
    """The Sentinel incident id (a GUID) of a case: the same in every process and on every retry."""
    return str(uuid.uuid5(TOKENWARDEN_NAMESPACE, f"incident:{case_id}"))


def comment_id_for(case_id: str, run_id: str) -> str:
    """The id of the comment one run (engine invocation) leaves on a case's incident."""
    return str(uuid.uuid5(TOKENWARDEN_NAMESPACE, f"comment:{case_id}:{run_id}"))


def _iso(value: datetime) -> str:
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _widen(current: object, wanted: str, *, earliest: bool) -> str:
    """The wider of the incident's activity bound and ours (ours when theirs is missing or unreadable)."""
    theirs, ours = _parse(current), _parse(wanted)
    if theirs is None or ours is None:
        return wanted
    pick = min(theirs, ours) if earliest else max(theirs, ours)
    return str(current) if pick == theirs else wanted


def _one_line(text: str, limit: int) -> str:
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


class SentinelIncidents:
    """Create or update a case's incident and comment on it, in one Sentinel workspace."""

    def __init__(self, arm: ArmClient, workspace_resource_id: str, *, max_conflicts: int = 5) -> None:
        workspace = workspace_resource_id.rstrip("/")
        if not _WORKSPACE_ID.fullmatch(workspace):
            raise DataError(f"not a Log Analytics workspace resource id: {workspace_resource_id!r}")
        self.arm = arm
        self.workspace_resource_id = workspace
        self.max_conflicts = max_conflicts

    incident_name_for = staticmethod(incident_name_for)
    comment_id_for = staticmethod(comment_id_for)

    # --- paths and reads ---------------------------------------------------------------------------
    def _incident_path(self, name: str) -> str:
        if not _RESOURCE_NAME.fullmatch(name):
            raise DataError(f"not a Sentinel incident id: {name!r}")
        return f"{self.workspace_resource_id}/providers/Microsoft.SecurityInsights/incidents/{quote(name, safe='')}"

    def _comment_path(self, incident_name: str, comment_id: str) -> str:
        if not _RESOURCE_NAME.fullmatch(comment_id):
            raise DataError(f"not a Sentinel comment id: {comment_id!r}")
        return f"{self._incident_path(incident_name)}/comments/{quote(comment_id, safe='')}"

    async def get_incident(self, incident_name: str) -> ArmResponse | None:
        """The incident as it is now, or None if there is none by that id."""
        response = await self.arm.request("GET", self._incident_path(incident_name), api_version=SENTINEL_API_VERSION,
                                          accept=frozenset({404}), what=f"read Sentinel incident {incident_name}")
        return None if response.status == 404 else response

    # --- the incident ------------------------------------------------------------------------------
    def _wanted(self, case: Case, findings: Sequence[Finding], note: str | None) -> dict[str, Any]:
        first = min([case.first_seen, *(f.first_seen for f in findings)])
        last = max([case.last_seen, *(f.last_seen for f in findings)])
        rules = list(dict.fromkeys([*case.rule_ids, *(f.rule_id for f in findings)]))
        description = render_description(case)
        if note:
            description += " " + _one_line(note, 500)
        return {
            "title": _one_line(f"Tokenwarden: unexplained access-token use by {case.principal.kind} "
                               f"{case.principal.value}", 250),
            "description": description,
            "severity": case.severity,
            "status": "New",
            "labels": [{"labelName": name, "labelType": "User"} for name in [TOKENWARDEN_LABEL, *rules][:MAX_LABELS]],
            "firstActivityTimeUtc": _iso(first),
            "lastActivityTimeUtc": _iso(last),
        }

    @staticmethod
    def _merge(current: Mapping[str, Any], wanted: Mapping[str, Any], *, external: bool) -> dict[str, Any]:
        """The update: the incident as read, with our facts folded in and the analyst's fields untouched."""
        merged: dict[str, Any] = {
            "title": current.get("title") if external and current.get("title") else wanted["title"],
            "description": current.get("description") if external else wanted["description"],
        }
        theirs = str(current.get("severity") or "")
        merged["severity"] = theirs if _SEVERITY_RANK.get(theirs, -1) >= _SEVERITY_RANK[wanted["severity"]] \
            else wanted["severity"]
        for name in _KEPT:
            value = current.get(name)
            if name == "owner" and not (isinstance(value, Mapping) and any(v for v in value.values())):
                continue  # unassigned: nothing to keep
            if value is not None:
                merged[name] = value
        merged.setdefault("status", "New")
        labels = [label for label in current.get("labels") or [] if isinstance(label, Mapping)
                  and isinstance(label.get("labelName"), str)]
        have = {str(label["labelName"]).lower() for label in labels}
        for label in wanted["labels"]:
            if label["labelName"].lower() not in have and len(labels) < MAX_LABELS:
                labels.append(label)
                have.add(label["labelName"].lower())
        merged["labels"] = [dict(label) for label in labels]
        merged["firstActivityTimeUtc"] = _widen(current.get("firstActivityTimeUtc"), wanted["firstActivityTimeUtc"],
                                                earliest=True)
        merged["lastActivityTimeUtc"] = _widen(current.get("lastActivityTimeUtc"), wanted["lastActivityTimeUtc"],
                                               earliest=False)
        if merged["description"] is None:
            del merged["description"]
        return merged

    @staticmethod
    def _unchanged(current: Mapping[str, Any], merged: Mapping[str, Any]) -> bool:
        return all(current.get(name) == value for name, value in merged.items())

    @staticmethod
    def _result(name: str, response: ArmResponse, *, created: bool, written: bool, conflicts: int) -> dict[str, Any]:
        properties = response.body.get("properties", {}) if isinstance(response.body, dict) else {}
        return {"incident": name, "created": created, "written": written, "conflicts": conflicts,
                "incident_number": properties.get("incidentNumber"), "incident_url": properties.get("incidentUrl"),
                "severity": properties.get("severity"), "status": properties.get("status")}

    async def upsert_incident(self, case: Case, *, incident_name: str | None = None,
                              findings: Sequence[Finding] = (), note: str | None = None) -> dict[str, Any]:
        """Create the case's incident, or bring the existing one up to date without undoing an analyst's work.

        :keyword incident_name: the Sentinel incident the case came from; it is updated, never created.
        :keyword findings: the case's findings, to widen the activity window and label the rules.
        :keyword note: a line added to the description of Tokenwarden's own incident.
        :returns: ``{"incident", "created", "written", "conflicts", "incident_number", "incident_url",
            "severity", "status"}``.
        :raises UpstreamError: the named incident does not exist (404), ARM failed after retries, or the
            incident kept changing under us past ``max_conflicts`` re-reads.
        """
        external = incident_name is not None
        name = incident_name if incident_name is not None else incident_name_for(case.case_id)
        path = self._incident_path(name)
        wanted = self._wanted(case, findings, note)
        conflicts = 0
        while True:
            current = await self.get_incident(name)
            if current is None:
                if external:
                    raise UpstreamError(f"Sentinel incident {name} (the case's source incident) does not exist",
                                        status=404)
                response = await self.arm.request("PUT", path, api_version=SENTINEL_API_VERSION,
                                                  body={"properties": wanted}, accept=_CONFLICTS,
                                                  what=f"create Sentinel incident {name}")
                created = True
            else:
                properties = current.body.get("properties", {}) if isinstance(current.body, dict) else {}
                merged = self._merge(properties, wanted, external=external)
                if self._unchanged(properties, merged):
                    return self._result(name, current, created=False, written=False, conflicts=conflicts)
                etag = current.etag
                response = await self.arm.request(
                    "PUT", path, api_version=SENTINEL_API_VERSION,
                    body={"etag": etag, "properties": merged} if etag else {"properties": merged},
                    headers={"If-Match": etag} if etag else None, accept=_CONFLICTS,
                    what=f"update Sentinel incident {name}")
                created = False
            if response.status not in _CONFLICTS:
                # A create may answer 200 or 201 (the 2025-09-01 spec allows both): the GET said it was absent.
                return self._result(name, response, created=created, written=True, conflicts=conflicts)
            conflicts += 1
            if conflicts > self.max_conflicts:
                raise UpstreamError(f"Sentinel incident {name} changed {conflicts} times while it was being "
                                    "updated; giving up for this run", status=response.status)

    # --- comments ----------------------------------------------------------------------------------
    async def add_comment(self, incident_name: str, comment_id: str, message: str) -> dict[str, Any]:
        """Leave *message* as comment *comment_id*, unless a comment by that id is already there.

        :returns: ``{"comment", "created"}``; ``created`` is False when the comment already existed.
        :raises DataError: the message is empty or not under the 30,000-character limit.
        :raises UpstreamError: the incident does not exist, or ARM failed after retries.
        """
        if not message or len(message) >= MAX_COMMENT_CHARS:
            raise DataError(f"a Sentinel comment must have 1 to {MAX_COMMENT_CHARS - 1} characters, "
                            f"not {len(message)}")
        path = self._comment_path(incident_name, comment_id)
        existing = await self.arm.request("GET", path, api_version=SENTINEL_API_VERSION, accept=frozenset({404}),
                                          what=f"read comment {comment_id} on Sentinel incident {incident_name}")
        if existing.status != 404:
            return {"comment": comment_id, "created": False}
        await self.arm.request("PUT", path, api_version=SENTINEL_API_VERSION, body={"properties": {"message": message}},
                               what=f"comment on Sentinel incident {incident_name}")
        return {"comment": comment_id, "created": True}

    # --- one run -----------------------------------------------------------------------------------
    async def record_run(self, case: Case, *, run_id: str, findings: Sequence[Finding] = (),
                         outcomes: Sequence[OutcomeLike] = (), reason: str | None = None,
                         incident_name: str | None = None, note: str | None = None) -> dict[str, Any]:
        """The whole step: upsert the incident, then add this run's comment (findings, enrichment, actions).

        :keyword run_id: the engine's invocation id; with the case id it makes the comment id.
        :keyword outcomes: the outcomes of the run's other steps, refusals and holds included.
        :keyword reason: the run's one-line result (``CaseResponse.reason``).
        :returns: what :meth:`upsert_incident` returned, plus ``comment`` and ``comment_created``.
        """
        incident = await self.upsert_incident(case, incident_name=incident_name, findings=findings)
        message = render_comment(case, outcomes, run_id=run_id, findings=findings, reason=reason, note=note)
        comment = await self.add_comment(incident["incident"], comment_id_for(case.case_id, run_id), message)
        return {**incident, "comment": comment["comment"], "comment_created": comment["created"]}
