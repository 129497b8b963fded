"""Bind a query's declared parameters as ``let`` statements: the only form Log Analytics and Sentinel accept.

A rule declares its parameters once, with types and defaults, in a leading
``declare query_parameters(...)`` statement. That statement cannot be sent as it is:

- Kusto refuses a default on a parameter of type ``dynamic`` ("query parameters of
  type dynamic cannot have default values": MicrosoftDocs/dataexplorer-docs,
  ``data-explorer/kusto/query/query-parameters-statement.md``, which applies to
  Azure Monitor and Microsoft Sentinel);
- the Log Analytics query API has no parameter channel (its request body carries
  only ``query``, ``timespan`` and ``workspaces``: azure-rest-api-specs,
  ``specification/operationalinsights/data-plane/Microsoft.OperationalInsights/stable/v1/OperationalInsights.json``,
  ``queryBody``), so values have to travel in the text anyway.

So every parameter becomes ``let name = literal;``, in declaration order, where the
declare statement stood. A value the caller supplies is rendered by
:mod:`shared.detect.kql.literals` (typed, and unable to escape its quotes); a parameter
with no value keeps the rule's own default text. Names and types come from the
rule, never from the caller, and the rest of the rule is left byte-for-byte as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shared.core.errors import DataError
from shared.detect.kql.declare import Declaration, parse_declare
from shared.detect.kql.literals import render_literal

__all__ = ["bind_parameters"]

# Types whose bare literal (``5``, ``1.5``, ``true``) Kusto would read as another type: a ``let`` has no type
# annotation, so such a default is wrapped in its type's literal form (``int(5)``) to keep the declared type.
_AMBIGUOUS_BARE_TYPES = frozenset({"int", "long", "real", "decimal", "bool"})
_TYPED_LITERAL = re.compile(r"^[a-z0-9]+\s*\(", re.IGNORECASE)


def bind_parameters(text: str, values: Mapping[str, object]) -> str:
    """``text`` with its ``declare query_parameters`` statement replaced by one ``let`` per parameter.

    Text without the statement is returned as it is (and then takes no values).

    :raises DataError: a name the query does not declare, a value of the wrong type or one that cannot be
        written safely, or a parameter left with neither a value nor a default.
    :raises RuleError: the declare statement itself is malformed.
    """
    block = parse_declare(text)
    if block is None:
        if values:
            raise DataError(f"the query declares no parameters but got values for {sorted(values)}")
        return text
    unknown = sorted(set(values) - set(block.names))
    if unknown:
        raise DataError(f"unknown parameter(s) {unknown}; the query declares {list(block.names)}")
    lets = [f"let {declaration.name} = {_literal(declaration, values)};" for declaration in block.declarations]
    return block.prefix + "\n".join(lets) + block.body


def _literal(declaration: Declaration, values: Mapping[str, object]) -> str:
    if declaration.name in values:
        return render_literal(declaration.kusto_type, values[declaration.name], name=declaration.name)
    default = declaration.default
    if default is None:
        raise DataError(f"parameter {declaration.name} has no value and no default")
    if declaration.kusto_type in _AMBIGUOUS_BARE_TYPES and not _TYPED_LITERAL.match(default):
        return f"{declaration.kusto_type}({default})"
    return default
