"""Every table a shipped rule reads says what a tenant must enable to have it; the catalogue shows it."""

from __future__ import annotations

from shared.detect.data_sources import DATA_SOURCES, data_source, requirements
from shared.detect.rule_docs import rules_markdown
from shared.detect.ruleset import load_rules


def test_every_table_a_rule_reads_is_catalogued() -> None:
    missing = {table for rule in load_rules() for table in rule.meta.tables} - set(DATA_SOURCES)
    assert missing == set()


def test_an_uncatalogued_table_points_at_its_reference_rather_than_inventing_a_requirement() -> None:
    assert data_source("NoSuchTable").source == "not catalogued by Tokenwarden"


def test_requirements_are_listed_once_each_in_table_order() -> None:
    assert requirements(["CloudAppEvents", "SigninLogs", "AADNonInteractiveUserSignInLogs"], short=True) == [
        "Defender XDR connector (CloudAppEvents)", "Entra sign-in/audit logs diagnostic setting (P1/P2)"]


def test_the_catalogue_row_of_the_exchange_rule_names_the_defender_connector() -> None:
    row = next(line for line in rules_markdown(load_rules()).splitlines()
               if line.startswith("| [`office-token-without-sign-in`]"))
    assert "Defender XDR connector (CloudAppEvents)" in row


def test_the_session_replay_rule_names_what_a_tenant_enables_for_it() -> None:
    """Defender XDR for the sessions in Exchange and SharePoint records, Entra sign-in logs for what explains them."""
    row = next(line for line in rules_markdown(load_rules()).splitlines()
               if line.startswith("| [`session-replay-from-another-network`]"))
    assert "Defender XDR connector (CloudAppEvents); Entra sign-in/audit logs diagnostic setting (P1/P2)" in row
