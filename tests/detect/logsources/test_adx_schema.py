"""``tokenwarden adx schema``: the script that makes an ADX database hold what the rules read."""

from __future__ import annotations

import io
import json
import re

import pytest

from shared.cli.main import main
from shared.core.errors import ConfigurationError
from shared.detect.logsources.adx_schema import MAPPING_NAME, schema_script
from shared.detect.tables import load_table_schemas

_CREATE = re.compile(r"^\.create-merge table \['(\w+)'\] \((.*)\)$")
_POLICY = re.compile(r"^\.alter table \['(\w+)'\] policy ingestiontime true$")
_MAPPING = re.compile(r"^\.create-or-alter table \['(\w+)'\] ingestion json mapping \"(\w+)\" '(.*)'$")


def test_every_table_gets_its_columns_ingestion_time_and_the_data_export_mapping() -> None:
    lines = schema_script().splitlines()
    assert lines[:2] == [".execute database script with (ContinueOnErrors=false)", "<|"]
    commands = [line for line in lines[2:] if not line.startswith("//")]
    schemas = load_table_schemas()
    assert len(commands) == 3 * len(schemas)
    for create, policy, mapping in zip(commands[0::3], commands[1::3], commands[2::3], strict=True):
        created, policed, mapped = _CREATE.match(create), _POLICY.match(policy), _MAPPING.match(mapping)
        assert created and policed and mapped, (create, policy, mapping)
        schema = schemas[created.group(1)]
        assert policed.group(1) == mapped.group(1) == schema.name
        assert created.group(2) == ", ".join(f"['{c.name}']:{c.kusto_type}" for c in schema.columns)
        assert mapped.group(2) == MAPPING_NAME
        elements = json.loads(mapped.group(3))
        assert elements == [{"Column": c.name, "Properties": {"Path": f"$.{c.name}"}} for c in schema.columns]
    assert {_CREATE.match(c).group(1) for c in commands[0::3]} == set(schemas)  # type: ignore[union-attr]


def test_the_cli_prints_the_chosen_tables_with_the_chosen_mapping() -> None:
    out = io.StringIO()
    assert main(["adx", "schema", "--tables", "SigninLogs, TokenValidation_CL", "--mapping", "Mine"], stdout=out) == 0
    text = out.getvalue()
    assert re.findall(r"^\.create-merge table \['(\w+)'\]", text, re.M) == ["SigninLogs", "TokenValidation_CL"]
    assert text.count('ingestion json mapping "Mine"') == 2


@pytest.mark.parametrize(("tables", "mapping", "message"), [
    (["NoSuchTable"], MAPPING_NAME, "no schema for NoSuchTable"),
    (None, "bad name'", "must be a plain identifier"),
])
def test_unknown_tables_and_bad_mapping_names_are_refused(tables: list[str] | None, mapping: str,
                                                          message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        schema_script(tables, mapping=mapping)


def test_the_cli_refuses_an_unknown_table_in_one_line() -> None:
    err = io.StringIO()
    assert main(["adx", "schema", "--tables", "Nope"], stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue().startswith("tokenwarden: error: no schema for Nope") and err.getvalue().count("\n") == 1
