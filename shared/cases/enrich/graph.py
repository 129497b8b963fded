"""Directory lookups through msgraph-sdk, batched with JSON ``$batch`` and cached for the run.

Each user costs two Graph requests (the user and its memberships) and each
app one, so they are packed twenty to a ``$batch`` and sent with bounded
concurrency. Identity Protection allows one request per second per tenant, so
risk is not read per user: the tenant's risky users are listed once per run
(a few pages of up to 500) and looked up locally; a user absent from the list
has no risk. The batch goes through the SDK's request
adapter, so authentication, the retry handler (which honours Retry-After on the
outer request) and telemetry are the SDK's. Requests *inside* a batch are
throttled one by one and come back as inner 429s or 5xxs; those are retried here,
after the longest Retry-After they carry.

msgraph-core's ``BatchResponseContent`` drops JSON bodies of inner responses
(it reads them as bytes), so the batch response is read as raw JSON instead.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.cases.enrich.models import AppFacts, RoleFact, UserFacts
from shared.core.clouds import AZURE_PUBLIC
from shared.core.guids import is_guid

if TYPE_CHECKING:
    import ssl

    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from msgraph.graph_service_client import GraphServiceClient

__all__ = ["GRAPH_SCOPES", "PRIVILEGED_ROLE_TEMPLATES", "GraphDirectory", "build_graph_client"]

GRAPH_SCOPES = (AZURE_PUBLIC.graph_scope,)
"""The public cloud's; callers with settings pass ``settings.cloud.graph_scope`` (shared/core/clouds.py)."""
GRAPH_V1 = f"{AZURE_PUBLIC.graph_endpoint}/v1.0"

PRIVILEGED_ROLE_TEMPLATES: Mapping[str, str] = {
    # Role template ids from Microsoft's "Microsoft Entra built-in roles" reference (roles marked PRIVILEGED).
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "cf1c38e5-3621-4004-a7cb-879624dced7c": "Application Developer",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2": "Hybrid Identity Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
}

USER_SELECT = ("id,userPrincipalName,displayName,accountEnabled,userType,department,jobTitle,createdDateTime,"
               "onPremisesSyncEnabled")
