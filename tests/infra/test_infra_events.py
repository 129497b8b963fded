"""Tokenwarden's Event Grid topic carries one outbound type and two inbound ones; the inbound reach `events`.

Outbound, `Tokenwarden.SigningKeys.Untrusted` is published by Tokenwarden for apps. Inbound,
`Tokenwarden.TokenAnomaly` (apps' validation middleware) and `Tokenwarden.MonitorAlert` (the alert relay)
are delivered to the `events` function by a subscription created after deploy, with the Key Vault's.
"""

from __future__ import annotations

from typing import Any

from infra_bicep import body, infra_file, resolve, strings

import shared.resource_names as names
from shared.events.parse import KEY_VAULT_EVENT_TYPES

SUBSCRIPTION_MODULE = "app/topic-subscription.bicep"
EVENT_GRID_DATA_SENDER = "d5a91429-5739-47e2-a06b-3470a27159e7"


def postdeploy_subscriptions() -> dict[str, dict[str, Any]]:
    """The postdeploy modules that create a subscription, by symbol."""
    return {symbol: module for symbol, module in infra_file("postdeploy.bicep")["modules"].items()
            if module["detail"]["path"] == SUBSCRIPTION_MODULE}


def params(symbol: str) -> dict[str, Any]:
    found: dict[str, Any] = body(postdeploy_subscriptions()[symbol])["params"]
    return found


def included_types(symbol: str) -> list[str]:
    types: list[str] = resolve(infra_file("postdeploy.bicep"), params(symbol)["includedEventTypes"])
    return types


def test_the_topic_declares_the_outbound_and_the_inbound_types() -> None:
    topic = body(infra_file("app/events.bicep")["resources"]["topic"])["properties"]
    declared = {key.strip("'") for key in topic["eventTypeInfo"]["inlineEventTypes"]}
    assert declared == {names.EVENT_TYPE_UNTRUSTED_KEYS, *names.INBOUND_EVENT_TYPES}
    assert set(names.INBOUND_EVENT_TYPES) == {names.EVENT_TYPE_TOKEN_ANOMALY, names.EVENT_TYPE_MONITOR_ALERT}


def test_the_topic_describes_each_type_in_its_direction() -> None:
    types = body(infra_file("app/events.bicep")["resources"]["topic"])["properties"]["eventTypeInfo"]
    described = {key.strip("'"): value for key, value in types["inlineEventTypes"].items()}
    assert "(outbound)" in described[names.EVENT_TYPE_UNTRUSTED_KEYS]["displayName"]
    for event_type in names.INBOUND_EVENT_TYPES:
        assert "(inbound)" in described[event_type]["displayName"], event_type
        assert "events function receives it" in described[event_type]["description"], event_type
    # Tokenwarden never publishes an anomaly: nothing may say it does.
    assert "confirmed a finding" not in described[names.EVENT_TYPE_TOKEN_ANOMALY]["description"]


def test_the_topic_accepts_only_entra_publishers() -> None:
    topic = body(infra_file("app/events.bicep")["resources"]["topic"])["properties"]
    assert topic["disableLocalAuth"] is True


def test_one_module_makes_both_subscriptions_to_the_events_function() -> None:
    assert set(postdeploy_subscriptions()) == {"keyVaultSubscription", "inboundSubscription"}
    tree = infra_file(SUBSCRIPTION_MODULE)
    assert tree["parameters"]["functionName"]["default"] == "events"
    properties = resolve(tree, "subscriptionProperties")
    destination = properties["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert "${functionAppResourceId}/functions/${functionName}" in set(strings(destination["properties"]))
    assert properties["filter"] == {"includedEventTypes": "includedEventTypes"}
    subscriptions = {symbol: r for symbol, r in tree["resources"].items() if r["type"].endswith("/eventSubscriptions")}
    assert {r["type"] for r in subscriptions.values()} == {
        "Microsoft.EventGrid/systemTopics/eventSubscriptions", "Microsoft.EventGrid/topics/eventSubscriptions"}
    for resource in subscriptions.values():
        assert resource["api_version"] == "2025-02-15"
        assert body(resource)["properties"] == "subscriptionProperties"


def test_the_inbound_subscription_filters_exactly_the_inbound_types() -> None:
    inbound = params("inboundSubscription")
    assert inbound["topicKind"] == "custom"
    assert included_types("inboundSubscription") == list(names.INBOUND_EVENT_TYPES)
    assert names.EVENT_TYPE_UNTRUSTED_KEYS not in included_types("inboundSubscription")
    assert inbound["functionAppResourceId"]["operator"]["operands"] == {"operand_1": "functionApp",
                                                                         "operand_2": "id"}
    # Tokenwarden's topic lives in the postdeploy resource group: no cross-group scope.
    assert "scope" not in body(postdeploy_subscriptions()["inboundSubscription"])


def test_the_inbound_subscription_finds_the_topic_main_bicep_created() -> None:
    postdeploy, main = infra_file("postdeploy.bicep"), infra_file("main.bicep")
    assert params("inboundSubscription")["topicName"] == "topicName"
    assert postdeploy["parameters"]["eventGridTopicName"]["default"] == ""
    created = body(main["modules"]["events"])["params"]["name"]
    assert created in set(strings(postdeploy["variables"]["topicName"]["value"]))
    assert resolve(postdeploy, "resourceToken") == resolve(main, "resourceToken")
    assert "EVENT_GRID_TOPIC_NAME" in main["outputs"]


def test_the_key_vault_subscription_is_unchanged_by_the_generalisation() -> None:
    key_vault = params("keyVaultSubscription")
    assert key_vault["topicKind"] == "system"
    assert key_vault["subscriptionName"] == "tokenwarden-key-events"
    assert key_vault["topicName"] == "keyVaultSystemTopicName"
    assert set(included_types("keyVaultSubscription")) == set(KEY_VAULT_EVENT_TYPES)
    assert postdeploy_subscriptions()["keyVaultSubscription"]["config"]["condition"] == "subscribeToKeyVault"


def test_publishers_of_inbound_events_get_data_sender_on_the_topic_only() -> None:
    rbac = infra_file("app/rbac.bicep")
    assert resolve(rbac, "eventGridDataSenderRoleId") == EVENT_GRID_DATA_SENDER
    publishers = rbac["resources"]["eventPublishers"]
    assert publishers["config"]["loop_type"]["detail"] == {"item_name": "publisherId",
                                                           "array_name": "eventPublisherPrincipalIds"}
    assignment = body(publishers)
    assert assignment["scope"] == "eventGridTopic"
    assert rbac["resources"]["eventGridTopic"]["type"] == "Microsoft.EventGrid/topics"
    assert assignment["properties"]["principalId"] == "publisherId"
    assert assignment["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"] == (
        "eventGridDataSenderRoleId")
    assert set(strings(assignment["name"])) >= {"publisherId", "eventGridDataSenderRoleId"}
    assert rbac["parameters"]["eventPublisherPrincipalIds"]["default"] == []


def test_main_passes_the_publishers_through() -> None:
    main = infra_file("main.bicep")
    assert main["parameters"]["eventPublisherPrincipalIds"]["default"] == []
    assert body(main["modules"]["rbac"])["params"]["eventPublisherPrincipalIds"] == "eventPublisherPrincipalIds"
