"""Tokenwarden's two Event Grid topics: an outbound one only Tokenwarden sends to, an inbound one for apps.

EventGrid Data Sender cannot be narrowed to event types, so the direction is the topic. Outbound,
`Tokenwarden.SigningKeys.Untrusted` is published by Tokenwarden alone for the apps to drop cached keys.
Inbound, `Tokenwarden.TokenAnomaly` (apps' validation middleware) and `Tokenwarden.MonitorAlert` (the
alert relay) are sent by the principals in `eventPublisherPrincipalIds` and delivered to the `events`
function by a subscription created after deploy, with the Key Vault's. A publisher must hold no role on
the outbound topic, or it could make every subscribed app drop valid signing keys.
"""

from __future__ import annotations

from typing import Any

from infra_bicep import INFRA, body, infra_file, resolve, strings

import shared.core.resource_names as names
from shared.intake.events import KEY_VAULT_EVENT_TYPES

SUBSCRIPTION_MODULE = "app/topic-subscription.bicep"
EVENT_GRID_DATA_SENDER = "d5a91429-5739-47e2-a06b-3470a27159e7"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
TOPIC = "Microsoft.EventGrid/topics"
OUTBOUND, INBOUND = "events", "inboundEvents"  # the two instances of app/events.bicep in main.bicep
TOKENWARDEN = "principalId"  # rbac.bicep's parameter for Tokenwarden's identity


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


def topic_modules() -> dict[str, dict[str, Any]]:
    """main.bicep's instances of app/events.bicep, by symbol."""
    return {symbol: module for symbol, module in infra_file("main.bicep")["modules"].items()
            if module["detail"]["path"] == "app/events.bicep"}


def declared_types(symbol: str) -> dict[str, dict[str, str]]:
    """The event types main.bicep declares on one topic, by type name."""
    declared = resolve(infra_file("main.bicep"), body(topic_modules()[symbol])["params"]["eventTypes"])
    return {key.strip("'"): value for key, value in declared.items()}


def output_of(value: Any) -> tuple[str, str]:
    """(module, output) of a pycep `module.outputs.output` reference."""
    operands = value["operator"]["operands"]
    inner = operands["operand_2"]["operator"]["operands"]
    assert inner["operand_1"] == "outputs", value
    return operands["operand_1"], inner["operand_2"]


def rbac_topics() -> dict[str, str]:
    """rbac.bicep's topic symbols, mapped to the main.bicep module whose topic each one is."""
    rbac, main = infra_file("app/rbac.bicep"), infra_file("main.bicep")
    passed = body(main["modules"]["rbac"])["params"]
    topics = {}
    for symbol, resource in rbac["resources"].items():
        if resource["type"] == TOPIC:
            assert resource["existing"], symbol
            module, output = output_of(passed[resource["config"]["name"]])
            assert output == "name", symbol
            topics[symbol] = module
    return topics


def data_senders() -> dict[str, set[str]]:
    """Who gets EventGrid Data Sender (Tokenwarden, or the principal list a loop runs over), by topic module."""
    rbac = infra_file("app/rbac.bicep")
    topics = rbac_topics()
    senders: dict[str, set[str]] = {module: set() for module in topic_modules()}
    for symbol, resource in rbac["resources"].items():
        if resource["type"] != ROLE_ASSIGNMENT:
            continue
        assignment = body(resource)
        role = resolve(rbac, assignment["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"])
        if assignment["scope"] in topics:
            assert role == EVENT_GRID_DATA_SENDER, symbol  # no other role on a topic
            senders[topics[assignment["scope"]]].add(grantee(resource))
    return senders


def grantee(resource: dict[str, Any]) -> str:
    """The principal parameter a role assignment grants to: the array a loop runs over, or the parameter."""
    principal = body(resource)["properties"]["principalId"]
    loop = resource["config"].get("loop_type")
    if loop and loop["detail"]["item_name"] == principal:
        found: str = loop["detail"]["array_name"]
        return found
    assert isinstance(principal, str)
    return principal


