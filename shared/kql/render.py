"""Carry parameter values to Log Analytics inside the rule's own declare block.

The Log Analytics query API takes a query and a timespan and nothing else, so a
rule's parameter values have to travel in the text. They go where the rule
already says they belong: as the defaults of its ``declare query_parameters``
statement, rendered by :mod:`shared.kql.literals`. Names and types are copied
from the rule, never from the caller, and the rest of the rule is left
byte-for-byte as written.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.errors import DataError
from shared.kql.declare import parse_declare
from shared.kql.literals import render_literal

__all__ = ["render_for_log_analytics"]


def render_for_log_analytics(text: str, values: Mapping[str, object]) -> str:
    """``text`` with each value in ``values`` written as its parameter's default.

    Raises DataError for a name the rule does not declare, a value of the wrong
    type or one that cannot be written safely, or a parameter left with neither
    a value nor a default (Log Analytics would have nothing to bind it to);
    RuleError if the declare block itself is malformed.
    """
    block = parse_declare(text)
    if block is None:
        if values:
            raise DataError(f"the query declares no parameters but got values for {sorted(values)}")
        return text
    unknown = sorted(set(values) - set(block.names))
    if unknown:
        raise DataError(f"unknown parameter(s) {unknown}; the query declares {list(block.names)}")
    lines: list[str] = []
    for declaration in block.declarations:
        if declaration.name in values:
            literal = render_literal(declaration.kusto_type, values[declaration.name], name=declaration.name)
        elif declaration.default is not None:
            literal = declaration.default
        else:
            raise DataError(f"parameter {declaration.name} has no value and no default")
        lines.append(f"    {declaration.name}:{declaration.type_text} = {literal}")
    return block.prefix + "declare query_parameters(\n" + ",\n".join(lines) + "\n);" + block.body
