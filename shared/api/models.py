"""Request and response models of every route (pydantic v2): the validation and the OpenAPI schemas.

Requests forbid unknown fields (a typo is an error, not a silently ignored option); query-string models
ignore them, because the Functions host passes the function key as ``?code=``. Strings are bounded, lists
are bounded, times must carry a zone. Response models describe what the routes send; the OpenAPI document
(:mod:`shared.api.openapi`) is generated from these classes and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    model_validator,
)

from shared.core.safetext import scrub_secrets

__all__ = [
    "MAX_RESPOND_PRINCIPALS",
    "MAX_TOKEN_CHARS",
    "ActionModel",
    "AnalyzeTokenRequest",
    "AnalyzeTokenResponse",
    "ApproveRequest",
    "ApproveResponse",
    "CaseDetail",
    "CaseListQuery",
    "CaseListResponse",
    "CaseResponseModel",
    "CaseSummary",
    "ErrorBody",
    "ErrorDetail",
    "ErrorResponse",
    "FindingModel",
    "HealthCheck",
    "HealthResponse",
    "PlanModel",
    "PlanStep",
    "PrincipalModel",
    "RespondRequest",
    "RespondResponse",
    "RuleRunModel",
    "ScanRecorded",
    "ScanRequest",
    "ScanResponse",
    "SentinelIncidentRequest",
    "SentinelIncidentResponse",
    "StepOutcomeModel",
    "TokenReason",
    "TransitionModel",
]

MAX_TOKEN_CHARS = 16 * 1024
MAX_RESPOND_PRINCIPALS = 100
"""Users and apps one ``POST /respond`` may name, in all."""

CaseStateName = Literal["new", "enriched", "awaiting_approval", "responding", "contained", "containment_breached",
                        "failed", "closed"]
SeverityName = Literal["High", "Medium", "Low", "Informational"]
ResponseModeName = Literal["dry-run", "approval", "auto"]
TokenVerdictName = Literal["compromised_key", "consumer_key_for_org_app", "unpublished_key", "unsupported_algorithm",
                           "bad_signature", "issuer_tenant_mismatch", "audience_mismatch", "expired",
                           "not_yet_valid"]
ActionPhaseName = Literal["planned", "intent", "succeeded", "skipped", "refused", "failed"]

# A line of text a person typed: no control characters, bounded, and a pasted bearer token or signed JWT loses
# its secret part before anything (ledger, logs, answers) sees it (shared/core/safetext.py).
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256,
                                         pattern=r"^[^\x00-\x1f\x7f]+$"), AfterValidator(scrub_secrets)]
_LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000,
                                             pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$"),
                      AfterValidator(scrub_secrets)]
RuleId = Annotated[str, StringConstraints(min_length=3, max_length=100, pattern=r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$")]
AppId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}"
                                                                         r"[0-9A-Fa-f]{12}$")]
UserRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256,
                                           pattern=r"^[^\s\x00-\x1f\x7f/\\#?]+$")]
"""A user object id (GUID) or UPN."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- errors -----------------------------------------------------------------------------------------


class ErrorDetail(_Response):
    loc: str = Field(description="Where in the request: a dotted path such as `body.rules.0` or `query.limit`.")
    msg: str = Field(description="What is wrong there. The submitted value is never echoed.")


class ErrorBody(_Response):
    code: str = Field(description="A stable snake_case code, e.g. `invalid_body`, `not_found`, `not_configured`.")
    message: str = Field(description="One line for a person.")
    details: list[ErrorDetail] | None = None


class ErrorResponse(_Response):
    """Every error: 4xx, 5xx."""

    error: ErrorBody
    invocation_id: str = Field(description="The Functions invocation id; search App Insights for it.")


class CaseAccepted(_Response):
    """A case whose work was accepted (202): it is queued, or another invocation is already working on it."""

    case_id: str
    state: Literal["queued", "in_progress"] = Field(
        description="`queued`: a respond message was sent for it; `in_progress`: another invocation holds it.")
    status_url: str = Field(description="`/api/cases/{id}`: the case, its transitions and its action log.")
    reason: str


# -- POST /sentinel/incident ------------------------------------------------------------------------


class SentinelIncidentRequest(RootModel[dict[str, Any] | None]):
    """The Sentinel automation (Logic App) body, passed through: any JSON object, or null.

    The incident's shape is parsed by the incident handler, not here, because Sentinel adds fields freely.
    """


class SentinelIncidentResponse(_Response):
    """202: the incident's accounts are recorded as cases linked to it, and their work is queued."""

    accepted: bool
    case_ids: list[str] = Field(default_factory=list)
    status_urls: list[str] = Field(default_factory=list, description="`/api/cases/{id}` for each case, in order.")
    detail: str | None = None


# -- POST /scan ------------------------------------------------------------------------------------