# --- The two topics ------------------------------------------------------------------------------


def test_main_deploys_one_outbound_and_one_inbound_topic() -> None:
    assert set(topic_modules()) == {OUTBOUND, INBOUND}
    names_given = {body(m)["params"]["name"] for m in topic_modules().values()}
    assert len(names_given) == 2
    assert rbac_topics() == {"outboundTopic": OUTBOUND, "inboundTopic": INBOUND}


def test_the_outbound_topic_carries_only_the_untrusted_key_type() -> None:
    assert set(declared_types(OUTBOUND)) == set(names.OUTBOUND_EVENT_TYPES) == {names.EVENT_TYPE_UNTRUSTED_KEYS}
    assert "(outbound)" in declared_types(OUTBOUND)[names.EVENT_TYPE_UNTRUSTED_KEYS]["displayName"]


def test_the_inbound_topic_carries_only_the_inbound_types() -> None:
    assert set(names.INBOUND_EVENT_TYPES) == {names.EVENT_TYPE_TOKEN_ANOMALY, names.EVENT_TYPE_MONITOR_ALERT}
    described = declared_types(INBOUND)
    assert set(described) == set(names.INBOUND_EVENT_TYPES)
    assert not set(names.OUTBOUND_EVENT_TYPES) & set(described)
    for event_type in names.INBOUND_EVENT_TYPES:
        assert "(inbound)" in described[event_type]["displayName"], event_type
        assert "events function receives it" in described[event_type]["description"], event_type
    # Tokenwarden never publishes an anomaly: nothing may say it does.
    assert "confirmed a finding" not in described[names.EVENT_TYPE_TOKEN_ANOMALY]["description"]


def test_the_topic_module_declares_exactly_the_types_it_is_given() -> None:
    topic = body(infra_file("app/events.bicep")["resources"]["topic"])["properties"]
    assert topic["eventTypeInfo"] == {"kind": "Inline", "inlineEventTypes": "eventTypes"}


def test_both_topics_accept_only_entra_publishers_over_tls_1_2() -> None:
    # One module, so both instances share these settings.
    topic = body(infra_file("app/events.bicep")["resources"]["topic"])["properties"]
    assert topic["disableLocalAuth"] is True
    assert topic["minimumTlsVersionAllowed"] == "1.2"


def test_the_app_setting_and_the_outputs_name_the_right_topic() -> None:
    main = infra_file("main.bicep")
    settings = resolve(main, "deploymentSettings")
    assert output_of(settings["EVENT_GRID_TOPIC_ENDPOINT"]) == (OUTBOUND, "endpoint")
    outputs = {name: output_of(o["value"]) for name, o in main["outputs"].items() if name.startswith("EVENT_GRID_")}
    assert outputs == {
        "EVENT_GRID_TOPIC_ENDPOINT": (OUTBOUND, "endpoint"),
        "EVENT_GRID_TOPIC_NAME": (OUTBOUND, "name"),
        "EVENT_GRID_INBOUND_TOPIC_ENDPOINT": (INBOUND, "endpoint"),
        "EVENT_GRID_INBOUND_TOPIC_NAME": (INBOUND, "name"),
    }


# --- Who may send where --------------------------------------------------------------------------


def test_only_tokenwarden_sends_to_the_outbound_topic() -> None:
    assert data_senders()[OUTBOUND] == {TOKENWARDEN}


def test_only_the_event_publishers_send_to_the_inbound_topic() -> None:
    assert data_senders()[INBOUND] == {"eventPublisherPrincipalIds"}