APP_SELECT = "appId,displayName,appOwnerOrganizationId,signInAudience,verifiedPublisher"
MEMBERSHIP_QUERY = "$select=id,displayName,roleTemplateId&$top=999"
"""999 is the largest page transitiveMemberOf serves (the default is 100)."""
BATCH_LIMIT = 20
_RETRYABLE = {429, 500, 502, 503, 504}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process, shared by every Graph client. Building one reads the CA bundle
    (0.1 to 0.3 s on a busy machine), and every response pass built two (enrichment and the engine); the
    context is what httpx would build itself (``httpx.create_ssl_context()``: certifi's bundle, verification
    on), and one context may serve many connections."""
    import httpx

    return httpx.create_ssl_context()


def build_graph_client(
    credential: TokenCredential | AsyncTokenCredential,
    *,
    base_url: str = GRAPH_V1,
    scopes: Sequence[str] = GRAPH_SCOPES,
    timeout: float = 30.0,
    sdk_retries: bool = True,
) -> GraphServiceClient:
    """A GraphServiceClient with explicit scopes, timeout and base URL (the local simulator's, in tests).

    The host of *base_url* is the only one the token is sent to. ``sdk_retries=False`` turns the SDK's
    retry handler off, for callers that retry themselves.
    """
    import httpx
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_service_client import GraphServiceClient
    from msgraph_core import GraphClientFactory

    host = httpx.URL(base_url).host
    auth = AzureIdentityAuthenticationProvider(credential, scopes=list(scopes), allowed_hosts=[host])
    options = None
    if not sdk_retries:
        # One retry layer per call: the response engine retries with tenacity, so the SDK must not.
        from kiota_http.middleware.options import RetryHandlerOption
        from msgraph.graph_request_adapter import options as graph_options

        options = {**graph_options, RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0)}
    http_client = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(timeout=httpx.Timeout(timeout), http2=False, verify=_tls_context()),
        options=options)
    adapter = GraphRequestAdapter(auth, client=http_client)
    adapter.base_url = base_url.rstrip("/")
    return GraphServiceClient(request_adapter=adapter)


@dataclass
class _Memberships:
    """One user's ``transitiveMemberOf``, page by page: the objects read, and whether every page was."""

    items: list[Mapping[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    complete: bool = True

    def add(self, answer: _Answer | None) -> str | None:
        """Take one page; the next page's link, or None when the list is done (or failed)."""
        if answer is None or answer.status != 200 or not isinstance(answer.body, Mapping):
            self.complete = False
            self.problems.append(f"memberships: {_error_text(answer) if answer else 'not read'}; privilege unknown")
            return None
        self.items.extend(item for item in answer.body.get("value", []) if isinstance(item, Mapping))
        link = answer.body.get("@odata.nextLink")
        return str(link) if link else None


@dataclass(frozen=True)
class _Call:
    id: str
    url: str


@dataclass
class _Answer:
    status: int
    body: Any
    retry_after: float | None = None


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _error_text(answer: _Answer) -> str:
    error = answer.body.get("error") if isinstance(answer.body, Mapping) else None
    if isinstance(error, Mapping):
        return f"{answer.status} {error.get('code')}: {error.get('message')}"
    return f"HTTP {answer.status}"


@dataclass
class GraphDirectory:
    """Users and apps from Graph for one run: batched, bounded, cached, and never raising for one lookup."""

    client: GraphServiceClient
    concurrency: int = 4
    max_inner_retries: int = 4
    throttle_budget: float = 300.0
    """Seconds a lookup may spend waiting out Retry-After hints before it is recorded as failed."""
    batch_size: int = BATCH_LIMIT
    _users: dict[str, UserFacts] = field(default_factory=dict, repr=False)
    _apps: dict[str, AppFacts] = field(default_factory=dict, repr=False)
    _risk: dict[str, tuple[str | None, str | None]] | None = field(default=None, repr=False)
    _risk_error: str | None = field(default=None, repr=False)
    requests_sent: int = 0
    inner_retries: int = 0

    async def _post_batch(self, calls: Sequence[_Call]) -> dict[str, _Answer]:
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation

        info = RequestInformation()
        info.http_method = Method.POST
        info.url_template = "{+baseurl}/$batch"
        info.path_parameters = {"baseurl": self.client.request_adapter.base_url}
        info.headers.try_add("Accept", "application/json")
        body = {"requests": [{"id": call.id, "method": "GET", "url": call.url} for call in calls]}
        info.set_stream_content(json.dumps(body).encode("utf-8"), "application/json")
        self.requests_sent += 1
        adapter: Any = self.client.request_adapter  # kiota's stub types the primitive result as None
        raw = await adapter.send_primitive_async(info, "bytes", None)
        document = json.loads(raw or b"{}")
        answers: dict[str, _Answer] = {}
        for item in document.get("responses", []):
            answers[str(item.get("id"))] = _Answer(status=int(item.get("status", 0)), body=item.get("body"),
                                                   retry_after=_retry_after(item.get("headers")))
        return answers

    async def _send(self, chunk: Sequence[_Call], gate: asyncio.Semaphore) -> dict[str, _Answer]:
        async with gate:
            try:
                return await self._post_batch(chunk)
            except Exception as exc:  # a whole batch failing degrades its lookups, not the scan
                status = getattr(exc, "response_status_code", None) or 0
                wait = _retry_after(getattr(exc, "response_headers", None))
                return {call.id: _Answer(status=int(status), retry_after=wait, body={"error": {
                    "code": type(exc).__name__, "message": " ".join(str(exc).split())[:300]}})
                    for call in chunk}

    async def _run_calls(self, calls: Sequence[_Call], gate: asyncio.Semaphore) -> dict[str, _Answer]:
        """Send *calls* in batches, retrying inner throttling and 5xx answers.

        A 429 that names its Retry-After is an instruction, not a failure: such
        calls are resent after the wait for as long as ``throttle_budget`` lasts.
        Other retryable answers (5xx, 429 without a hint) get ``max_inner_retries``
        tries with exponential backoff.
        """
        pending = list(calls)
        results: dict[str, _Answer] = {}
        failures = 0
        deadline = asyncio.get_running_loop().time() + self.throttle_budget
        while pending:
            chunks = [pending[i:i + self.batch_size] for i in range(0, len(pending), self.batch_size)]
            for answers in await asyncio.gather(*(self._send(chunk, gate) for chunk in chunks)):
                results.update(answers)
            retry = [call for call in pending if results.get(call.id, _Answer(0, None)).status in _RETRYABLE]
            if not retry:
                break
            hinted = all(results[c.id].status == 429 and results[c.id].retry_after is not None for c in retry)
            wait = max((results[call.id].retry_after or 0.0 for call in retry), default=0.0)
            if not hinted:
                failures += 1
                wait = wait if wait > 0 else min(8.0, 0.5 * 2 ** failures)
            if failures > self.max_inner_retries or asyncio.get_running_loop().time() + wait > deadline:
                break
            self.inner_retries += len(retry)
            await asyncio.sleep(wait)
            pending = retry
        return results

    async def users(self, keys: Iterable[str]) -> dict[str, UserFacts]:
        wanted = sorted({key for key in keys if key} - set(self._users))
        gate = asyncio.Semaphore(self.concurrency)
        calls: list[_Call] = []
        for index, key in enumerate(wanted):
            path = quote(key, safe="@.-_")
            calls.append(_Call(f"u{index}", f"/users/{path}?$select={USER_SELECT}"))
            calls.append(_Call(f"m{index}", f"/users/{path}/transitiveMemberOf?{MEMBERSHIP_QUERY}"))
        answers, risk = await asyncio.gather(self._run_calls(calls, gate), self._risk_index())
        memberships = await self._remaining_pages({f"m{index}": answers.get(f"m{index}")
                                                   for index in range(len(wanted))}, gate)
        for index, key in enumerate(wanted):
            self._users[key] = self._user_facts(key, answers[f"u{index}"], memberships[f"m{index}"], risk,
                                                self._risk_error)
        return {key: self._users[key] for key in keys if key in self._users}

    async def _remaining_pages(self, first: Mapping[str, _Answer | None],
                               gate: asyncio.Semaphore) -> dict[str, _Memberships]:
        """Follow each membership list's ``@odata.nextLink`` to its end (batched); a failed page leaves it incomplete.

        Pages hold at most 999 objects (user-list-transitivememberof), so most users need one page; a user in more
        groups needs the rest, or a privileged role on a later page would be missed.
        """
        result: dict[str, _Memberships] = {}
        pending: dict[str, str] = {}
        for call_id, answer in first.items():
            result[call_id] = _Memberships()
            link = result[call_id].add(answer)
            if link is not None:
                pending[call_id] = link
        while pending:
            base = str(self.client.request_adapter.base_url).rstrip("/")
            calls = [_Call(call_id, link[len(base):] if link.startswith(base) else link)
                     for call_id, link in pending.items()]
            answers = await self._run_calls(calls, gate)
            following: dict[str, str] = {}
            for call_id in pending:
                link = result[call_id].add(answers.get(call_id))
                if link is not None:
                    following[call_id] = link
            pending = following
        return result

    async def _risk_index(self) -> dict[str, tuple[str | None, str | None]] | None:
        """Every risky user in the tenant, by object id; None when Identity Protection could not be read."""
        if self._risk is not None or self._risk_error is not None:
            return self._risk
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation

        adapter: Any = self.client.request_adapter
        url: str | None = f"{adapter.base_url}/identityProtection/riskyUsers?$top=500&$select=id,riskLevel,riskState"
        index: dict[str, tuple[str | None, str | None]] = {}
        try:
            while url:
                info = RequestInformation()
                info.http_method = Method.GET
                info.url = url
                info.headers.try_add("Accept", "application/json")
                self.requests_sent += 1
                page = json.loads(await adapter.send_primitive_async(info, "bytes", None) or b"{}")
                for item in page.get("value", []):
                    index[str(item.get("id", "")).lower()] = (item.get("riskLevel"), item.get("riskState"))
                url = page.get("@odata.nextLink")
        except Exception as exc:  # risk unknown degrades the users; it does not fail them
            self._risk_error = f"risk: {' '.join(str(exc).split())[:200]}"
            return None
        self._risk = index
        return index

    @staticmethod
    def _user_facts(key: str, user: _Answer, members: _Memberships,
                    risk: Mapping[str, tuple[str | None, str | None]] | None, risk_error: str | None) -> UserFacts:
        if user.status == 404:
            return UserFacts(key=key, status="not_found", error=_error_text(user))
        if user.status != 200 or not isinstance(user.body, Mapping):
            return UserFacts(key=key, status="failed", error=_error_text(user))
        body, problems = user.body, list(members.problems)
        roles: list[RoleFact] = []
        hidden = 0
        groups: list[str] = []
        for item in members.items:
            if item.get("@odata.type") == "#microsoft.graph.group" and item.get("id"):
                groups.append(str(item["id"]).lower())  # an unreadable group still carries its id
            if item.get("@odata.type") != "#microsoft.graph.directoryRole":
                continue
            template = str(item.get("roleTemplateId") or "")
            if not template:  # Graph hides what the app may not read: @odata.type and id only
                hidden += 1
                continue
            roles.append(RoleFact(display_name=str(item.get("displayName") or template), role_template_id=template,
                                  privileged=template in PRIVILEGED_ROLE_TEMPLATES))
        if hidden:
            problems.append(f"memberships: {hidden} directory role(s) hidden by Graph (the app needs "
                            "RoleManagement.Read.Directory); privilege unknown")
        risk_level = risk_state = None
        if risk is not None:
            # Absent from riskyUsers: Identity Protection has seen no risk for this user.
            risk_level, risk_state = risk.get(str(body.get("id", "")).lower(), ("none", "none"))
        elif risk_error:
            problems.append(risk_error)
        return UserFacts(
            key=key, status="ok", id=body.get("id"), user_principal_name=body.get("userPrincipalName"),
            display_name=body.get("displayName"), account_enabled=body.get("accountEnabled"),
            user_type=body.get("userType"), department=body.get("department"), job_title=body.get("jobTitle"),
            created_date_time=body.get("createdDateTime"), on_premises_sync_enabled=body.get("onPremisesSyncEnabled"),
            roles=tuple(roles), roles_complete=members.complete and not hidden,
            group_ids=tuple(sorted(set(groups))) if members.complete else None, risk_level=risk_level,
            risk_state=risk_state,
            error="; ".join(problems) or None,
        )

    async def apps(self, app_ids: Iterable[str]) -> dict[str, AppFacts]:
        wanted = sorted({app_id.lower() for app_id in app_ids if app_id} - set(self._apps))
        calls = [_Call(f"a{index}", f"/servicePrincipals?$filter=appId eq '{app_id}'&$select={APP_SELECT}")
                 for index, app_id in enumerate(wanted) if is_guid(app_id)]
        answers = await self._run_calls(calls, asyncio.Semaphore(self.concurrency))
        for index, app_id in enumerate(wanted):
            if not is_guid(app_id):
                self._apps[app_id] = AppFacts(app_id=app_id, status="failed", error="app id is not a GUID")
                continue
            answer = answers[f"a{index}"]
            if answer.status != 200 or not isinstance(answer.body, Mapping):
                self._apps[app_id] = AppFacts(app_id=app_id, status="failed", error=_error_text(answer))
                continue
            found = answer.body.get("value") or []
            if not found:
                self._apps[app_id] = AppFacts(app_id=app_id, status="not_found",
                                              error="no service principal in this tenant")
                continue
            sp = found[0]
            publisher = sp.get("verifiedPublisher") or {}
            self._apps[app_id] = AppFacts(
                app_id=app_id, status="ok", display_name=sp.get("displayName"),
                app_owner_organization_id=sp.get("appOwnerOrganizationId"),
                sign_in_audience=sp.get("signInAudience"),
                verified_publisher=publisher.get("displayName") if isinstance(publisher, Mapping) else None,
            )
        return {app_id.lower(): self._apps[app_id.lower()] for app_id in app_ids if app_id.lower() in self._apps}
