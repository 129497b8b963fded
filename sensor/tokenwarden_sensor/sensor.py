"""The sensor: one object per app that records the tokens it sees, raises red flags, and refuses untrusted keys.

Two calls on the request path, both cheap and neither able to raise or wait for the network:

* :meth:`Sensor.inspect` before the app validates: reads the token (once per distinct token; later requests
  with the same token hit a bounded cache), and says whether to refuse it (its key was published as untrusted,
  or, if the app opted in, it raises a red flag);
* :meth:`Sensor.record` once the app's outcome is known: queues one ``TokenValidation_CL`` row per distinct
  token, outcome and reason per ``record_interval``, and one ``Tokenwarden.TokenAnomaly`` event per token and
  red flag.

:meth:`Sensor.observe` is both for code that has no middleware. Everything that talks to Azure runs on
background threads (:mod:`tokenwarden_sensor.outbox`, :mod:`tokenwarden_sensor.untrusted`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tokenwarden_sensor.flags import RedFlag, red_flags
from tokenwarden_sensor.keys import KeySet, compromised_key_ids
from tokenwarden_sensor.outbox import Outbox
from tokenwarden_sensor.token import Outcome, TokenFacts, read_token, validation_row

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from tokenwarden_sensor.untrusted import UntrustedKeyFollower
    from tokenwarden_sensor.webhook import UntrustedKeyWebhook

__all__ = ["DEFAULT_STREAM", "IngestionTarget", "Inspection", "Sensor", "SensorConfig", "SensorCounters",
           "UntrustedKeySource", "Verdict"]

DEFAULT_STREAM = "Custom-TokenValidation_CL"
log = logging.getLogger("tokenwarden_sensor")


@dataclass(frozen=True, kw_only=True)
class IngestionTarget:
    """Where rows go: Tokenwarden's ``LOGS_INGESTION_ENDPOINT``, ``TOKEN_VALIDATION_DCR_IMMUTABLE_ID`` and
    ``TOKEN_VALIDATION_STREAM`` (``azd env get-values``)."""

    endpoint: str
    rule_id: str
    stream: str = DEFAULT_STREAM


@dataclass(frozen=True, kw_only=True)
class UntrustedKeySource:
    """Where the untrusted-key list is: the Function App's blob endpoint (with the app's identity) or, locally,
    a connection string."""

    account_url: str | None = None
    connection_string: str | None = None
    container: str = "signing-keys"
    blob: str = "untrusted-keys.json"
    interval: float = 10.0
    """Seconds between conditional GETs."""


@dataclass(frozen=True, kw_only=True)
class SensorConfig:
    app_id: str
    """The app's own application (client) id: the row's ``AppId``."""
    app_name: str = ""
    organizations_only: bool = False
    """The app accepts work or school accounts only: a consumer-tenant token is a red flag."""
    ingestion: IngestionTarget | None = None
    anomaly_topic: str | None = None
    """Tokenwarden's inbound topic endpoint (``EVENT_GRID_INBOUND_TOPIC_ENDPOINT``) for red-flag events."""
    untrusted_keys: UntrustedKeySource | None = None
    extra_compromised_keys: tuple[str, ...] = ()
    refuse_untrusted: bool = True
    """Refuse tokens signed by a key Tokenwarden published as untrusted (the point of following the list)."""
    refuse_red_flags: bool = False
    """Also refuse tokens that raise a local red flag. Off by default: the app decides."""
    record_interval: float = 300.0
    """One row per distinct token, outcome and reason per this many seconds."""
    max_tracked_tokens: int = 20_000
    max_queued_rows: int = 10_000
    batch_size: int = 500
    flush_interval: float = 5.0


@dataclass(frozen=True)
class Verdict:
    refuse: bool
    reason: str | None = None


ALLOW = Verdict(False)


@dataclass(frozen=True, kw_only=True)
class Inspection:
    """What :meth:`Sensor.inspect` found; hand it back to :meth:`Sensor.record`."""

    facts: TokenFacts | None
    verdict: Verdict = ALLOW
    flags: tuple[RedFlag, ...] = ()