class ScanRequest(_Request):
    """A manual or backfill scan of ``[since, until)``. Checkpoints are never read or moved."""

    since: AwareDatetime = Field(description="Window start, ISO 8601 with a zone (`Z` or an offset).")
    until: AwareDatetime = Field(description="Window end (exclusive), after `since`, at most 31 days later.")
    rules: list[RuleId] = Field(default_factory=list, max_length=50,
                                description="Rule ids to run; empty runs every rule.")
    dry_run: bool = Field(default=True, description="True: return the findings and store nothing. "
                                                     "False: also record them in the ledger (cases, findings).")


class FindingModel(_Response):
    rule_id: str
    rule_title: str
    severity: str
    first_seen: datetime
    last_seen: datetime
    count: int
    user_upn: str | None = None
    user_object_id: str | None = None
    app_id: str | None = None
    ip_address: str | None = None
    key_id: str | None = None
    token_id: str | None = None
    issuer: str | None = None
    tenant_id: str | None = None
    source_table: str = ""
    evidence: Any = None
    first_arrived: datetime | None = Field(
        default=None, description="When the finding's earliest row reached the workspace (ingestion_time()).")
    recorded_at: datetime | None = Field(default=None, description="When Tokenwarden first recorded the finding.")
    detection_latency_seconds: float | None = Field(
        default=None, description="From the event (first_seen) to Tokenwarden recording it.")


class RuleRunModel(_Response):
    rule_id: str
    status: Literal["complete", "partial", "failed", "no_input"]
    findings: int
    elapsed_seconds: float
    message: str | None = None


class ScanRecorded(_Response):
    findings_new: int
    findings_merged: int
    findings_unchanged: int
    cases_created: list[str]
    cases_updated: list[str]


class ScanResponse(_Response):
    dry_run: bool
    since: datetime
    until: datetime
    source: str
    complete: bool = Field(description="Every rule ran to completion; otherwise see `runs` for which did not.")
    runs: list[RuleRunModel]
    findings: list[FindingModel]
    findings_total: int
    findings_truncated: bool = Field(description="More findings than the response holds (`findings_total`).")
    warnings: list[str]
    recorded: ScanRecorded | None = Field(default=None, description="What the ledger recorded; null on a dry run.")


# -- POST /respond ---------------------------------------------------------------------------------


class RespondRequest(_Request):
    """A manual response on named users or apps (at most :data:`MAX_RESPOND_PRINCIPALS` in all)."""

    users: list[UserRef] = Field(default_factory=list, max_length=MAX_RESPOND_PRINCIPALS,
                                 description="User object ids or UPNs.")
    apps: list[AppId] = Field(default_factory=list, max_length=MAX_RESPOND_PRINCIPALS,
                              description="Application (client) ids.")
    mode: ResponseModeName | None = Field(
        default=None, description="Narrows the app's RESPONSE_MODE for this request (never widens it); null: "
                                  "RESPONSE_MODE. A request is never its own approval: `auto` with `dry_run: false` "
                                  "and an `approver` is refused (403).")
    dry_run: bool = Field(default=True, description="True: record the plan only, whatever the mode.")
    approver: _Text | None = Field(default=None, description="Who asks (recorded as the actor of every action). "
                                   "Behind Easy Auth it must be the signed-in caller, who is recorded either way.")
    reason: _LongText

    @model_validator(mode="after")
    def _has_a_target(self) -> RespondRequest:
        if not self.users and not self.apps:
            raise ValueError("name at least one user or app")
        if len(self.users) + len(self.apps) > MAX_RESPOND_PRINCIPALS:
            raise ValueError(f"name at most {MAX_RESPOND_PRINCIPALS} users and apps in all")
        return self


class StepOutcomeModel(_Response):
    step: str
    target: str
    phase: ActionPhaseName
    detail: dict[str, Any] = Field(default_factory=dict)


class CaseResponseModel(_Response):
    case_id: str
    state: CaseStateName
    reason: str
    outcomes: list[StepOutcomeModel]


class RespondResponse(_Response):
    """202: the cases are recorded and their work is queued; each case's status URL shows how it goes."""

    dry_run: bool
    mode: ResponseModeName = Field(description="The mode the work runs under (RESPONSE_MODE, narrowed).")
    approved_by: str | None = Field(description="Always null: a request is never its own approval (kept for "
                                                "clients that read it).")
    run_id: str = Field(description="Derived from the request: the same request repeated is the same run.")
    cases: list[CaseAccepted] = Field(description="One per case: each named user, app, in order.")


# -- POST /tokens/analyze --------------------------------------------------------------------------


class AnalyzeTokenRequest(_Request):
    token: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TOKEN_CHARS,
                                            pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$")] = Field(
        description="A compact JWS (header.payload.signature), at most 16 KiB. It is never stored or logged.")
    audience: _Text | None = Field(default=None, description="The audience the token was presented to.")


