"""Who a finding is about, what makes two findings the same, and the deterministic id of a case.

A case exists per compromised principal: the user (object id, else UPN), else the app acting as
itself (its service principal, which Graph logs on app-only calls), else — when the logs name no
principal — the forged token. ``AppId`` is deliberately never a principal: in ``TokenValidation_CL``
it is the *resource* app that validated the token, so grouping by it would merge every victim of
one forged-token campaign against one API into a single case.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from shared.detect.findings import Finding

__all__ = [
    "FindingIdentity",
    "Principal",
    "PrincipalKind",
    "case_id",
    "case_subject",
    "finding_identity",
    "own_principal",
    "upn_alias",
]

PrincipalKind = Literal["user", "upn", "service-principal", "token", "finding"]

_CASE_PREFIX = {"user": "usr", "upn": "upn", "service-principal": "spn", "token": "tok", "finding": "fnd"}


@dataclass(frozen=True, order=True)
class Principal:
    """A case's subject. ``value`` is normalised (identifiers lower-cased) so spellings group together."""

    kind: PrincipalKind
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"

    def digest(self) -> str:
        """A fixed-length hex digest of the key, safe as a table key whatever the value holds."""
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FindingIdentity:
    """What makes two rows the same finding: the rule and the token, or, without a token id, the rule
    with the finding's own principal, app and client IP (the OfficeActivity mail rule logs no token)."""

    rule_id: str
    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return json.dumps([self.rule_id, *self.parts], separators=(",", ":"))

    @property
    def row_key(self) -> str:
        """32 hex characters: unique in practice, and free of the characters table keys forbid."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:32]

    @property
    def ref(self) -> str:
        """How a case refers to the finding: ``<rule id>:<row key>``."""
        return f"{self.rule_id}:{self.row_key}"


_MAX_VALUE_CHARS = 1_024


def _bounded(value: str) -> str:
    """Identifiers are short; a value longer than any real one is kept as its hash, so records stay small."""
    if len(value) <= _MAX_VALUE_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def _lower(value: str | None) -> str | None:
    return _bounded(value.strip().lower()) if value and value.strip() else None


def _service_principal(finding: Finding) -> str | None:
    value = finding.evidence.get("service_principal_id")
    return _lower(value) if isinstance(value, str) else None


def own_principal(finding: Finding) -> Principal | None:
    """The principal the finding itself names, before any alias is applied; None when it names none."""
    if oid := _lower(finding.user_object_id):
        return Principal("user", oid)
    if upn := _lower(finding.user_upn):
        return Principal("upn", upn)
    if spn := _service_principal(finding):
        return Principal("service-principal", spn)
    return None


def upn_alias(finding: Finding) -> tuple[Principal, Principal] | None:
    """(UPN principal, user principal) when the finding carries both: later UPN-only findings of the
    same user (the mail rule's) then attach to the user's case instead of opening another."""
    oid, upn = _lower(finding.user_object_id), _lower(finding.user_upn)
    if oid and upn:
        return Principal("upn", upn), Principal("user", oid)
    return None


def finding_identity(finding: Finding) -> FindingIdentity:
    if finding.token_id:
        return FindingIdentity(finding.rule_id, ("token", finding.token_id))
    own = own_principal(finding)
    return FindingIdentity(finding.rule_id, (
        own.key if own else "", _lower(finding.app_id) or "", (finding.ip_address or "").strip(),
    ))


def case_subject(finding: Finding) -> Principal:
    """The finding's own principal, else its token, else (nothing names anyone) the finding itself."""
    own = own_principal(finding)
    if own is not None:
        return own
    if finding.token_id:
        return Principal("token", _bounded(finding.token_id.strip()))
    return Principal("finding", finding_identity(finding).row_key)


def case_id(principal: Principal, generation: int) -> str:
    """``case-<kind>-<20 hex of the principal>-<generation>``: the same principal and generation give
    the same id in every process, which is what lets concurrent scans converge on one case."""
    if generation < 1:
        raise ValueError(f"a case generation starts at 1, got {generation}")
    return f"case-{_CASE_PREFIX[principal.kind]}-{principal.digest()[:20]}-{generation}"
