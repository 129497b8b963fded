"""``tokenwarden demo-data``: a tenant's exports with planted attacks and the look-alikes that must not fire.

Benign proportions follow what a Microsoft 365 tenant shows: most sign-ins are
non-interactive, most tokens are used a handful of times, mail is read through a
few Outlook clients, and service principals and managed identities call Graph on
a schedule. The planted attacks sit in the last hours before ``end`` so a hunt
over ``--last 24h`` finds them; ``planted.json`` says which rule each must fire.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.devkit.demo_data.rows import (
    BROWSER_AGENTS,
    HOME_COUNTRY,
    HOME_ISP,
    cloud_app_mail_row,
    graph_row,
    mail_row,
    new_uti,
    service_signin_row,
    token_validation_row,
    user_signin_row,
)
from shared.devkit.demo_data.tenant import (
    CONSUMER_TENANT_ID,
    EXCHANGE_APP_ID,
    GRAPH_APP_ID,
    DemoApp,
    DemoTenant,
    DemoUser,
    generate_tenant,
    rng_uuid,
)
from shared.devkit.demo_data.token_signals import plant_token_signals
from shared.devkit.demo_data.writer import TableWriters, iso

__all__ = ["DemoDataSummary", "PlantedCase", "generate_demo_data"]

STORM_KID = "1LTMzakihiRla_8z2BEJVXeWMqo"
STORM_THUMBPRINT_UPPER = "D4B4CCCDA9228624656BFF33D8110955779632AA"
STORM_IPS = ("195.26.87.219", "51.89.156.153")
STORM_USER_AGENT = "Client=REST;Client=RESTSystem;;"

OUTLOOK_CLIENTS = (
    # (AppId, ClientAppId, ClientInfoString): the pairs a normal tenant reads mail through.
    (EXCHANGE_APP_ID, "d3590ed6-52b3-4102-aeff-aad2292ab01c", "Client=MSExchangeRPC"),
    (EXCHANGE_APP_ID, "00000002-0000-0ff1-ce00-000000000000", "Client=OWA;Action=ViaProxy"),
    ("27922004-5251-4030-b22d-91ecd9a37ea4", "27922004-5251-4030-b22d-91ecd9a37ea4", "Client=OutlookService"),
)
MICROSOFT_OFFICE_CLIENT = DemoApp(app_id="d3590ed6-52b3-4102-aeff-aad2292ab01c", display_name="Microsoft Office",
                                  sign_in_audience="AzureADMultipleOrgs", identifier_uri=None,
                                  validates_tokens=False)


@dataclass(frozen=True, kw_only=True)
class PlantedCase:
    rule_id: str
    kind: str  # "attack" or "lookalike"
    description: str
    token_id: str | None = None
    user_upn: str | None = None


@dataclass(frozen=True, kw_only=True)
class DemoDataSummary:
    folder: Path
    tenant: DemoTenant
    rows: dict[str, int]
    planted: tuple[PlantedCase, ...]
    end: datetime


class _Generator:
    def __init__(self, tenant: DemoTenant, writers: TableWriters, rng: random.Random) -> None:
        self.tenant = tenant
        self.out = writers
        self.rng = rng
        self.planted: list[PlantedCase] = []
        self.v2_issuer = f"https://login.microsoftonline.com/{tenant.tenant_id}/v2.0"
        self.apis = [app for app in tenant.resource_apps if app.validates_tokens]
        self.org_apis = [app for app in self.apis if app.sign_in_audience != "AzureADandPersonalMicrosoftAccount"]
        self.community_api = next(app for app in self.apis if app.sign_in_audience.endswith("PersonalMicrosoftAccount"))
        self.graph = next(app for app in tenant.resource_apps if app.app_id == GRAPH_APP_ID)
        self.exchange = next(app for app in tenant.resource_apps if app.app_id == EXCHANGE_APP_ID)
        # Each user's device holds one Entra session for the demo's days: its id (the sid claim) is in every
        # token it gets, so every Exchange record of the user's own reads carries it (AppAccessContext.AADSessionId).
        # Drawn from a generator of its own, so the main one's sequence (and every other row) stays as it was.
        self.sessions = {user.object_id: rng_uuid(random.Random(f"session-{user.object_id}"))
                         for user in tenant.users}

    # --- benign traffic -------------------------------------------------------------------------
    def user_day(self, user: DemoUser, day_start: datetime, end: datetime) -> None:
        rng = self.rng
        interactive = rng.randint(1, 3)
        non_interactive = rng.randint(6, 16)
        for index in range(interactive + non_interactive):
            when = day_start + timedelta(seconds=rng.randint(7 * 3600, 19 * 3600))
            if when >= end:
                continue
            resource = rng.choices([self.graph, self.exchange, *self.apis], weights=[4, 4, 2, 1, 1])[0]
            self.user_token(user, when, resource, interactive=index < interactive, end=end)

    def user_token(self, user: DemoUser, when: datetime, resource: DemoApp, *, interactive: bool,
                   end: datetime) -> str:
        rng = self.rng
        uti = new_uti(rng)
        ip = rng.choice(user.ip_addresses)
        table = "SigninLogs" if interactive else "AADNonInteractiveUserSignInLogs"
        self.out.write(table, user_signin_row(
            rng, when=when, user=user, client=MICROSOFT_OFFICE_CLIENT, resource=resource, ip=ip, uti=uti,
            tenant_id=self.tenant.tenant_id, interactive=interactive))
        self.use_token(user, uti, when, resource, ip, end)
        return uti

    def use_token(self, user: DemoUser, uti: str, issued: datetime, resource: DemoApp, ip: str,
                  end: datetime, lifetime: timedelta | None = None) -> None:
        rng = self.rng
        lifetime = lifetime or timedelta(minutes=rng.randint(60, 90))
        agent = rng.choice(BROWSER_AGENTS)
        uses = rng.randint(1, 6)
        for _ in range(uses):
            when = issued + timedelta(seconds=rng.randint(1, int(lifetime.total_seconds()) - 1))
            if when >= end:
                continue
            if resource is self.graph:
                self.out.write("MicrosoftGraphActivityLogs", graph_row(
                    rng, when=when, tenant_id=self.tenant.tenant_id, app_id=MICROSOFT_OFFICE_CLIENT.app_id,
                    user_id=user.object_id, service_principal_id=None, ip=ip, uti=uti, issued_at=issued,
                    user_agent=agent))
            elif resource is self.exchange:
                app_id, client_app_id, info = rng.choice(OUTLOOK_CLIENTS)
                self.mail_read(user, when=when, app_id=app_id, client_app_id=client_app_id, ip=ip,
                               client_info=info, uti=uti, issued_at=issued)
            else:
                key = rng.choice(self.tenant.tenant_keys)
                self.out.write("TokenValidation_CL", token_validation_row(
                    when=when, app=resource, issuer=self.v2_issuer, tid=self.tenant.tenant_id, kid=key.kid,
                    uti=uti, oid=user.object_id, upn=user.upn, client_app_id=MICROSOFT_OFFICE_CLIENT.app_id,
                    issued_at=issued, lifetime=lifetime, ip=ip, user_agent=agent, x5t=key.kid))

    def mail_read(self, user: DemoUser, *, when: datetime, app_id: str, client_app_id: str, ip: str,
                  client_info: str, uti: str, issued_at: datetime, country: str = HOME_COUNTRY,
                  received: datetime | None = None, session: str | None = None, isp: str = HOME_ISP) -> None:
        """One MailItemsAccessed record, as both the Office 365 connector (OfficeActivity) and Defender XDR
        (CloudAppEvents, with the token's uti and session in AppAccessContext) deliver it. The session is the
        user's own unless given; ``""`` gives the record a session no device of the user holds."""
        arrival = {"_TimeReceived": received} if received else {}
        self.out.write("OfficeActivity", {**mail_row(
            self.rng, when=when, tenant_id=self.tenant.tenant_id, user=user, mailbox_upn=user.upn, app_id=app_id,
            client_app_id=client_app_id, client_ip=f"{ip}:{self.rng.randint(1024, 65000)}",
            client_info=client_info), **arrival})
        self.out.write("CloudAppEvents", {**cloud_app_mail_row(
            self.rng, when=when, tenant_id=self.tenant.tenant_id, user=user, mailbox_upn=user.upn, app_id=app_id,
            client_app_id=client_app_id, ip=ip, country=country, client_info=client_info, uti=uti,
            issued_at=issued_at, session=self.sessions[user.object_id] if session is None else session, isp=isp),
            **arrival})

    def exchange_sign_in(self, user: DemoUser, when: datetime, *, interactive: bool) -> str:
        """A sign-in from the user's usual address issuing an Exchange token; its uti."""
        uti = new_uti(self.rng)
        self.out.write("SigninLogs" if interactive else "AADNonInteractiveUserSignInLogs", user_signin_row(
            self.rng, when=when, user=user, client=MICROSOFT_OFFICE_CLIENT, resource=self.exchange,
            ip=user.ip_addresses[0], uti=uti, tenant_id=self.tenant.tenant_id, interactive=interactive))
        return uti

    def mail_lookalikes(self, end: datetime) -> None:
        """Mail read with a CAE token 26 hours after its sign-in, and from another address in the user's own
        country: both explained, neither may fire."""
        user = self.tenant.users[-3]
        app_id, client_app_id, info = OUTLOOK_CLIENTS[1]
        issued = end - timedelta(hours=28)
        uti = self.exchange_sign_in(user, issued, interactive=False)
        self.mail_read(user, when=issued + timedelta(hours=26), app_id=app_id, client_app_id=client_app_id,
                       ip=user.ip_addresses[0], client_info=info, uti=uti, issued_at=issued)
        self.planted.append(PlantedCase(rule_id="office-token-without-sign-in", kind="lookalike", token_id=uti,
                                        description="CAE token reading mail 26 h after its sign-in"))
        user = self.tenant.users[-4]
        issued = end - timedelta(hours=4)
        uti = self.exchange_sign_in(user, issued, interactive=True)
        self.mail_read(user, when=issued + timedelta(minutes=40), app_id=app_id, client_app_id=client_app_id,
                       ip="203.0.113.250", client_info=info, uti=uti, issued_at=issued)
        self.planted.append(PlantedCase(rule_id="token-replay-from-another-network", kind="lookalike",
                                        token_id=uti, description="mail read from another address in the same "
                                        "country (a phone on its carrier)"))
        self.planted.append(PlantedCase(rule_id="session-replay-from-another-network", kind="lookalike",
                                        user_upn=user.upn, description="the user's session reads mail from "
                                        "another address in the same country (a phone on its carrier)"))

    def travel_lookalike(self, end: datetime) -> None:
        """A user abroad: the device refreshes its tokens in Germany (a non-interactive sign-in placed there)
        and reads mail in its usual session from a German address. The user's own sign-in explains it."""
        user = self.tenant.users[-7]
        app_id, client_app_id, info = OUTLOOK_CLIENTS[0]
        issued = end - timedelta(hours=3)
        uti = new_uti(self.rng)
        row = user_signin_row(self.rng, when=issued, user=user, client=MICROSOFT_OFFICE_CLIENT,
                              resource=self.exchange, ip="84.128.9.9", uti=uti, tenant_id=self.tenant.tenant_id,
                              interactive=False)
        row.update({"Location": "DE", "AutonomousSystemNumber": "3320", "LocationDetails": json.dumps(
            {"city": "Berlin", "state": "Berlin", "countryOrRegion": "DE"})})
        self.out.write("AADNonInteractiveUserSignInLogs", row)
        self.mail_read(user, when=issued + timedelta(minutes=20), app_id=app_id, client_app_id=client_app_id,
                       ip="84.128.9.10", client_info=info, uti=uti, issued_at=issued, country="DE",
                       isp="Deutsche Telekom AG")
        self.planted.append(PlantedCase(rule_id="session-replay-from-another-network", kind="lookalike",
                                        user_upn=user.upn, description="travel: the user's session reads mail "
                                        "from Germany, where the user's own sign-in came from"))

    def service_traffic(self, start: datetime, end: datetime) -> None:
        rng = self.rng
        principals = [(sp, False) for sp in self.tenant.service_principal_apps]
        principals += [(mi, True) for mi in self.tenant.managed_identities]
        for principal, managed in principals:
            step = timedelta(hours=2 if managed else 1)
            when = start + timedelta(minutes=rng.randint(0, 59))
            ip = "20.50.2.10" if managed else f"198.51.100.{rng.randint(2, 250)}"
            while when < end:
                uti = new_uti(rng)
                table = "AADManagedIdentitySignInLogs" if managed else "AADServicePrincipalSignInLogs"
                self.out.write(table, service_signin_row(rng, when=when, principal=principal, resource=self.graph,
                                                         ip=ip, uti=uti, managed_identity=managed))
                for _ in range(rng.randint(1, 4)):
                    used = when + timedelta(seconds=rng.randint(1, 1800))
                    if used < end:
                        self.out.write("MicrosoftGraphActivityLogs", graph_row(
                            rng, when=used, tenant_id=self.tenant.tenant_id, app_id=principal.app_id,
                            user_id=None, service_principal_id=principal.app_id, ip=ip, uti=uti,
                            issued_at=when, user_agent="python-requests/2.32",
                            uri="https://graph.microsoft.com/v1.0/users?$top=100"))
                when += step

    def consumer_lookalikes(self, start: datetime, end: datetime) -> None:
        """Personal accounts using the app that admits them: legitimate, must not fire."""
        rng = self.rng
        consumer_issuer = f"https://login.microsoftonline.com/{CONSUMER_TENANT_ID}/v2.0"
        key = self.tenant.consumer_keys[0]
        for index in range(12):
            issued = start + (end - start) * rng.random() - timedelta(minutes=90)
            issued = max(issued, start)
            uti = new_uti(rng)
            oid = f"00000000-0000-0000-{rng.getrandbits(16):04x}-{rng.getrandbits(48):012x}"
            upn = f"member{index}@outlook.com"
            for _ in range(rng.randint(1, 3)):
                when = issued + timedelta(minutes=rng.randint(1, 59))
                if when < end:
                    self.out.write("TokenValidation_CL", token_validation_row(
                        when=when, app=self.community_api, issuer=consumer_issuer, tid=CONSUMER_TENANT_ID,
                        kid=key.kid, uti=uti, oid=oid, upn=upn, client_app_id=self.community_api.app_id,
                        issued_at=issued, lifetime=timedelta(hours=1), ip=f"192.0.2.{rng.randint(2, 250)}",
                        user_agent=BROWSER_AGENTS[0], idp="live.com"))
            if index == 0:
                self.planted.append(PlantedCase(
                    rule_id="consumer-key-for-org-app", kind="lookalike", token_id=uti,
                    description="personal account to an app that admits them"))

    def cae_lookalike(self, end: datetime) -> None:
        """A Continuous Access Evaluation token living 27.5 hours: long, but legitimate."""
        user = self.tenant.users[-1]
        issued = end - timedelta(hours=20)
        uti = self.user_token(user, issued, self.org_apis[0], interactive=False, end=end)
        self.use_token(user, uti, issued, self.org_apis[0], user.ip_addresses[0], end,
                       lifetime=timedelta(hours=27, minutes=30))
        self.planted.append(PlantedCase(rule_id="implausible-token-lifetime", kind="lookalike", token_id=uti,
                                        description="CAE token with a 27.5 h lifetime"))

    def signin_lookalikes(self, end: datetime) -> None:
        """Graph calls whose sign-in sits only in the non-interactive or SP tables, or before the window."""
        rng = self.rng
        user = self.tenant.users[-2]
        issued = end - timedelta(hours=30)  # before a --last 24h window, inside the 24 h lookback
        uti = new_uti(rng)
        self.out.write("AADNonInteractiveUserSignInLogs", user_signin_row(
            rng, when=issued, user=user, client=MICROSOFT_OFFICE_CLIENT, resource=self.graph,
            ip=user.ip_addresses[0], uti=uti, tenant_id=self.tenant.tenant_id, interactive=False))
        self.out.write("MicrosoftGraphActivityLogs", graph_row(
            rng, when=end - timedelta(hours=3), tenant_id=self.tenant.tenant_id,
            app_id=MICROSOFT_OFFICE_CLIENT.app_id, user_id=user.object_id, service_principal_id=None,
            ip=user.ip_addresses[0], uti=uti, issued_at=issued, user_agent=BROWSER_AGENTS[0]))
        self.planted.append(PlantedCase(rule_id="token-without-sign-in", kind="lookalike", token_id=uti,
                                        description="sign-in only before the window, in the non-interactive table"))
        principal = self.tenant.service_principal_apps[0]
        uti = new_uti(rng)
        when = end - timedelta(hours=2)
        self.out.write("AADServicePrincipalSignInLogs", service_signin_row(
            rng, when=when, principal=principal, resource=self.graph, ip="198.51.100.7", uti=uti,
            managed_identity=False))
        self.out.write("MicrosoftGraphActivityLogs", graph_row(
            rng, when=when + timedelta(minutes=5), tenant_id=self.tenant.tenant_id, app_id=principal.app_id,
            user_id=None, service_principal_id=principal.app_id, ip="198.51.100.7", uti=uti, issued_at=when,
            user_agent="python-requests/2.32"))
        self.planted.append(PlantedCase(rule_id="token-without-sign-in", kind="lookalike", token_id=uti,
                                        description="service-principal sign-in only"))

    # --- planted attacks ------------------------------------------------------------------------
    def attack(self, rule_id: str, description: str, *, token_id: str | None = None,
               user_upn: str | None = None) -> None:
        self.planted.append(PlantedCase(rule_id=rule_id, kind="attack", description=description,
                                        token_id=token_id, user_upn=user_upn))

    def forged_token(self, *, victim: DemoUser, app: DemoApp, when: datetime, issuer: str, tid: str,
                     kid: str, lifetime: timedelta = timedelta(hours=1), x5t: str | None = None,
                     ip: str = STORM_IPS[0], issued_at: datetime | None = None) -> str:
        uti = new_uti(self.rng)
        for offset in range(3):
            self.out.write("TokenValidation_CL", token_validation_row(
                when=when + timedelta(minutes=offset * 7), app=app, issuer=issuer, tid=tid, kid=kid, uti=uti,
                oid=victim.object_id, upn=victim.upn, client_app_id=rng_uuid(self.rng),
                issued_at=issued_at or when - timedelta(minutes=2), lifetime=lifetime, ip=ip,
                user_agent=STORM_USER_AGENT, x5t=x5t))
        return uti

    def plant_attacks(self, end: datetime) -> None:
        rng = self.rng
        users = self.tenant.users
        payroll = self.org_apis[0]
        partners = self.org_apis[1]
        base = end - timedelta(hours=5)

        uti = self.forged_token(victim=users[0], app=payroll, when=base, issuer=self.v2_issuer,
                                tid=self.tenant.tenant_id, kid=STORM_KID)
        self.attack("compromised-signing-key", "Storm-0558 key as kid", token_id=uti)
        self.attack("unpublished-signing-key", "Storm-0558 key is no longer published", token_id=uti)
        uti = self.forged_token(victim=users[1 % len(users)], app=partners, when=base + timedelta(minutes=20),
                                issuer=self.v2_issuer, tid=self.tenant.tenant_id, kid="",
                                x5t=STORM_THUMBPRINT_UPPER)
        self.attack("compromised-signing-key", "Storm-0558 key logged as an upper-case hex thumbprint",
                    token_id=uti)
        self.attack("unpublished-signing-key", "hex-logged key is not a published kid", token_id=uti)

        uti = self.forged_token(victim=users[2 % len(users)], app=payroll, when=base + timedelta(minutes=40),
                                issuer=self.v2_issuer, tid=self.tenant.tenant_id, kid=self.tenant.retired_key.kid,
                                ip=STORM_IPS[1])
        self.attack("unpublished-signing-key", "rotated-out key still accepted by a stale cache", token_id=uti)

        consumer_issuer = f"https://login.microsoftonline.com/{CONSUMER_TENANT_ID}/v2.0"
        uti = self.forged_token(victim=users[3 % len(users)], app=payroll, when=base + timedelta(minutes=60),
                                issuer=consumer_issuer, tid=CONSUMER_TENANT_ID,
                                kid=self.tenant.consumer_keys[0].kid)
        self.attack("consumer-key-for-org-app", "consumer-tenant token accepted by an organizations-only app",
                    token_id=uti)

        other_tenant = rng_uuid(rng)
        uti = self.forged_token(victim=users[4 % len(users)], app=partners, when=base + timedelta(minutes=80),
                                issuer=f"https://login.microsoftonline.com/{other_tenant}/v2.0",
                                tid=self.tenant.tenant_id, kid=self.tenant.tenant_keys[0].kid)
        self.attack("issuer-tenant-mismatch", "issuer names another tenant than tid", token_id=uti)
        uti = self.forged_token(victim=users[5 % len(users)], app=partners, when=base + timedelta(minutes=90),
                                issuer="https://login.microsoftonline.com/common/v2.0",
                                tid=self.tenant.tenant_id, kid=self.tenant.tenant_keys[0].kid)
        self.attack("issuer-tenant-mismatch", "untemplated common issuer", token_id=uti)

        uti = self.forged_token(victim=users[6 % len(users)], app=payroll, when=base + timedelta(minutes=100),
                                issuer=self.v2_issuer, tid=self.tenant.tenant_id,
                                kid=self.tenant.tenant_keys[1].kid, lifetime=timedelta(days=90))
        self.attack("implausible-token-lifetime", "90-day token", token_id=uti)

        # The Graph and Exchange evidence reaches the workspace late, as it does in production (Graph activity up
        # to hours, Office 365 audit up to a day): each row carries its arrival in _TimeReceived, after
        # LATE_WATERMARK, which a scan windowing on TimeGenerated from there would never read again.
        victim = users[7 % len(users)]
        uti = new_uti(rng)
        for offset in range(4):
            when = base + timedelta(minutes=110 + offset)
            self.out.write("MicrosoftGraphActivityLogs", {**graph_row(
                rng, when=when, tenant_id=self.tenant.tenant_id,
                app_id=MICROSOFT_OFFICE_CLIENT.app_id, user_id=victim.object_id, service_principal_id=None,
                ip=STORM_IPS[0], uti=uti, issued_at=base + timedelta(minutes=100), user_agent=STORM_USER_AGENT,
                uri=f"https://graph.microsoft.com/v1.0/users/{victim.object_id}/messages?$top=999"),
                "_TimeReceived": when + timedelta(hours=1, minutes=40)})
        self.attack("token-without-sign-in", "Graph calls with a token no sign-in issued, logged 100 minutes late",
                    token_id=uti)
        uti = new_uti(rng)
        when = end - timedelta(hours=8)
        self.out.write("MicrosoftGraphActivityLogs", {**graph_row(
            rng, when=when, tenant_id=self.tenant.tenant_id, app_id=MICROSOFT_OFFICE_CLIENT.app_id,
            user_id=victim.object_id, service_principal_id=None, ip=STORM_IPS[0], uti=uti,
            issued_at=when - timedelta(minutes=3), user_agent=STORM_USER_AGENT,
            uri=f"https://graph.microsoft.com/v1.0/users/{victim.object_id}/mailFolders"),
            "_TimeReceived": when + timedelta(hours=5, minutes=45)})
        self.attack("token-without-sign-in", "a forged-token Graph call that reached the workspace 5.75 hours late",
                    token_id=uti)

        victim = users[8 % len(users)]
        attacker_app, attacker_client = rng_uuid(rng), rng_uuid(rng)
        for offset in range(5):
            when = base + timedelta(minutes=130 + offset)
            self.out.write("OfficeActivity", {**mail_row(
                rng, when=when, tenant_id=self.tenant.tenant_id, user=victim,
                mailbox_upn=victim.upn, app_id=attacker_app, client_app_id=attacker_client,
                client_ip=f"{STORM_IPS[1]}:443", client_info=STORM_USER_AGENT),
                "_TimeReceived": when + timedelta(hours=1, minutes=30)})
        self.attack("mail-access-by-unexpected-app", "MailItemsAccessed through an unseen app pair, audited 90 "
                    "minutes late", user_upn=victim.upn)

        # Storm-0558's own disguise: a forged token read through Outlook on the web's app pair, which reads mail
        # every day, so the app-pair baseline above stays silent; only the missing sign-in gives it away.
        victim = users[9 % len(users)]
        app_id, client_app_id, info = OUTLOOK_CLIENTS[1]
        uti = new_uti(rng)
        for offset in range(3):
            when = base + timedelta(minutes=150 + offset * 4)
            self.mail_read(victim, when=when, app_id=app_id, client_app_id=client_app_id, ip=STORM_IPS[0],
                           client_info=STORM_USER_AGENT, uti=uti, issued_at=base + timedelta(minutes=148),
                           received=when + timedelta(hours=2), session="")
        self.attack("office-token-without-sign-in", "mailbox read through Outlook on the web's own app ids with a "
                    "token no sign-in issued, audited 2 hours late", token_id=uti)

        # A genuine token, signed in from the victim's usual network, replayed from another country.
        victim = users[10 % len(users)]
        issued = base + timedelta(minutes=160)
        uti = self.exchange_sign_in(victim, issued, interactive=True)
        self.mail_read(victim, when=issued + timedelta(minutes=5), app_id=app_id, client_app_id=client_app_id,
                       ip=victim.ip_addresses[0], client_info=info, uti=uti, issued_at=issued)
        self.mail_read(victim, when=issued + timedelta(minutes=35), app_id=app_id, client_app_id=client_app_id,
                       ip=STORM_IPS[1], client_info=STORM_USER_AGENT, uti=uti, issued_at=issued, country="FR",
                       isp="OVH SAS")
        self.attack("token-replay-from-another-network", "a token signed in from the Netherlands reads the mailbox "
                    "from France half an hour later", token_id=uti)

        # A session cookie stolen from the victim's browser: the thief's reads carry the victim's session but no
        # token id (Exchange sets UniqueTokenId only when the token is available to it), from Romania, an hour
        # after the victim's own reads from home. Only the session links them.
        victim = users[12 % len(users)]
        issued = base + timedelta(minutes=170)
        uti = self.exchange_sign_in(victim, issued, interactive=True)
        self.mail_read(victim, when=issued + timedelta(minutes=3), app_id=app_id, client_app_id=client_app_id,
                       ip=victim.ip_addresses[0], client_info=info, uti=uti, issued_at=issued)
        for offset in range(3):
            self.mail_read(victim, when=issued + timedelta(minutes=60 + offset * 2), app_id=app_id,
                           client_app_id=client_app_id, ip="185.225.73.12", client_info=BROWSER_AGENTS[0], uti="",
                           issued_at=issued, country="RO", isp="M247 Europe SRL")
        self.attack("session-replay-from-another-network", "the victim's Entra session reads the mailbox from "
                    "Romania an hour after the victim's own reads from home, with no token id", user_upn=victim.upn)


def _jwks(keys: list[object]) -> dict[str, object]:
    return {"keys": keys}


def _write_side_files(folder: Path, tenant: DemoTenant, planted: list[PlantedCase], end: datetime) -> None:
    def key_json(key: object) -> dict[str, object]:
        from shared.devkit.demo_data.tenant import DemoKey

        assert isinstance(key, DemoKey)
        return key.public_jwk()

    jwks_dir = folder / "jwks"
    jwks_dir.mkdir(exist_ok=True)
    (jwks_dir / "organizations.json").write_text(
        json.dumps(_jwks([key_json(k) for k in tenant.tenant_keys]), indent=1), encoding="utf-8")
    (jwks_dir / "consumers.json").write_text(
        json.dumps(_jwks([key_json(k) for k in tenant.consumer_keys]), indent=1), encoding="utf-8")
    apps = [
        {"id": app.app_id, "appId": app.app_id, "displayName": app.display_name,
         "signInAudience": app.sign_in_audience,
         "servicePrincipalNames": [app.app_id, *([app.identifier_uri] if app.identifier_uri else [])],
         "appOwnerOrganizationId": tenant.tenant_id if app.validates_tokens else None}
        for app in (*tenant.resource_apps, *tenant.service_principal_apps, *tenant.managed_identities)
    ]
    (folder / "apps.json").write_text(json.dumps(apps, indent=1), encoding="utf-8")
    users = [
        {"id": u.object_id, "userPrincipalName": u.upn, "displayName": u.display_name,
         "department": u.department, "jobTitle": u.job_title, "privileged": u.privileged}
        for u in tenant.users
    ]
    (folder / "tenant.json").write_text(json.dumps(
        {"tenantId": tenant.tenant_id, "domain": tenant.domain, "users": users}, indent=1), encoding="utf-8")
    (folder / "planted.json").write_text(json.dumps(
        {"end": iso(end), "cases": [vars(case) for case in planted]}, indent=1), encoding="utf-8")


DEMO_SEED = 7
"""The seed ``generate_demo_data`` uses unless told otherwise (``make demo`` uses it)."""


def generate_demo_data(
    folder: Path, *, users: int = 50, days: int = 3, seed: int = DEMO_SEED, end: datetime | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> DemoDataSummary:
    if users < 10:
        raise ValueError("--users must be at least 10, so every planted attack has its own victim")
    if days < 2:
        raise ValueError("--days must be at least 2, so the baselines and lookbacks have data")
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    folder.mkdir(parents=True, exist_ok=True)
    tenant = generate_tenant(users=users, seed=seed)
    rng = random.Random(seed + 1)
    with TableWriters(folder) as writers:
        generator = _Generator(tenant, writers, rng)
        for day in range(days + 1):
            day_start = (start + timedelta(days=day)).replace(hour=0, minute=0)
            for user in tenant.users:
                generator.user_day(user, max(day_start, start), end)
            if on_progress:
                on_progress(f"day {day + 1}/{days + 1}")
        generator.service_traffic(start, end)
        generator.consumer_lookalikes(start, end)
        generator.cae_lookalike(end)
        generator.signin_lookalikes(end)
        generator.mail_lookalikes(end)
        generator.travel_lookalike(end)
        generator.plant_attacks(end)
        plant_token_signals(writers, rng, users=tenant.users, tenant_id=tenant.tenant_id, graph=generator.graph,
                            client=MICROSOFT_OFFICE_CLIENT, end=end, attacker_ip=STORM_IPS[0],
                            plant=lambda rule_id, kind, description, **ids: generator.planted.append(
                                PlantedCase(rule_id=rule_id, kind=kind, description=description, **ids)))
        for ip, threat in ((STORM_IPS[0], "Storm-0558 infrastructure"), (STORM_IPS[1], "Storm-0558 infrastructure")):
            writers.write("ThreatIntelligenceIndicator", {
                "TimeGenerated": start, "IndicatorId": rng_uuid(rng), "NetworkIP": ip, "ThreatType": "WatchList",
                "Description": threat, "Active": True, "ConfidenceScore": 90.0,
                "ExpirationDateTime": end + timedelta(days=90), "SourceSystem": "SecurityGraph",
                "TrafficLightProtocolLevel": "White"})
        rows = dict(writers.counts)
    _write_side_files(folder, tenant, generator.planted, end)
    return DemoDataSummary(folder=folder, tenant=tenant, rows=rows, planted=tuple(generator.planted), end=end)
