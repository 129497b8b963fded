"""The sentinel_incident step against the simulator's ARM routes, through the real ArmClient: one incident per case,
one comment per run, the analyst's fields kept, races re-read, an existing incident updated and never re-created."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from shared.core.errors import UpstreamError
from shared.devkit.simulator import SimulatorServer, TenantState
from shared.respond.engine import StepOutcome
from shared.respond.steps.sentinel import SENTINEL_API_VERSION, SentinelIncidents, comment_id_for, incident_name_for
from shared.respond.transport.arm_client import ArmClient, ArmResponse
from shared.respond.transport.retry import RetryPolicy
from tests.respond.test_summary import HOSTILE, USER, make_case, make_finding
from tests.support.graph import StaticCredential, serving

T = TypeVar("T")
WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-sec/providers/"
             "Microsoft.OperationalInsights/workspaces/ws1")
RETRY = RetryPolicy(base_backoff=0.01, max_total_seconds=10)


@pytest.fixture
def server() -> Iterator[SimulatorServer]:
    with serving(TenantState(tenant_id="11111111-1111-1111-1111-111111111111"), limits={}) as running:
        yield running


def run(server: SimulatorServer, body: Callable[[SentinelIncidents], Awaitable[T]], *,
        arm_type: type[ArmClient] = ArmClient, max_conflicts: int = 5) -> T:
    async def main() -> T:
        async with arm_type(StaticCredential(), endpoint=server.url, retry=RETRY) as arm:
            return await body(SentinelIncidents(arm, WORKSPACE, max_conflicts=max_conflicts))

    return asyncio.run(main())


def incidents(server: SimulatorServer) -> list[Mapping[str, Any]]:
    return [r for r in server.state.arm_resources.values() if r["type"] == "Microsoft.SecurityInsights/Incidents"]


def comments(server: SimulatorServer) -> list[Mapping[str, Any]]:
    return [r for r in server.state.arm_resources.values() if str(r["type"]).endswith("/Comments")]


def analyst_edit(server: SimulatorServer, name: str, **changes: Any) -> None:
    """What an analyst does in the portal: read the incident and write it back changed (no If-Match)."""
    async def body(sentinel: SentinelIncidents) -> None:
        current = await sentinel.get_incident(name)
        assert current is not None
        properties = {**current.body["properties"], **changes}
        await sentinel.arm.request("PUT", sentinel._incident_path(name), api_version=SENTINEL_API_VERSION,
                                   body={"properties": properties})

    run(server, body)


def test_ids_are_deterministic_guids() -> None:
    name = incident_name_for("case-usr-1-1")
    assert name == incident_name_for("case-usr-1-1") != incident_name_for("case-usr-1-2")
    assert str(uuid.UUID(name)) == name
    assert comment_id_for("case-usr-1-1", "run-a") == comment_id_for("case-usr-1-1", "run-a")
    assert comment_id_for("case-usr-1-1", "run-a") != comment_id_for("case-usr-1-1", "run-b")


def test_create_then_update_keeps_one_incident(server: SimulatorServer) -> None:
    case = make_case(severity="Medium")
    first = run(server, lambda s: s.upsert_incident(case))
    assert first["created"] is True and first["incident"] == incident_name_for(case.case_id)
    later = replace(case, severity="High", rule_ids=(*case.rule_ids, "unpublished-signing-key"),
                    last_seen=case.last_seen + timedelta(hours=1))
    second = run(server, lambda s: s.upsert_incident(later))
    assert second["created"] is False and second["written"] is True
    assert second["incident_number"] == first["incident_number"]
    [incident] = incidents(server)
    properties = incident["properties"]
    assert properties["severity"] == "High" and properties["status"] == "New"
    assert [label["labelName"] for label in properties["labels"]] == [
        "Tokenwarden", "compromised-signing-key", "unpublished-signing-key"]
    assert properties["firstActivityTimeUtc"] == "2026-11-22T07:00:00Z"
    assert properties["lastActivityTimeUtc"] == "2026-11-22T08:10:00Z"


def test_a_replayed_run_adds_no_incident_and_no_comment(server: SimulatorServer) -> None:
    case = make_case()
    outcomes = [StepOutcome(step="disable_user", target=USER, phase="succeeded", detail={"changed": True})]
    findings = [make_finding(1)]
    first = run(server, lambda s: s.record_run(case, run_id="inv-1", findings=findings, outcomes=outcomes))
    again = run(server, lambda s: s.record_run(case, run_id="inv-1", findings=findings, outcomes=outcomes))
    assert first["created"] and first["comment_created"]
    assert not again["created"] and not again["written"] and not again["comment_created"]
    assert len(server.state.writes_of("putIncident")) == 1
    assert len(server.state.writes_of("putIncidentComment")) == 1
    next_run = run(server, lambda s: s.record_run(case, run_id="inv-2", findings=findings))
    assert next_run["comment_created"] and len(comments(server)) == 2 and len(incidents(server)) == 1
    [incident] = incidents(server)
    assert incident["properties"]["additionalData"]["commentsCount"] == 2


def test_the_comment_escapes_directory_data(server: SimulatorServer) -> None:
    run(server, lambda s: s.record_run(make_case(), run_id="inv-1", findings=[make_finding(1, user_upn=HOSTILE)]))
    [comment] = comments(server)
    message = comment["properties"]["message"]
    assert "<img" not in message and "&#60;img src&#61;" not in message  # '=' is plain text, '<' an entity
    assert "&#60;img src=x onerror=alert&#40;1&#41;&#62;" in message


def test_the_analysts_status_owner_and_classification_are_kept(server: SimulatorServer) -> None:
    case = make_case(severity="Medium")
    name = run(server, lambda s: s.upsert_incident(case))["incident"]
    owner = {"objectId": "2046feea-040d-4a46-9e2b-91c2941bfa70", "email": "ana@contoso.example",
             "assignedTo": "Ana Lyst", "userPrincipalName": "ana@contoso.example"}
    analyst_edit(server, name, status="Active", owner=owner, severity="High",
                 labels=[{"labelName": "triaged", "labelType": "User"}])
    updated = run(server, lambda s: s.upsert_incident(replace(case, severity="Low",
                                                              rule_ids=("unpublished-signing-key",))))
    assert updated["status"] == "Active" and updated["severity"] == "High"
    [incident] = incidents(server)
    assert incident["properties"]["owner"] == owner
    assert {label["labelName"] for label in incident["properties"]["labels"]} == {
        "triaged", "Tokenwarden", "unpublished-signing-key"}


class RacingArm(ArmClient):
    """An ARM client whose incident updates always lose a race: an analyst writes just before each one lands."""

    races = 0

    async def request(self, method: str, path: str, **options: Any) -> ArmResponse:
        headers = options.get("headers") or {}
        if method == "PUT" and "If-Match" in headers and (RacingArm.races < 1 or options.get("what") == "always"):
            RacingArm.races += 1
            current = await super().request("GET", path, api_version=SENTINEL_API_VERSION)
            properties = {**current.body["properties"], "status": "Active"}
            await super().request("PUT", path, api_version=SENTINEL_API_VERSION, body={"properties": properties})
        return await super().request(method, path, **options)


def test_a_412_race_is_reread_and_the_analysts_change_survives(server: SimulatorServer) -> None:
    case = make_case(severity="Low")
    run(server, lambda s: s.upsert_incident(case))
    RacingArm.races = 0
    result = run(server, lambda s: s.upsert_incident(replace(case, severity="High")), arm_type=RacingArm)
    assert result["conflicts"] == 1 and RacingArm.races == 1
    [incident] = incidents(server)
    assert incident["properties"]["status"] == "Active" and incident["properties"]["severity"] == "High"


def test_an_incident_that_keeps_changing_is_given_up_after_a_bound(server: SimulatorServer) -> None:
    class AlwaysRacing(RacingArm):
        async def request(self, method: str, path: str, **options: Any) -> ArmResponse:
            if method == "PUT" and "If-Match" in (options.get("headers") or {}):
                options["what"] = "always"
            return await super().request(method, path, **options)

    case = make_case(severity="Low")
    run(server, lambda s: s.upsert_incident(case))
    with pytest.raises(UpstreamError, match="changed 3 times"):
        run(server, lambda s: s.upsert_incident(replace(case, severity="High")), arm_type=AlwaysRacing,
            max_conflicts=2)


def test_a_case_from_an_existing_incident_updates_that_incident(server: SimulatorServer) -> None:
    existing = str(uuid.uuid4())
    path = f"{WORKSPACE}/providers/Microsoft.SecurityInsights/incidents/{existing}"

    async def create(sentinel: SentinelIncidents) -> None:
        await sentinel.arm.request("PUT", path, api_version=SENTINEL_API_VERSION, body={"properties": {
            "title": "Analytics: token with unpublished key", "description": "from the analytics rule",
            "severity": "Medium", "status": "Active"}})

    run(server, create)
    result = run(server, lambda s: s.record_run(make_case(), run_id="inv-1", incident_name=existing))
    assert result["incident"] == existing and result["created"] is False
    [incident] = incidents(server)
    properties = incident["properties"]
    assert properties["title"] == "Analytics: token with unpublished key"
    assert properties["description"] == "from the analytics rule"
    assert properties["severity"] == "High" and properties["status"] == "Active"
    assert len(comments(server)) == 1


def test_a_named_incident_that_does_not_exist_is_an_error_not_a_new_incident(server: SimulatorServer) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(UpstreamError, match="does not exist"):
        run(server, lambda s: s.record_run(make_case(), run_id="inv-1", incident_name=missing))
    assert server.state.arm_resources == {}


def test_a_503_on_the_incident_put_is_retried(server: SimulatorServer) -> None:
    server.faults.fail("*/providers/Microsoft.SecurityInsights/incidents/*", method="PUT", status=503, times=1)
    result = run(server, lambda s: s.record_run(make_case(), run_id="inv-1"))
    assert result["created"] and result["comment_created"]
    assert len(incidents(server)) == 1 and len(comments(server)) == 1


def test_a_malformed_incident_name_is_refused_before_any_call(server: SimulatorServer) -> None:
    from shared.core.errors import DataError

    with pytest.raises(DataError, match="not a Sentinel incident id"):
        run(server, lambda s: s.upsert_incident(make_case(), incident_name="../../x"))
    assert server.stats.count() == 0
