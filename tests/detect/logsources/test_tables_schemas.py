"""The bundled table schemas, as the loader and the rules see them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import shared
from shared.detect.tables import KUSTO_TYPES, Column, load_table_schemas

SCHEMA_FILES = sorted((Path(shared.__file__).parent / "schemas").glob("*.json"))


def test_every_schema_file_is_loaded() -> None:
    schemas = load_table_schemas()
    assert sorted(schemas) == sorted(json.loads(path.read_text())["table"] for path in SCHEMA_FILES)
    assert "TokenValidation_CL" in schemas


def test_every_table_has_tenant_id_and_type_once() -> None:
    for schema in load_table_schemas().values():
        names = schema.column_names
        assert names.count("TenantId") == 1, schema.name
        assert names.count("Type") == 1, schema.name
        assert schema.column("TenantId") == Column("TenantId", "string")
        assert schema.column("Type") == Column("Type", "string")


def test_document_order_and_types_are_kept() -> None:
    for path in SCHEMA_FILES:
        document = json.loads(path.read_text())
        schema = load_table_schemas()[document["table"]]
        documented = [(c["name"], c["type"]) for c in document["columns"]]
        assert [(c.name, c.kusto_type) for c in schema.columns[: len(documented)]] == documented
        assert all(column.kusto_type in KUSTO_TYPES for column in schema.columns)


def test_schemas_are_immutable() -> None:
    schema = load_table_schemas()["TokenValidation_CL"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        schema.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        load_table_schemas()["X"] = schema  # type: ignore[index]
