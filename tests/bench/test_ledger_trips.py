"""The containment bench's round-trip counter names each Table Storage request by table, partition kind and
operation, whatever suffix a run's tables carry (the URL forms are Table Storage's, path-style as Azurite
serves them: https://learn.microsoft.com/rest/api/storageservices/query-entities)."""

from __future__ import annotations

import pytest

from bench.ledger_trips import classify

BASE = "http://127.0.0.1:10002/devstoreaccount1"


@pytest.mark.parametrize(("method", "path", "kind"), [
    ("GET", "/Casesd3f9a0b1c2d4(PartitionKey='case',RowKey='case-usr-1')", "Cases/case read"),
    ("PATCH", "/Casese0123456789ab(PartitionKey='principal',RowKey='p1')", "Cases/principal write"),
    ("GET", "/Cases()?$filter=PartitionKey%20eq%20'alias'", "Cases query"),
    ("POST", "/Actionsabcdef012345", "Actions insert"),
    ("PATCH", "/Actionsabcdef012345(PartitionKey='case-usr-1',RowKey='act-1')", "Actions/case write"),
    ("GET", "/Actionsabcdef012345()?$filter=PartitionKey%20eq%20'case-usr-1'", "Actions query"),
    ("POST", "/$batch", "batch"),
])
def test_each_request_is_named_by_table_partition_kind_and_operation(method: str, path: str, kind: str) -> None:
    assert classify(method, BASE + path) == kind
