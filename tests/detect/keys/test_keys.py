"""Key forms, the compromised list, and JWKS parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.core.errors import ConfigurationError, DataError
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.forms import key_forms
from shared.detect.keys.jwks import parse_jwks, read_jwks_file

STORM_KID = "1LTMzakihiRla_8z2BEJVXeWMqo"
STORM_HEX = "d4b4cccda9228624656bff33d8110955779632aa"


def test_storm_kid_and_thumbprint_are_the_same_key() -> None:
    assert key_forms(STORM_KID).thumbprints == {STORM_HEX}
    assert STORM_KID in key_forms(STORM_HEX.upper()).exact
    assert "1LTMzakihiRla/8z2BEJVXeWMqo=" in key_forms(STORM_HEX).exact


def test_opaque_key_ids_are_kept_exactly() -> None:
    forms = key_forms("my-app-key-2024")
    assert forms.exact == {"my-app-key-2024"} and not forms.thumbprints


def test_shipped_list_contains_storm_0558_with_sources() -> None:
    keys = load_compromised_keys()
    storm = keys.find(STORM_HEX.upper())
    assert storm is not None and storm.sources
    values = keys.parameter_values()
    assert STORM_KID in values["compromised_kids"]
    assert values["compromised_thumbprints"] == [STORM_HEX]


def test_operator_keys_extend_the_list() -> None:
    keys = load_compromised_keys(["0123456789abcdef0123456789abcdef01234567"])
    assert "0123456789abcdef0123456789abcdef01234567" in keys.parameter_values()["compromised_thumbprints"]
    assert keys.find("ASNFZ4mrze8BI0VniavN7wEjRWc") is not None


def test_blank_operator_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not a key id"):
        load_compromised_keys(["  "])


def test_jwks_without_keys_array_is_refused() -> None:
    with pytest.raises(DataError, match=r"mem: not a JWKS document"):
        parse_jwks({"kid": "x"}, source="mem")


def test_jwks_file_with_bad_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"keys": [\n  {"kid": "a"},\n  oops\n]}')
    with pytest.raises(DataError, match=r"keys.json: invalid JSON at line 3"):
        read_jwks_file(path)


def test_demo_jwks_certificate_dates_are_read(tmp_path: Path) -> None:
    from shared.devkit.demo_data.generate import generate_demo_data

    generate_demo_data(tmp_path, users=10, days=2)
    keys = read_jwks_file(tmp_path / "jwks" / "organizations.json")
    assert keys and all(k.not_before and k.not_after and k.not_before < k.not_after for k in keys)
    document = json.loads((tmp_path / "jwks" / "organizations.json").read_text())
    assert [k.kid for k in keys] == [entry["kid"] for entry in document["keys"]]
