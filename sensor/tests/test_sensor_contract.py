"""The sensor shares contracts with Tokenwarden, never code: these tests hold the copies equal."""

from __future__ import annotations

import json
from pathlib import Path

from sensor_support import APP_ID, token
from tokenwarden_sensor import COLUMNS
from tokenwarden_sensor.keys import KeySet, compromised_key_ids, key_forms
from tokenwarden_sensor.token import read_token, validation_row

ROOT = Path(__file__).resolve().parents[2]


def test_the_row_columns_are_the_token_validation_contract() -> None:
    contract = json.loads((ROOT / "shared/schemas/TokenValidation_CL.json").read_text())
    assert tuple(c["name"] for c in contract["columns"]) == COLUMNS


def test_the_shipped_compromised_list_is_tokenwardens() -> None:
    ours = json.loads((ROOT / "sensor/tokenwarden_sensor/data/compromised_keys.json").read_text())
    theirs = json.loads((ROOT / "shared/data/compromised_keys.json").read_text())
    assert ours == theirs
    assert "1LTMzakihiRla_8z2BEJVXeWMqo" in compromised_key_ids()


def test_key_forms_match_tokenwardens_for_every_spelling() -> None:
    from shared.detect.keys.forms import key_forms as app_key_forms

    for value in ("1LTMzakihiRla_8z2BEJVXeWMqo", "D4B4CCCDA9228624656BFF33D8110955779632AA",
                  "1LTMzakihiRla/8z2BEJVXeWMqo=", "opaque-key-1"):
        ours, theirs = key_forms(value), app_key_forms(value)
        assert (ours.exact, ours.thumbprints) == (theirs.exact, theirs.thumbprints)


def test_a_key_matches_in_hex_and_base64_spellings() -> None:
    keys = KeySet(["d4b4cccda9228624656bff33d8110955779632aa"])
    assert keys.matches("1LTMzakihiRla_8z2BEJVXeWMqo") == "1LTMzakihiRla_8z2BEJVXeWMqo"
    assert keys.matches(None, "D4B4CCCDA9228624656BFF33D8110955779632AA") is not None
    assert keys.matches("ZtGrLtIomVfvajJa0XNpd7CPbfY") is None


def test_a_row_never_holds_the_token_its_signature_or_names() -> None:
    text = token(signature="U0VDUkVULVNJR05BVFVSRQ")
    facts = read_token(text)
    assert facts is not None
    from datetime import UTC, datetime

    row = validation_row(facts, app_id=APP_ID, app_name="Orders", outcome="Accepted", failure_reason=None,
                         client_ip="203.0.113.9", user_agent="curl/8", now=datetime.now(UTC))
    assert tuple(row) == COLUMNS
    serialized = json.dumps(row)
    assert "U0VDUkVULVNJR05BVFVSRQ" not in serialized
    assert text.split(".")[1] not in serialized
    assert "Uma Berg" not in serialized and "email" not in row["Claims"]
    assert row["KeyId"] == "ZtGrLtIomVfvajJa0XNpd7CPbfY" and row["TokenId"] == "uti-1"
    assert row["Upn"] == "uma@contoso.example" and row["ClientAppId"] == "edf4dd9e-d8ea-4470-8ab6-cbf692ae3ff5"
    assert row["IssuedAt"].endswith("Z") and row["ClientIp"] == "203.0.113.9"


def test_what_is_not_a_jwt_is_ignored() -> None:
    for text in ("", "opaque", "a.b.c", "a.b", f"{token()}.extra"):
        assert read_token(text) is None


def test_the_sensor_imports_nothing_of_the_function_app() -> None:
    import ast

    offenders = []
    for path in sorted((ROOT / "sensor/tokenwarden_sensor").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("shared", "functions", "tools")]
    assert offenders == []


def test_importing_the_sensor_loads_no_azure_sdk() -> None:
    import subprocess
    import sys

    code = ("import sys, tokenwarden_sensor, tokenwarden_sensor.asgi, tokenwarden_sensor.wsgi, "
            "tokenwarden_sensor.functions; print(sorted(m for m in sys.modules if m.startswith('azure')))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                            cwd=ROOT / "sensor").stdout.strip()
    assert loaded == "[]"