def test_event_publishers_get_no_role_anywhere_but_the_inbound_topic() -> None:
    rbac = infra_file("app/rbac.bicep")
    granted = {symbol: body(r)["scope"] for symbol, r in rbac["resources"].items()
               if r["type"] == ROLE_ASSIGNMENT and grantee(r) == "eventPublisherPrincipalIds"}
    assert granted == {"eventPublishers": "inboundTopic"}
    # No other module receives the list, so nothing else can grant it a role.
    for symbol, module in infra_file("main.bicep")["modules"].items():
        if symbol != "rbac":
            assert "eventPublisherPrincipalIds" not in set(strings(body(module).get("params", {}))), symbol


def test_publishers_of_inbound_events_get_data_sender_on_the_inbound_topic() -> None:
    rbac = infra_file("app/rbac.bicep")
    assert resolve(rbac, "eventGridDataSenderRoleId") == EVENT_GRID_DATA_SENDER
    publishers = rbac["resources"]["eventPublishers"]
    assert publishers["config"]["loop_type"]["detail"] == {"item_name": "publisherId",
                                                           "array_name": "eventPublisherPrincipalIds"}
    assignment = body(publishers)
    assert assignment["scope"] == "inboundTopic"
    assert assignment["properties"]["principalId"] == "publisherId"
    assert assignment["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"] == (
        "eventGridDataSenderRoleId")
    assert set(strings(assignment["name"])) >= {"inboundTopic", "publisherId", "eventGridDataSenderRoleId"}
    assert rbac["parameters"]["eventPublisherPrincipalIds"]["default"] == []


def test_main_passes_the_publishers_through() -> None:
    main = infra_file("main.bicep")
    assert main["parameters"]["eventPublisherPrincipalIds"]["default"] == []
    assert body(main["modules"]["rbac"])["params"]["eventPublisherPrincipalIds"] == "eventPublisherPrincipalIds"
    assert output_of(body(main["modules"]["rbac"])["params"][TOKENWARDEN]) == ("identity", "principalId")


# --- Subscriptions to the events function --------------------------------------------------------


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


def test_the_inbound_subscription_delivers_exactly_the_inbound_types_to_events() -> None:
    inbound = params("inboundSubscription")
    assert inbound["topicKind"] == "custom"
    assert included_types("inboundSubscription") == list(names.INBOUND_EVENT_TYPES)
    assert set(included_types("inboundSubscription")) == set(declared_types(INBOUND))
    assert "functionName" not in inbound  # the module's default: events
    assert inbound["functionAppResourceId"]["operator"]["operands"] == {"operand_1": "functionApp",
                                                                         "operand_2": "id"}
    # Tokenwarden's topics live in the postdeploy resource group: no cross-group scope.
    assert "scope" not in body(postdeploy_subscriptions()["inboundSubscription"])


def test_the_inbound_subscription_is_on_the_inbound_topic_the_hooks_name() -> None:
    postdeploy = infra_file("postdeploy.bicep")
    assert params("inboundSubscription")["topicName"] == "inboundTopicName"
    assert postdeploy["parameters"]["inboundTopicName"]["default"] is None  # required: the hooks pass it
    assert "eventGridTopicName" not in postdeploy["parameters"]  # the outbound topic is not subscribed to
    for hook, line in {
        "postdeploy.sh": '"inboundTopicName": { "value": "$EVENT_GRID_INBOUND_TOPIC_NAME" }',
        "postdeploy.ps1": "inboundTopicName                 = @{ value = $env:EVENT_GRID_INBOUND_TOPIC_NAME }",
    }.items():
        assert line in (INFRA / "hooks" / hook).read_text(), hook


def test_the_key_vault_subscription_is_unchanged_by_the_generalisation() -> None:
    key_vault = params("keyVaultSubscription")
    assert key_vault["topicKind"] == "system"
    assert key_vault["subscriptionName"] == "tokenwarden-key-events"
    assert key_vault["topicName"] == "keyVaultSystemTopicName"
    assert set(included_types("keyVaultSubscription")) == set(KEY_VAULT_EVENT_TYPES)
    assert postdeploy_subscriptions()["keyVaultSubscription"]["config"]["condition"] == "subscribeToKeyVault"