class TokenReason(_Response):
    code: TokenVerdictName
    message: str


class AnalyzeTokenResponse(_Response):
    """The analyzer's verdict: the most severe reason, or `valid` when there is none."""

    verdict: Literal["valid"] | TokenVerdictName
    reasons: list[TokenReason] = Field(description="Every broken rule, most severe first; empty when valid.")
    kid: str | None
    algorithm: str | None
    issuer: str | None
    published_by: list[str] = Field(description="Configured issuers whose keys hold the token's key id.")
    key_issuers: list[str]
    signature_verified: bool
    compromised_key: str | None = Field(description="The compromised-list entry the key is on.")
    audience_app: str | None = Field(description="The audience app's display name, from the app catalog.")
    notes: list[str] = Field(default_factory=list, description="Facts that are not faults, such as a nonce "
                             "token being meant only for its own resource.")
    header: dict[str, Any]
    claims: dict[str, Any]


# -- cases -----------------------------------------------------------------------------------------


class CaseListQuery(BaseModel):
    """``GET /cases`` query string. Unknown parameters (the host's ``code``) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: CaseStateName | None = None
    severity: SeverityName | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = Field(
        default=None, description="`next_cursor` of the previous page.")


class PrincipalModel(_Response):
    kind: str
    value: str


class CaseSummary(_Response):
    case_id: str
    state: CaseStateName
    severity: SeverityName
    principal: PrincipalModel
    generation: int
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    rule_ids: list[str]
    finding_count: int
    more_findings: bool
    user_upns: list[str]


class CaseListResponse(_Response):
    cases: list[CaseSummary] = Field(description="Most recently updated first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class TransitionModel(_Response):
    at: datetime
    from_state: CaseStateName | None
    to_state: CaseStateName
    reason: str


class ActionModel(_Response):
    action_id: str
    step: str
    target: str
    phase: ActionPhaseName
    mode: str
    actor: str
    invocation_id: str
    updated_at: datetime
    attempts: int
    detail: dict[str, Any]


class PlanStep(_Response):
    step: str
    conditional: bool = Field(description="The step runs only for cases whose facts match its `when`.")


class PlanModel(_Response):
    playbook: str
    description: str = ""
    steps: list[PlanStep] = Field(description="The playbook's steps as the triage policy now defines them.")


class OutboxModel(_Response):
    """What the outbox holds for the case: whether the scan timer will queue it again, when, and for whom."""

    wanted_since: datetime | None = Field(description="The outbox mark: when the case last needed the respond "
                                          "worker; null when no work is wanted (done, or given up).")
    failed_passes: int = Field(description="Respond passes on the current mark that ended `failed`; at 4 the outbox "
                               "stops re-queueing the case.")
    retry_at: datetime | None = Field(description="After a failed pass: the scan timer re-queues the case no "
                                      "earlier than this (15, 30, then 60 minutes).")
    approved_by: str | None = Field(description="The approver whose approved response a re-queue resumes.")
    gave_up: bool = Field(description="The case failed on every allowed pass and is no longer re-queued; "
                          "`POST /api/respond` naming its user resumes it.")


class CaseDetail(CaseSummary):
    token_ids: list[str]
    transitions: list[TransitionModel]
    transitions_dropped: int
    findings: list[FindingModel]
    findings_truncated: bool
    enrichment: dict[str, Any] | None = Field(description="Users, apps, IPs and keys looked up for the case.")
    decision: dict[str, Any] | None = Field(description="The triage decision: severity, playbook, matched rule.")
    plan: PlanModel | None = Field(description="The decided playbook's steps; null before triage.")
    actions: list[ActionModel] = Field(description="The action log, oldest first.")
    sentinel_incident: str | None = Field(default=None, description="The Sentinel incident the case reports to.")
    outbox: OutboxModel
    detection_latency_seconds: float | None = Field(
        default=None, description="From the earliest event behind the case to Tokenwarden first recording it.")


class ApproveRequest(_Request):
    approver: _Text | None = Field(default=None, description="Behind Easy Auth: optional, and if given it must be the "
                                   "signed-in caller. With INSECURE_LOCAL_APPROVALS (local only): required.")
    comment: _LongText | None = None


class ApproveResponse(CaseResponseModel):
    approved_by: str


# -- GET /health -----------------------------------------------------------------------------------


class HealthCheck(_Response):
    name: str
    status: Literal["ok", "failed", "not_configured", "configured"]
    detail: str | None = None


class HealthResponse(_Response):
    status: Literal["ok", "degraded", "unhealthy"] = Field(
        description="`unhealthy` (HTTP 503): settings invalid or the ledger unreachable; "
                    "`degraded`: an optional part is not configured.")
    checks: list[HealthCheck]
    insecure_local_approvals: bool = Field(
        default=False, description="INSECURE_LOCAL_APPROVALS is on: approvers are not verified (local runs only).")
    invocation_id: str
