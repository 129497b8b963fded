"""Synthetic tables at benchmark scale, generated inside DuckDB.

Python row generation tops out near a million rows a minute; the benchmark
needs 5 million rows in each of eleven tables, so rows are produced by SQL over
``range(n)`` with hash-derived values. Each table gets every schema column (the
rest NULL), the distributions the rules care about (a few thousand users, most
tokens explained by a sign-in, a handful of mail client pairs), and a sprinkle of
planted attacks so every rule has work to return.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.detect.tables import load_table_schemas

__all__ = ["BENCH_END", "BENCH_TABLES", "build_tables"]

BENCH_END = datetime(2026, 11, 20, 0, 0)
BENCH_TABLES = (
    "TokenValidation_CL",
    "MicrosoftGraphActivityLogs",
    "SigninLogs",
    "AADNonInteractiveUserSignInLogs",
    "AADServicePrincipalSignInLogs",
    "AADManagedIdentitySignInLogs",
    "OfficeActivity",
    # Issue 14's rules (bench/synthetic_signals.py).
    "AADUserRiskEvents",
    "SecurityAlert",
    "AuditLogs",
    "CloudAppEvents",
)
_DUCK_TYPES = {"string": "VARCHAR", "datetime": "TIMESTAMP", "dynamic": "JSON", "long": "BIGINT",
               "int": "INTEGER", "real": "DOUBLE", "bool": "BOOLEAN", "guid": "VARCHAR", "timespan": "INTERVAL"}
_SPAN_SECONDS = 14 * 86400 + 86400  # two weeks of baseline plus the scanned day


def _ts(expr: str) -> str:
    return f"(TIMESTAMP '{BENCH_END - timedelta(seconds=_SPAN_SECONDS):%Y-%m-%d %H:%M:%S}' + to_seconds({expr}))"


def _planted(modulus: int) -> str:
    """A sparse condition true only in the scanned last day: a few planted rows per rule."""
    return f"(i > n - n // 15 AND i % {modulus} = 0)"


def _uti(expr: str) -> str:
    return f"substr(md5(CAST({expr} AS VARCHAR)), 1, 22)"


_GENERATED: dict[str, dict[str, str]] = {
    # Values per row i; `h` is hash(i) for pseudo-random choices.
    "TokenValidation_CL": {
        "TimeGenerated": _ts(f"(i * {_SPAN_SECONDS} // n)"),
        "AppId": "CASE WHEN " + _planted(7919) + " THEN 'app-payroll' WHEN h % 50 = 0 THEN 'app-community' "
                 "WHEN h % 3 = 0 THEN 'app-payroll' WHEN h % 3 = 1 THEN 'app-partners' ELSE 'app-community' END",
        "Audience": "'aud'",
        "Issuer": "CASE WHEN " + _planted(9967) + " THEN 'https://login.microsoftonline.com/common/v2.0' "
                  "WHEN h % 50 = 0 OR " + _planted(7919) + " THEN 'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0'"
                  " ELSE 'https://login.microsoftonline.com/6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b/v2.0' END",
        "TokenTenantId": "CASE WHEN h % 50 = 0 OR " + _planted(7919) + " THEN '9188040d-6c67-4c5b-b112-36a304b66dad' "
                         "ELSE '6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b' END",
        "TokenVersion": "'2.0'",
        "KeyId": "CASE WHEN " + _planted(9973) + " THEN '1LTMzakihiRla_8z2BEJVXeWMqo' WHEN " + _planted(9949)
                 + " THEN 'stale-key' "
                 "WHEN h % 2 = 0 THEN 'kid-a' ELSE 'kid-b' END",
        "X5t": "NULL",
        "Algorithm": "'RS256'",
        "TokenId": _uti("i // 4"),
        "ObjectId": "'user-' || (h % 5000)",
        "Upn": "'user' || (h % 5000) || '@contoso.example'",
        "ClientAppId": "'client-' || (h % 7)",
        "IssuedAt": _ts(f"(i * {_SPAN_SECONDS} // n) - 600"),
        "NotBefore": _ts(f"(i * {_SPAN_SECONDS} // n) - 600"),
        "ExpiresAt": _ts(f"(i * {_SPAN_SECONDS} // n) + CASE WHEN {_planted(9941)} THEN 7776000 ELSE 4200 END"),
        "ClientIp": "'203.0.' || (h % 250) || '.' || (h // 250 % 250)",
        "UserAgent": "'Mozilla/5.0'",
        "Outcome": "CASE WHEN h % 97 = 0 THEN 'Rejected' ELSE 'Accepted' END",
        "Claims": "'{\"ver\":\"2.0\"}'",
    },
    "MicrosoftGraphActivityLogs": {
        "TimeGenerated": _ts(f"(i * {_SPAN_SECONDS} // n)"),
        "RequestId": "CAST(i AS VARCHAR)",
        "RequestMethod": "'GET'",
        "RequestUri": "'https://graph.microsoft.com/v1.0/me/messages'",
        "ResponseStatusCode": "200",
        "IPAddress": "'203.0.' || (h % 250) || '.' || (h // 250 % 250)",
        "UserAgent": "'Mozilla/5.0'",
        "AppId": "'client-' || (h % 7)",
        "UserId": "'user-' || (h % 5000)",
        # Every 4 requests share a token; tokens are explained by sign-in row i//4, except a planted few.
        "SignInActivityId": f"CASE WHEN {_planted(9931)} THEN 'forged-' || i ELSE {_uti('i - i % 4')} END",
        "TokenIssuedAt": _ts(f"(i * {_SPAN_SECONDS} // n) - 300"),
        "AadTenantId": "'6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b'",
    },
    "SigninLogs": {
        "TimeGenerated": _ts(f"(i * {_SPAN_SECONDS} // n) - 600"),
        "UniqueTokenIdentifier": _uti("i"),
        "UserId": "'user-' || (h % 5000)",
        "AppId": "'client-' || (h % 7)",
        "IPAddress": "'203.0.' || (h % 250) || '.' || (h // 250 % 250)",
        "ResultType": "'0'",
        # Where Entra placed the sign-in: every user in one country, across two carriers' autonomous systems.
        "LocationDetails": """'{"city":"Amsterdam","countryOrRegion":"NL"}'""",
        "AutonomousSystemNumber": "CASE WHEN h % 20 = 0 THEN '3320' ELSE '1136' END",
    },
    "OfficeActivity": {
        "TimeGenerated": _ts(f"(i * {_SPAN_SECONDS} // n)"),
        "Operation": "CASE WHEN h % 5 = 0 THEN 'Send' ELSE 'MailItemsAccessed' END",
        "UserId": "'user' || (h % 5000) || '@contoso.example'",
        "MailboxOwnerUPN": "'user' || (h % 5000) || '@contoso.example'",
        "AppId": "CASE WHEN " + _planted(9929) + " THEN 'attacker-app' ELSE '00000002-0000-0ff1-ce00-000000000000' END",
        "ClientAppId": "'outlook-client-' || (h % 3)",
        "ClientIP": "'203.0.' || (h % 250) || '.' || (h // 250 % 250) || ':443'",
        "ClientInfoString": "'Client=MSExchangeRPC'",
        "OrganizationId": "'6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b'",
    },
    # Exchange (and every tenth row SharePoint) audit records as Defender XDR holds them. Every 4 reads share a
    # token that a non-interactive sign-in issued (row i - i % 4 of that table), read from another address in the
    # same country, in the user's Entra session of the day (AppAccessContext.AADSessionId); a planted few carry a
    # token no sign-in issued, or come from another country (a replayed token and session), and a planted few
    # (issue 14 §4) are mail reads 30 minutes after AuditLogs revoked the same user, with a token issued before
    # the revocation.
    "CloudAppEvents": {
        "TimeGenerated": f"CASE WHEN {_planted(9871)} THEN {_ts(f'(i * {_SPAN_SECONDS} // n) + 1800')} "
                         f"ELSE {_ts(f'(i * {_SPAN_SECONDS} // n)')} END",
        "Application": "CASE WHEN h % 10 = 0 THEN 'Microsoft SharePoint Online' ELSE 'Microsoft Exchange Online' END",
        "ApplicationId": "CASE WHEN h % 10 = 0 THEN 20892 ELSE 20893 END",
        "ActionType": "CASE WHEN h % 10 = 0 THEN 'FileDownloaded' ELSE 'MailItemsAccessed' END",
        "AccountObjectId": f"CASE WHEN {_planted(9871)} THEN 'user-revoked-' || i ELSE 'user-' || (h % 5000) END",
        "IPAddress": "'198.51.' || (h % 250) || '.' || (h // 250 % 250)",
        "CountryCode": f"CASE WHEN {_planted(9923)} THEN 'FR' ELSE 'NL' END",
        "ISP": f"CASE WHEN {_planted(9923)} THEN 'OVH SAS' ELSE 'KPN B.V.' END",
        "RawEventData": (
            "json_object('Operation', CASE WHEN h % 10 = 0 THEN 'FileDownloaded' ELSE 'MailItemsAccessed' END, "
            "'UserId', 'user' || (h % 5000) || '@contoso.example', "
            "'MailboxOwnerUPN', 'user' || (h % 5000) || '@contoso.example', "
            "'SiteUrl', CASE WHEN h % 10 = 0 THEN 'https://contoso.sharepoint.com/sites/s' || (h % 40) END, "
            "'AppId', '00000002-0000-0ff1-ce00-000000000000', "
            "'OrganizationId', '6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b', "
            # AADSessionId: one Entra session per user and day of the span, as a device holds one for days.
            "'AppAccessContext', json_object('ClientAppId', 'outlook-client-' || (h % 3), "
            f"'AADSessionId', 'sess-' || (h % 5000) || '-' || (i * {_SPAN_SECONDS // 86400} // n), 'UniqueTokenId', "
            f"CASE WHEN {_planted(9901)} THEN 'forged-' || i ELSE {_uti('i - i % 4 + n * 1')} END, "
            f"'IssuedAtTime', strftime({_ts(f'(i * {_SPAN_SECONDS} // n) - 300')}, '%Y-%m-%dT%H:%M:%SZ')))"
        ),
    },
}
_SIGNIN_LIKE = ("AADNonInteractiveUserSignInLogs", "AADServicePrincipalSignInLogs", "AADManagedIdentitySignInLogs")


def build_tables(con: object, rows_per_table: int) -> None:
    """Create and fill every benchmark table on the DuckDB connection *con*."""
    from bench.synthetic_signals import SIGNAL_GENERATED, SIGNIN_RISK_COLUMNS

    schemas = load_table_schemas()
    generators = {**_GENERATED, **SIGNAL_GENERATED,
                  "SigninLogs": {**_GENERATED["SigninLogs"], **SIGNIN_RISK_COLUMNS}}
    for table in BENCH_TABLES:
        schema = schemas[table]
        columns = ", ".join(f'"{c.name}" {_DUCK_TYPES.get(c.kusto_type, "VARCHAR")}' for c in schema.columns)
        con.execute("SET enable_progress_bar = false")  # type: ignore[attr-defined]
        con.execute(f'CREATE OR REPLACE TABLE "{table}" ({columns})')  # type: ignore[attr-defined]
        generated = generators.get(table)
        if generated is None and table in _SIGNIN_LIKE:
            offset = {name: index + 1 for index, name in enumerate(_SIGNIN_LIKE)}[table]
            generated = dict(generators["SigninLogs"])
            generated["UniqueTokenIdentifier"] = _uti(f"i + n * {offset}")
            generated["Id"] = f"'signin-{offset}-' || i"
            # Columns the sibling table lacks (UserId, the risk columns) stay out.
            generated = {name: value for name, value in generated.items() if schema.column(name) is not None}
        assert generated is not None
        names = ", ".join(f'"{name}"' for name in generated)
        values = ", ".join(generated.values())
        con.execute(  # type: ignore[attr-defined]
            f'INSERT INTO "{table}" ({names}) SELECT {values} FROM '
            f"(SELECT range AS i, {rows_per_table} AS n, hash(range) AS h FROM range({rows_per_table}))"
        )
