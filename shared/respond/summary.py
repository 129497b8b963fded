"""What a playbook run tells people: the Sentinel comment (HTML) and the webhook card (a Teams workflow).

Everything in a summary that came from logs or the directory (display names,
UPNs, app names, IP facts, evidence, error texts) is attacker-influenced: a
forged token can carry any ``upn`` and a compromised account can rename itself
``<img src=x onerror=...>``. Sentinel renders comments as HTML *and* Markdown,
so :func:`escape_text` turns every character either language gives meaning to
(``<>&"'`` and ``\\`*_{}[]()#+-.!|~:``) into a numeric character reference and
replaces control and format characters (newlines, bidi overrides, zero-width
characters) with spaces: a value can neither open a tag nor start a link, an
image, a heading or a list, nor end the HTML block the comment is written as.

Comments must stay under Sentinel's 30,000-character limit. Values are clipped
while they are escaped (so a cut never falls inside an entity), and lists are
cut to whole rows with a "… and N more" line; :func:`render_comment` shrinks the
longest lists until the whole comment fits and asserts it does.

The webhook payload is an Adaptive Card message, the only format a Teams
"When a Teams webhook request is received" workflow posts (the older
MessageCard format of Office 365 connectors is not supported there):
``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "contentUrl": null, "content":
{AdaptiveCard 1.4}}]}``. :func:`render_notification` with ``style="json"`` gives a
flat document (title, text, case id, severity, state, actions) for other
receivers instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from shared.cases.model import Case
    from shared.detect.findings import Finding

__all__ = [
    "MAX_COMMENT_CHARS",
    "OutcomeLike",
    "escape_text",
    "render_comment",
    "render_description",
    "render_notification",
]

MAX_COMMENT_CHARS = 30_000
"""Sentinel's limit on an incident comment's ``message``; every comment is shorter."""
MAX_WEBHOOK_TEXT = 200
"""Characters per value in the webhook card (Teams rejects messages over about 28 KB)."""
_ROWS = 100
"""Rows per list before the size budget is even considered: nobody reads row 101 in a comment."""

_SPECIAL = "&<>\"'\\`*_{}[]()#+-.!|~:"
_ESCAPES = {ord(c): f"&#{ord(c)};" for c in _SPECIAL}
_TEAMS_SPECIAL = "\\`*_[]<>"


class OutcomeLike(Protocol):
    """A step's outcome as the engine reports it (:class:`shared.respond.engine.StepOutcome`).

    A protocol rather than an import, so the engine can import this module without a cycle."""

    @property
    def step(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def phase(self) -> str: ...
    @property
    def detail(self) -> Mapping[str, Any]: ...


# --- escaping ------------------------------------------------------------------------------------------
def _clean(value: object) -> str:
    """The value as one line: control, format and separator characters become spaces, runs collapse."""
    text = "" if value is None else str(value)
    chars = [" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c for c in text]
    return " ".join("".join(chars).split())


def escape_text(value: object, *, limit: int = 256) -> str:
    """*value* safe inside HTML and Markdown, at most *limit* characters of output, clipped with "…".

    The clip is made between escaped characters, so an entity is never cut in half."""
    out: list[str] = []
    used = 0
    for char in _clean(value):
        piece = _ESCAPES.get(ord(char), char)
        if used + len(piece) > limit - 1:
            out.append("…")
            break
        out.append(piece)
        used += len(piece)
    return "".join(out)


def _plain(value: object, *, limit: int = MAX_WEBHOOK_TEXT) -> str:
    text = _clean(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _teams(value: object, *, limit: int = MAX_WEBHOOK_TEXT) -> str:
    """A value for Adaptive Card text: one line, clipped, its Markdown characters backslash-escaped."""
    text = _plain(value, limit=limit)
    return "".join(f"\\{c}" if c in _TEAMS_SPECIAL else c for c in text)


def _time(value: object) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return "" if value is None else str(value)


# --- the comment ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Section:
    """One list in the comment: how to render a row, and its rows."""

    name: str
    rows: Sequence[Any]
    row: Callable[[Any], str]


def _row(cells: Sequence[str]) -> str:
    """A table row of already escaped cells."""
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _finding_row(finding: Finding) -> str:
    return _row([
        escape_text(finding.rule_id, limit=80), escape_text(_time(finding.first_seen), limit=40),
        escape_text(_time(finding.last_seen), limit=40), str(int(finding.count)),
        escape_text(finding.user_upn or finding.user_object_id or "", limit=160),
        escape_text(finding.app_id or "", limit=120), escape_text(finding.ip_address or "", limit=120),
        escape_text(finding.key_id or "", limit=120), escape_text(finding.token_id or "", limit=120),
    ])


def _user_row(user: Mapping[str, Any]) -> str:
    status = str(user.get("status") or "")
    if status != "ok":
        error = f": {user.get('error')}" if user.get("error") else ""
        return f"<li>{escape_text(user.get('key'), limit=200)}: lookup {escape_text(status + error, limit=300)}</li>"
    roles = user.get("roles") or []
    role_text = ", ".join(escape_text(r.get("display_name"), limit=100) + (" (privileged)" if r.get("privileged")
                                                                          else "") for r in roles[:20])
    if len(roles) > 20:
        role_text += f", … and {len(roles) - 20} more"
    facts = [
        f"<b>{escape_text(user.get('display_name') or '', limit=200)}</b>",
        escape_text(user.get("user_principal_name") or "", limit=200),
        f"id {escape_text(user.get('id') or '', limit=80)}",
        "enabled" if user.get("account_enabled") else
        ("disabled" if user.get("account_enabled") is False else "enabled: unknown"),
        f"type {escape_text(user.get('user_type') or 'unknown', limit=40)}",
    ]
    if user.get("job_title") or user.get("department"):
        facts.append(escape_text(" / ".join(str(user.get(k)) for k in ("job_title", "department") if user.get(k)),
                                 limit=200))
    facts.append(f"risk {escape_text(user.get('risk_level') or 'unknown', limit=40)}"
                 + (f" ({escape_text(user.get('risk_state'), limit=60)})" if user.get("risk_state") else ""))
    facts.append("privileged" if user.get("privileged") else
                 ("not privileged" if user.get("privileged") is False else "privilege unknown"))
    if role_text:
        facts.append(f"roles: {role_text}")
    return "<li>" + " · ".join(facts) + "</li>"


def _app_row(app: Mapping[str, Any]) -> str:
    if app.get("status") != "ok":
        problem = str(app.get("status") or "") + (f": {app['error']}" if app.get("error") else "")
        return f"<li>app {escape_text(app.get('app_id'), limit=80)}: lookup {escape_text(problem, limit=300)}</li>"
    return (f"<li>app <b>{escape_text(app.get('display_name') or '', limit=200)}</b> "
            f"({escape_text(app.get('app_id'), limit=80)}) · audience "
            f"{escape_text(app.get('sign_in_audience') or 'unknown', limit=80)} · owner tenant "
            f"{escape_text(app.get('app_owner_organization_id') or 'unknown', limit=80)}</li>")


def _ip_row(ip: Mapping[str, Any]) -> str:
    facts = [f"<b>{escape_text(ip.get('ip'), limit=120)}</b>", escape_text(ip.get("classification"), limit=40)]
    matches = ip.get("ti_matches")
    if matches:
        types = ", ".join(str(t) for t in (ip.get("threat_types") or [])[:10])
        facts.append(f"<b>threat intelligence: {int(matches)} match(es)</b>"
                     + (f" ({escape_text(types, limit=300)})" if types else ""))
    elif matches == 0:
        facts.append("no threat-intelligence match")
    else:
        facts.append("threat intelligence: unknown")
    place = ", ".join(str(ip[k]) for k in ("city", "country") if ip.get(k))
    if place:
        facts.append(escape_text(place, limit=120))
    if ip.get("error"):
        facts.append(f"error: {escape_text(ip.get('error'), limit=200)}")
    return "<li>" + " · ".join(facts) + "</li>"


def _key_row(key: Mapping[str, Any]) -> str:
    facts = [f"key <b>{escape_text(key.get('key_id'), limit=120)}</b>"]
    if key.get("compromised"):
        facts.append(f"<b>on the compromised list: {escape_text(key.get('compromised'), limit=200)}</b>")
    published = key.get("published_by") or []
    facts.append("published by " + escape_text(", ".join(str(p) for p in published[:10]), limit=400)
                 if published else "published by no watched issuer")
    if key.get("certificate_not_after"):
        facts.append(f"certificate valid until {escape_text(key.get('certificate_not_after'), limit=40)}")
    return "<li>" + " · ".join(facts) + "</li>"


def _outcome_row(outcome: OutcomeLike) -> str:
    detail = dict(outcome.detail or {})
    why = detail.get("reason") or detail.get("error") or detail.get("note") or ""
    if not why and "changed" in detail:
        why = "changed" if detail["changed"] else "nothing to change"
    phase = escape_text(outcome.phase, limit=20)
    if outcome.phase in ("refused", "failed"):
        phase = f"<b>{phase}</b>"
    return _row([escape_text(outcome.step, limit=60), escape_text(outcome.target, limit=160), phase,
                       escape_text(why, limit=400)])


def _degraded_row(line: object) -> str:
    return f"<li>{escape_text(line, limit=300)}</li>"


def _transition_row(transition: Any) -> str:
    return (f"<li>{escape_text(_time(transition.at), limit=40)}: {escape_text(transition.from_state or '-', limit=30)}"
            f" → {escape_text(transition.to_state, limit=30)}: {escape_text(transition.reason, limit=300)}</li>")


def _list(section: _Section, limit: int, wrap: tuple[str, str]) -> str:
    shown = [section.row(row) for row in section.rows[:limit]]
    more = len(section.rows) - len(shown)
    if more > 0:
        tail = f"… and {more} more"
        shown.append(f"<tr><td colspan=\"9\">{tail}</td></tr>" if wrap[0].startswith("<table") else f"<li>{tail}</li>")
    return wrap[0] + "".join(shown) + wrap[1] if shown else ""


def _refusals(outcomes: Sequence[OutcomeLike]) -> list[str]:
    """Why steps were not taken: refusals (protected principals) and holds (blast radius, approval)."""
    reasons: list[str] = []
    for outcome in outcomes:
        reason = (outcome.detail or {}).get("reason")
        if outcome.phase == "refused" or (outcome.phase == "planned" and reason):
            text = f"{outcome.step} on {outcome.target}: {outcome.phase}" + (f" ({reason})" if reason else "")
            if text not in reasons:
                reasons.append(text)
    return reasons


def render_comment(case: Case, outcomes: Sequence[OutcomeLike] = (), *, run_id: str | None = None,
                   findings: Sequence[Finding] = (), reason: str | None = None, note: str | None = None,
                   budget: int = MAX_COMMENT_CHARS) -> str:
    """The comment one playbook run leaves on the case's incident, as HTML, shorter than *budget*.

    :param case: the case as stored (state, severity, enrichment, decision, transitions).
    :param outcomes: the run's step outcomes (``CaseResponse.outcomes``), refusals and holds included.
    :keyword run_id: the run this comment reports (shown in its heading; the comment id is made from it too).
    :keyword findings: the case's findings (``FindingStore.for_case(...)`` then ``to_finding()``).
    :keyword reason: the run's one-line result (``CaseResponse.reason``): why it acted, waited or refused.
    :keyword note: an optional extra line (for example who approved the run).
    """
    enrichment = case.enrichment or {}
    decision = case.decision or {}
    sections = {
        "outcomes": _Section("outcomes", list(outcomes), _outcome_row),
        "findings": _Section("findings", sorted(findings, key=lambda f: (f.last_seen, f.rule_id), reverse=True),
                             _finding_row),
        "users": _Section("users", list(enrichment.get("users") or []), _user_row),
        "apps": _Section("apps", list(enrichment.get("apps") or []), _app_row),
        "ips": _Section("ips", list(enrichment.get("ips") or []), _ip_row),
        "keys": _Section("keys", list(enrichment.get("keys") or []), _key_row),
        "degraded": _Section("degraded", list(enrichment.get("degraded") or []), _degraded_row),
        "transitions": _Section("transitions", list(case.transitions[-20:]), _transition_row),
        "refusals": _Section("refusals", _refusals(outcomes), _degraded_row),
    }
    limits = {name: min(_ROWS, len(section.rows)) for name, section in sections.items()}

    def render() -> str:
        finding_total = max(len(findings), len(case.finding_refs))
        parts = [
            "<h3>Tokenwarden run" + (f" {escape_text(run_id, limit=120)}" if run_id else "") + "</h3>",
            f"<p><b>Case</b> {escape_text(case.case_id, limit=120)} · <b>state</b> {escape_text(case.state, limit=30)}"
            f" · <b>severity</b> {escape_text(case.severity, limit=20)} · <b>principal</b> "
            f"{escape_text(case.principal.kind, limit=30)} {escape_text(case.principal.value, limit=200)}</p>",
            f"<p><b>Activity</b> {escape_text(_time(case.first_seen), limit=40)} to "
            f"{escape_text(_time(case.last_seen), limit=40)} · <b>rules</b> "
            f"{escape_text(', '.join(case.rule_ids), limit=600)} · <b>findings</b> {finding_total}"
            + (" (more in the ledger)" if case.more_findings else "") + "</p>",
        ]
        if reason:
            parts.append(f"<p><b>Result:</b> {escape_text(reason, limit=1200)}</p>")
        if note:
            parts.append(f"<p>{escape_text(note, limit=600)}</p>")
        refusals = _list(sections["refusals"], limits["refusals"], ("<ul>", "</ul>"))
        if refusals:
            parts.append("<h4>Not actioned, and why</h4>" + refusals)
        parts.append("<h4>Decision</h4>")
        if decision:
            parts.append(f"<p>playbook <b>{escape_text(decision.get('playbook'), limit=120)}</b> · severity "
                         f"{escape_text(decision.get('severity'), limit=20)} · matched "
                         f"{escape_text(decision.get('matched') or 'default', limit=200)} · "
                         f"{escape_text(decision.get('reason'), limit=600)}</p>")
        else:
            parts.append("<p>no triage decision recorded</p>")
        actions = _list(sections["outcomes"], limits["outcomes"], (
            "<table><tr><th>Step</th><th>Target</th><th>Phase</th><th>Detail</th></tr>", "</table>"))
        parts.append("<h4>Actions</h4>" + (actions or "<p>no steps in this run</p>"))
        parts.append("<h4>Enrichment</h4>")
        enrichment_lists = "".join(_list(sections[name], limits[name], ("<ul>", "</ul>"))
                                   for name in ("users", "apps", "ips", "keys"))
        parts.append(enrichment_lists or "<p>no enrichment recorded</p>")
        degraded = _list(sections["degraded"], limits["degraded"], ("<ul>", "</ul>"))
        if degraded:
            parts.append("<p><b>Not known (lookups failed):</b></p>" + degraded)
        finding_rows = _list(sections["findings"], limits["findings"], (
            "<table><tr><th>Rule</th><th>First seen</th><th>Last seen</th><th>Count</th><th>User</th><th>App</th>"
            "<th>IP</th><th>Key</th><th>Token</th></tr>", "</table>"))
        parts.append(f"<h4>Findings ({finding_total})</h4>" + (finding_rows or "<p>none attached to this run</p>"))
        history = _list(sections["transitions"], limits["transitions"], ("<ul>", "</ul>"))
        if history:
            parts.append("<h4>Case history</h4>" + history)
        return "".join(parts)

    message = render()
    # Shrink the longest list (findings first among equals) until the comment fits; a list at zero rows
    # still says "… and N more", so nothing disappears silently.
    order = ("findings", "transitions", "degraded", "ips", "keys", "apps", "users", "outcomes", "refusals")
    while len(message) >= budget and any(limits[name] for name in order):
        name = max(order, key=lambda n: limits[n])
        limits[name] //= 2
        message = render()
    assert len(message) < budget, f"comment of {len(message)} characters does not fit in {budget}"
    return message


def render_description(case: Case) -> str:
    """The incident's description: what Tokenwarden saw, in plain words, escaped like a comment."""
    decision = case.decision or {}
    text = (
        f"Tokenwarden found access-token use that no legitimate issuer explains for {case.principal.kind} "
        f"{escape_text(case.principal.value, limit=200)} (case {escape_text(case.case_id, limit=120)}): rules "
        f"{escape_text(', '.join(case.rule_ids), limit=600)}, {max(len(case.finding_refs), 1)} finding(s) between "
        f"{escape_text(_time(case.first_seen), limit=40)} and {escape_text(_time(case.last_seen), limit=40)}."
    )
    if decision.get("playbook"):
        text += f" Playbook: {escape_text(decision.get('playbook'), limit=120)}."
    return text + " Each playbook run adds a comment with the findings, the enrichment and the actions taken."