NOTHING = Inspection(facts=None)


@dataclass(frozen=True, kw_only=True)
class SensorCounters:
    """For the app's own telemetry: ``recorded`` rows were queued, then ``sent``, ``dropped`` (queue full) or
    ``failed`` (refused or unreachable endpoint)."""

    recorded: int
    sent: int
    dropped: int
    failed: int
    pending: int
    deduplicated: int
    anomalies: int
    anomalies_sent: int
    anomalies_dropped: int
    anomalies_failed: int
    refused: int
    untrusted_keys: int
    key_list_polls: int
    key_list_changes: int
    key_list_errors: int
    errors: int


@dataclass
class _Seen:
    facts: TokenFacts
    flags: tuple[RedFlag, ...]
    recorded: dict[tuple[str, str], float] = field(default_factory=dict)
    reported: bool = False
    inspection: Inspection | None = None
    """The last answer, valid while the untrusted set's version is ``version``."""
    version: int = -1


class Sensor:
    """Build one per process; :meth:`close` it at shutdown (it flushes what is queued)."""

    def __init__(self, config: SensorConfig, *, credential: TokenCredential | None = None,
                 on_key_refresh: Callable[[list[str]], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._on_key_refresh = on_key_refresh
        self._credential = credential
        self.compromised = KeySet((*compromised_key_ids(), *config.extra_compromised_keys))
        self.untrusted = KeySet()
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._lock = threading.Lock()
        self._deduplicated = self._refused = self._errors = self._unreportable = 0
        self._last_warning = 0.0
        self._rows: Outbox[dict[str, Any]] | None = None
        self._anomalies: Outbox[dict[str, Any]] | None = None
        self._senders: list[Any] = []
        self._follower: UntrustedKeyFollower | None = None
        if config.ingestion is not None:
            from tokenwarden_sensor.senders import RowSender

            sender = RowSender(endpoint=config.ingestion.endpoint, rule_id=config.ingestion.rule_id,
                               stream=config.ingestion.stream, credential=self._needs_credential("ingestion"))
            self._senders.append(sender)
            self._rows = Outbox("rows", sender, capacity=config.max_queued_rows, batch_size=config.batch_size,
                                flush_interval=config.flush_interval)
        if config.anomaly_topic:
            from tokenwarden_sensor.senders import AnomalySender

            anomalies = AnomalySender(endpoint=config.anomaly_topic, credential=self._needs_credential("anomalies"),
                                      subject=f"/apps/{config.app_id}/token-validation")
            self._senders.append(anomalies)
            self._anomalies = Outbox("anomalies", anomalies, capacity=1_000, batch_size=100,
                                     flush_interval=min(1.0, config.flush_interval))
        if config.untrusted_keys is not None:
            from tokenwarden_sensor.untrusted import UntrustedKeyFollower

            source = config.untrusted_keys
            self._follower = UntrustedKeyFollower(
                self.untrust, account_url=source.account_url, connection_string=source.connection_string,
                credential=credential if not source.connection_string else None, container=source.container,
                blob=source.blob, interval=source.interval)

    def _needs_credential(self, what: str) -> TokenCredential:
        if self._credential is None:
            raise ValueError(f"the sensor's {what} needs a credential (the app's identity, e.g. "
                             "azure.identity.DefaultAzureCredential())")
        return self._credential

    # --- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start following the untrusted-key list (the outboxes start on their first row)."""
        if self._follower is not None:
            self._follower.start()

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Send what is queued and wait for it (for tests and shutdown); True when everything was handled."""
        done = True
        for outbox in (self._rows, self._anomalies):
            if outbox is not None:
                done = outbox.flush(timeout) and done
        return done

    def close(self, timeout: float = 10.0) -> None:
        if self._follower is not None:
            self._follower.close()
        for outbox in (self._rows, self._anomalies):
            if outbox is not None:
                outbox.close(timeout)
        for sender in self._senders:
            try:
                sender.close()
            except Exception as exc:  # shutting down: say so, never raise into the app
                self._warn("closing a client", exc)

    def __enter__(self) -> Sensor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- untrusted keys --------------------------------------------------------------------------------------
    def untrust(self, key_ids: Iterable[str]) -> list[str]:
        """Distrust *key_ids* from now on; the app's key-refresh callback hears about the new ones."""
        new = self.untrusted.add(key_ids)
        if new and self._on_key_refresh is not None:
            try:
                self._on_key_refresh(new)
            except Exception as exc:  # the app's callback
                self._warn("the app's key-refresh callback", exc)
        return new

    def poll_untrusted_keys(self) -> bool:
        """Read the untrusted-key list now (it is also read every ``interval`` seconds once started)."""
        return self._follower.poll() if self._follower is not None else False

    def webhook(self, *, authorize: Callable[[Any], bool],
                subscriptions: Iterable[str] | None = None) -> UntrustedKeyWebhook:
        """The handler for an Event Grid subscription to ``Tokenwarden.SigningKeys.Untrusted``."""
        from tokenwarden_sensor.webhook import UntrustedKeyWebhook

        def on_keys(kids: Iterable[str]) -> None:
            self.untrust(kids)
            if self._follower is not None:
                self._follower.wake()  # the event says the list changed: read it now too

        return UntrustedKeyWebhook(on_keys, authorize=authorize, subscriptions=subscriptions)

    # --- the request path ------------------------------------------------------------------------------------
    def inspect(self, token: str | None) -> Inspection:
        """What the sensor makes of *token* before the app validates it. Never raises."""
        if not token:
            return NOTHING
        try:
            seen = self._lookup(token)
            if seen is None:
                return NOTHING
            version = self.untrusted.version
            cached = seen.inspection
            if cached is not None and seen.version == version:
                return cached  # the same token again, and no key was distrusted since: the common case
            inspection = self._decide(seen)
            seen.inspection, seen.version = inspection, version
            return inspection
        except Exception as exc:
            self._warn("inspecting a token", exc)
            return NOTHING

    def _decide(self, seen: _Seen) -> Inspection:
        facts = seen.facts
        if self.config.refuse_untrusted:
            key = self.untrusted.matches(facts.key_id, facts.x5t)
            if key is not None:
                return Inspection(facts=facts, flags=seen.flags,
                                  verdict=Verdict(True, f"signing key {key} is untrusted (Tokenwarden)"))
        if self.config.refuse_red_flags and seen.flags:
            return Inspection(facts=facts, flags=seen.flags, verdict=Verdict(True, seen.flags[0].reason))
        return Inspection(facts=facts, flags=seen.flags)

    def record(self, inspection: Inspection, outcome: Outcome, failure_reason: str | None = None, *,
               client_ip: str | None = None, user_agent: str | None = None) -> None:
        """Queue what the app decided about an inspected token. Never raises, never waits."""
        facts = inspection.facts
        if facts is None:
            return
        try:
            if inspection.verdict.refuse:
                self._refused += 1
                outcome, failure_reason = "Rejected", inspection.verdict.reason
            now = self._clock()
            key = (outcome, failure_reason or "")
            seen = self._seen.get(facts.fingerprint)
            if seen is not None and (seen.reported or not inspection.flags or self._anomalies is None):
                last = seen.recorded.get(key)  # read without the lock: a stale read only means a locked re-check
                if last is not None and now - last < self.config.record_interval:
                    self._deduplicated += 1
                    return
            with self._lock:
                seen = self._seen.get(facts.fingerprint)
                if seen is None:  # evicted meanwhile: record it anyway
                    seen = _Seen(facts=facts, flags=inspection.flags)
                last = seen.recorded.get(key)
                due = last is None or now - last >= self.config.record_interval
                if due:
                    if len(seen.recorded) >= 16:  # failure reasons are the app's text: keep the map small
                        seen.recorded.clear()
                    seen.recorded[key] = now
                else:
                    self._deduplicated += 1
                report = bool(inspection.flags) and not seen.reported and self._anomalies is not None
                if report:
                    seen.reported = True
            if not due and not report:
                return
            row = validation_row(facts, app_id=self.config.app_id, app_name=self.config.app_name, outcome=outcome,
                                 failure_reason=failure_reason, client_ip=client_ip, user_agent=user_agent,
                                 now=datetime.fromtimestamp(now, UTC))
            if due and self._rows is not None:
                self._rows.put(row)
            if report and self._anomalies is not None:
                self._report(row, inspection.flags)
        except Exception as exc:
            self._warn("recording a token", exc)

    def observe(self, token: str | None, outcome: Outcome, failure_reason: str | None = None, *,
                client_ip: str | None = None, user_agent: str | None = None) -> Verdict:
        """Inspect and record in one call, for code without middleware; returns the sensor's verdict (when it
        says refuse, the row records the refusal). Never raises."""
        inspection = self.inspect(token)
        self.record(inspection, outcome, failure_reason, client_ip=client_ip, user_agent=user_agent)
        return inspection.verdict

    def counters(self) -> SensorCounters:
        rows = self._rows.counters() if self._rows is not None else None
        events = self._anomalies.counters() if self._anomalies is not None else None
        follower = self._follower
        return SensorCounters(
            recorded=rows.queued if rows else 0, sent=rows.sent if rows else 0,
            dropped=rows.dropped if rows else 0, failed=rows.failed if rows else 0,
            pending=rows.pending if rows else 0, deduplicated=self._deduplicated,
            anomalies=events.queued if events else 0, anomalies_sent=events.sent if events else 0,
            anomalies_dropped=events.dropped if events else 0, anomalies_failed=events.failed if events else 0,
            refused=self._refused, untrusted_keys=len(self.untrusted),
            key_list_polls=follower.polls if follower else 0, key_list_changes=follower.changes if follower else 0,
            key_list_errors=follower.errors if follower else 0, errors=self._errors)

    # --- internals -------------------------------------------------------------------------------------------
    def _lookup(self, token: str) -> _Seen | None:
        fingerprint = hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
        with self._lock:
            seen = self._seen.get(fingerprint)
            if seen is not None:
                self._seen.move_to_end(fingerprint)
                return seen
        facts = read_token(token)
        if facts is None:
            return None
        flags = tuple(red_flags(facts, compromised=self.compromised,
                                organizations_only=self.config.organizations_only, now=self._clock()))
        seen = _Seen(facts=facts, flags=flags)
        with self._lock:
            seen = self._seen.setdefault(fingerprint, seen)
            while len(self._seen) > self.config.max_tracked_tokens:
                self._seen.popitem(last=False)
        return seen

    _REQUIRED_FOR_ANOMALY = ("Issuer", "TokenTenantId", "Audience", "AppId")

    def _report(self, row: dict[str, Any], flags: tuple[RedFlag, ...]) -> None:
        """One ``Tokenwarden.TokenAnomaly``; Tokenwarden's ``events`` function needs these fields
        (``shared/intake/events.py``), so a token without them is counted, not sent."""
        assert self._anomalies is not None
        if not all(row.get(c) for c in self._REQUIRED_FOR_ANOMALY) or not (row.get("KeyId") or row.get("X5t")) \
                or not (row.get("ObjectId") or row.get("Upn")):
            self._unreportable += 1
            return
        self._anomalies.put({**row, "FailureReason": "; ".join(f"{f.rule}: {f.reason}" for f in flags)})

    def _warn(self, what: str, exc: BaseException) -> None:
        self._errors += 1
        now = time.monotonic()
        if now - self._last_warning >= 60.0:
            self._last_warning = now
            log.warning("tokenwarden sensor: %s failed: %s: %s", what, type(exc).__name__,
                        " ".join(str(exc).split())[:200])
