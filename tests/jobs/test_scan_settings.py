"""The scan's settings: checkpoint windows and the ledger's storage connection."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from shared.core.errors import ConfigurationError
from shared.core.settings import HOST_STORAGE_SETTINGS, SETTINGS, load_settings
from shared.ledger.connection import LedgerTableNames, table_service_client


def test_window_defaults() -> None:
    settings = load_settings({})
    assert settings.scan_overlap == timedelta(minutes=10)
    assert settings.ingestion_delay == timedelta(minutes=5)
    assert settings.scan_max_chunk == timedelta(hours=1)
    assert settings.scan_max_chunks == 24


@pytest.mark.parametrize(("environment", "message"), [
    ({"SCAN_OVERLAP": "soon"}, "SCAN_OVERLAP: 'soon' is not a duration"),
    ({"INGESTION_DELAY": "5"}, "INGESTION_DELAY: '5' is not a duration"),
    ({"SCAN_MAX_CHUNK": "0m"}, "SCAN_MAX_CHUNK: must be longer than 0, got '0m'"),
    ({"SCAN_MAX_CHUNK": "10m"}, "SCAN_MAX_CHUNK (10m) must be longer than SCAN_OVERLAP (10m)"),
    ({"SCAN_MAX_CHUNKS": "0"}, "SCAN_MAX_CHUNKS is '0'; expected a whole number from 1 to 1000"),
    ({"SCAN_MAX_CHUNKS": "²"}, "SCAN_MAX_CHUNKS is '²'"),
    ({"AzureWebJobsStorage__credential": "connectionstring"}, "expected 'managedidentity' or nothing"),
    ({"ARM_ENDPOINT": "http://management.example.com"}, "ARM_ENDPOINT must be an https URL"),
    ({"GRAPH_ENDPOINT": "graph.microsoft.com"}, "GRAPH_ENDPOINT must be an https URL"),
    ({"SENTINEL_WORKSPACE_RESOURCE_ID": "/subscriptions/s/workspaces/w"}, "SENTINEL_WORKSPACE_RESOURCE_ID must look"),
])
def test_bad_values_name_the_setting_in_one_line(environment: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)) as caught:
        load_settings(environment)
    assert "\n" not in str(caught.value)


def test_host_storage_settings_are_kept_apart_from_tokenwarden_settings() -> None:
    host = {spec.name for spec in HOST_STORAGE_SETTINGS}
    assert host == {"AzureWebJobsStorage", "AzureWebJobsStorage__tableServiceUri",
                    "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
                    "AzureWebJobsStorage__blobServiceUri", "AzureWebJobsStorage__queueServiceUri"}
    assert not host & {spec.name for spec in SETTINGS}
    settings = load_settings({"AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net/",
                              "AzureWebJobsStorage__credential": "ManagedIdentity",
                              "AzureWebJobsStorage__clientId": "client-1"})
    assert (settings.table_service_uri, settings.storage_credential, settings.storage_client_id) == (
        "https://acct.table.core.windows.net/", "managedidentity", "client-1")


def test_endpoints_accept_loopback_http_for_the_simulators() -> None:
    settings = load_settings({"ARM_ENDPOINT": "http://127.0.0.1:8080/", "GRAPH_ENDPOINT": "https://graph.microsoft.us",
                              "AZURE_CLOUD": "AzureUSGovernment"})
    assert (settings.arm_endpoint, settings.graph_endpoint) == ("http://127.0.0.1:8080", "https://graph.microsoft.us")
    # A Graph endpoint of another cloud than AZURE_CLOUD's would be sent a token for the wrong audience.
    with pytest.raises(ConfigurationError, match="AZURE_CLOUD=AzurePublicCloud"):
        load_settings({"GRAPH_ENDPOINT": "https://graph.microsoft.us"})


def test_a_bad_webhook_url_is_refused_without_echoing_its_signature() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"NOTIFY_WEBHOOK_URL": "http://example.com/workflows?sig=SECRET"})
    assert "SECRET" not in str(caught.value) and "NOTIFY_WEBHOOK_URL" in str(caught.value)
    settings = load_settings({"NOTIFY_WEBHOOK_URL": "https://example.com/workflows?sig=SECRET"})
    assert "SECRET" not in repr(settings)


def test_the_connection_string_never_shows_in_a_repr() -> None:
    settings = load_settings({"AzureWebJobsStorage": "AccountName=a;AccountKey=c2VjcmV0"})
    assert "c2VjcmV0" not in repr(settings)


def test_without_storage_the_ledger_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match=r"set AzureWebJobsStorage__tableServiceUri .* or AzureWebJobsStorage"):
        table_service_client(load_settings({}))


def test_a_broken_connection_string_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError, match="AzureWebJobsStorage is not a usable connection string") as caught:
        table_service_client(load_settings({"AzureWebJobsStorage": "AccountKey=c2VjcmV0"}))
    assert "c2VjcmV0" not in str(caught.value)


def test_the_identity_based_form_builds_a_client_for_the_endpoint_without_a_key() -> None:
    client = table_service_client(load_settings({
        "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net/",
        "AzureWebJobsStorage__credential": "managedidentity", "AzureWebJobsStorage__clientId": "client-1"}))
    try:
        assert client.url.startswith("https://acct.table.core.windows.net")
        assert client.credential is not None and not hasattr(client.credential, "named_key")
    finally:
        client.close()
    with pytest.raises(ConfigurationError, match="expected an https:// URL"):
        table_service_client(load_settings({"AzureWebJobsStorage__tableServiceUri": "acct.table"}))


def test_table_names_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="not a valid table name"):
        LedgerTableNames(cases="Cases-1")