# --- the webhook payload ----------------------------------------------------------------------------------
def render_notification(case: Case, outcomes: Sequence[OutcomeLike] = (), *, reason: str | None = None,
                        incident: Mapping[str, Any] | None = None,
                        style: Literal["teams", "json"] = "teams") -> dict[str, Any]:
    """A short summary for a webhook: a Teams Adaptive Card message, or (``style="json"``) a flat document.

    :keyword incident: what :meth:`SentinelIncidents.upsert_incident` returned, to name the incident.
    """
    refusals = _refusals(outcomes)
    title = f"Tokenwarden: {case.severity} case {case.case_id} is {case.state}"
    actions = [{"step": _plain(o.step, limit=60), "target": _plain(o.target, limit=160), "phase": o.phase,
                "detail": _plain((o.detail or {}).get("reason") or (o.detail or {}).get("error")
                                 or (o.detail or {}).get("note") or "", limit=300)} for o in outcomes[:50]]
    if style == "json":
        return {
            "title": title, "text": _plain(reason or "", limit=1000), "case_id": case.case_id,
            "severity": case.severity, "state": case.state, "principal": _plain(case.principal.value),
            "rule_ids": list(case.rule_ids), "playbook": (case.decision or {}).get("playbook"),
            "incident": dict(incident) if incident else None, "refusals": [_plain(r, limit=400) for r in refusals],
            "actions": actions, "actions_omitted": max(0, len(outcomes) - len(actions)),
        }
    facts = [
        {"title": "Case", "value": _teams(case.case_id)},
        {"title": "Severity", "value": _teams(case.severity)},
        {"title": "State", "value": _teams(case.state)},
        {"title": "Principal", "value": _teams(f"{case.principal.kind} {case.principal.value}")},
        {"title": "Rules", "value": _teams(", ".join(case.rule_ids), limit=400)},
        {"title": "Playbook", "value": _teams((case.decision or {}).get("playbook") or "none")},
    ]
    if incident and incident.get("incident_number") is not None:
        facts.append({"title": "Sentinel incident", "value": _teams(incident.get("incident_number"))})
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": _teams(title, limit=300), "weight": "Bolder", "size": "Medium", "wrap": True},
    ]
    if reason:
        body.append({"type": "TextBlock", "text": _teams(reason, limit=600), "wrap": True})
    body.append({"type": "FactSet", "facts": facts})
    if refusals:
        body.append({"type": "TextBlock", "text": "Not actioned, and why", "weight": "Bolder", "wrap": True})
        body.extend({"type": "TextBlock", "text": _teams(r, limit=400), "wrap": True} for r in refusals[:10])
    if actions:
        body.append({"type": "TextBlock", "text": "Actions", "weight": "Bolder", "wrap": True})
        body.append({"type": "FactSet", "facts": [
            {"title": _teams(a["step"], limit=60), "value": _teams(f"{a['phase']} on {a['target']}"
                                                                   + (f": {a['detail']}" if a["detail"] else ""),
                                                                   limit=400)} for a in actions[:20]]})
        if len(outcomes) > 20:
            body.append({"type": "TextBlock", "text": f"… and {len(outcomes) - 20} more", "wrap": True})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "msteams": {"width": "Full"}, "body": body}
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
