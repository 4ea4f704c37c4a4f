"""The 15 Journeys destination actions as data: slug, title, default trigger, fields and target operation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from cio_retl.suggest import did_you_mean

SEMANTIC_EVENTS = (
    "Application Installed", "Application Opened", "Application Uninstalled", "Device Created or Updated",
    "Device Deleted", "Relationship Deleted", "User Deleted", "User Suppressed", "User Unsuppressed",
    "Object Deleted", "Report Delivery Event", "Report Content Event",
)
PRIORITY = {"object_identify": 0, "person_identify": 1, "relationship_device": 2, "event": 3, "delete": 4}


def path(p: str) -> dict[str, str]:
    return {"@path": p}


def either(first: str, second: str) -> dict[str, Any]:
    """The reference's `first if present, else second` default."""
    return {"@if": {"exists": path(first), "then": path(first), "else": path(second)}}


@dataclass(frozen=True)
class Field:
    """One input of an action: its name, default mapping and whether the operation needs it."""

    name: str
    default: Any = None
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Action:
    """One destination action: a trigger picks calls, fields map them, the builder makes the operation."""

    slug: str
    title: str
    trigger: str
    operation: str  # "<type>/<action>" of the v2 operation (or "v1/metrics")
    priority: int
    fields: tuple[Field, ...]
    endpoint: str = "batch"

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def default_mapping(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.fields if f.default is not None}


def _is(event: str) -> str:
    return f'event = "{event}"'


_TS = Field("timestamp", path("$.timestamp"), description="When it happened; sent as Unix seconds.")
# Not sent unless mapped: Customer.io ignores (with a 200) an update older than the profile's latest, so a
# resync or backfill carrying the rows' old times would change nothing. Without it, the update is "now".
_IDENTIFY_TS = Field("timestamp", None, description="When the update happened; not sent unless mapped (Customer.io "
                     "ignores updates older than the profile's latest).")
_CONVERT = Field("convert_timestamp", True, description="Send ISO-8601 and native timestamp attributes as Unix seconds.")
_PERSON = Field("person_id", path("$.userId"), required=True, description="The person: id, email or cio_<id>.")
_PERSON_EMAIL = Field("email", path("$.properties.email"), description="Used when there is no person_id.")
_ANON = Field("anonymous_id", path("$.anonymousId"), description="Anonymous id, used when there is no user id.")
_EVENT_ID = Field("event_id", path("$.messageId"), description="De-duplication id; derived from (sync, primary key) when empty.")
_OBJECT_TYPE = Field("object_type_id", either("$.properties.object_type_id", "$.properties.objectTypeId"),
                     description="Object type id; default \"1\".")

ACTIONS: dict[str, Action] = {a.slug: a for a in (
    Action("createUpdatePerson", "Create or Update Person", 'type = "identify"', "person/identify",
           PRIORITY["person_identify"], (
               Field("id", either("$.userId", "$.traits.email"), description="The person: id, email or cio_<id>."),
               _ANON,
               Field("email", {"@template": "{{traits.email}}"}, description="Email attribute."),
               Field("created_at", either("$.traits.created_at", "$.traits.createdAt")),
               Field("group_id", path("$.traits.objectId"), description="Relate the person to this object."),
               Field("custom_attributes", path("$.traits"), description="Person attributes."),
               Field("relationship_attributes", either("$.traits.relationshipAttributes", "$.traits.relationship_attributes")),
               _IDENTIFY_TS, _CONVERT,
               Field("object_type_id", either("$.traits.object_type_id", "$.traits.objectTypeId")),
           )),
    Action("createUpdateObject", "Create or Update Object", 'type = "group"', "object/identify",
           PRIORITY["object_identify"], (
               Field("id", path("$.groupId"), required=True, description="The object id."),
               Field("created_at", either("$.traits.created_at", "$.traits.createdAt")),
               Field("custom_attributes", path("$.traits"), description="Object attributes (flat traits)."),
               Field("relationship_attributes", either("$.traits.relationshipAttributes", "$.traits.relationship_attributes")),
               Field("user_id", path("$.userId"), description="Relate this person to the object."),
               _ANON,
               Field("object_type_id", either("$.traits.object_type_id", "$.traits.objectTypeId")),
               _CONVERT,
           )),
    Action("trackEvent", "Track Event",
           'type = "track" and ' + " and ".join(f'event != "{e}"' for e in SEMANTIC_EVENTS), "person/event",
           PRIORITY["event"], (
               Field("id", path("$.userId"), description="The person: id, email or cio_<id>."), _ANON,
               Field("name", path("$.event"), required=True), _EVENT_ID, _TS,
               Field("data", path("$.properties"), description="Event attributes."), _CONVERT,
           )),
    Action("trackPageView", "Track Page View", 'type = "page"', "person/page", PRIORITY["event"], (
        Field("id", path("$.userId")), _ANON, _EVENT_ID,
        Field("url", path("$.properties.url"), required=True, description="The page; sent as the name."),
        _TS, Field("data", path("$.properties")), _CONVERT,
    )),
    Action("trackScreenView", "Track Screen View", 'type = "screen"', "person/screen", PRIORITY["event"], (
        Field("id", path("$.userId")), _ANON, _EVENT_ID, Field("name", path("$.name"), required=True),
        _TS, Field("data", path("$.properties")), _CONVERT,
    )),
    Action("deletePerson", "Delete Person", _is("User Deleted"), "person/delete", PRIORITY["delete"],
           (_PERSON, _PERSON_EMAIL, _ANON)),
    Action("deleteObject", "Delete Object", _is("Object Deleted"), "object/delete", PRIORITY["delete"], (
        Field("object_id", path("$.properties.objectId"), required=True), _OBJECT_TYPE,
    )),
    Action("deleteRelationship", "Delete Relationship", _is("Relationship Deleted"), "object/delete_relationships",
           PRIORITY["delete"], (
               _PERSON, _ANON, Field("object_id", path("$.properties.objectId"), required=True), _OBJECT_TYPE,
           )),
    Action("createUpdateDevice", "Create or Update Device",
           " or ".join(_is(e) for e in ("Application Installed", "Application Opened", "Device Created or Updated")),
           "person/add_device", PRIORITY["relationship_device"], (
               _PERSON, Field("device_id", path("$.context.device.token"), required=True),
               Field("app_version", path("$.context.app.version")),
               Field("platform", path("$.context.device.type"), required=True, description="ios or android."),
               Field("last_used", path("$.timestamp")), Field("attributes", path("$.properties")), _CONVERT,
           )),
    Action("deleteDevice", "Delete Device", " or ".join(_is(e) for e in ("Application Uninstalled", "Device Deleted")),
           "person/delete_device", PRIORITY["delete"], (
               _PERSON, Field("device_id", path("$.context.device.token"), required=True),
           )),
    Action("mergePeople", "Merge People", 'type = "alias"', "person/merge", PRIORITY["delete"], (
        Field("primary", path("$.userId"), required=True, description="The person that remains."),
        Field("secondary", path("$.previousId"), required=True, description="The person merged in and deleted."),
    )),
    Action("suppressPerson", "Suppress Person", _is("User Suppressed"), "person/suppress", PRIORITY["delete"],
           (_PERSON, _PERSON_EMAIL)),
    Action("unsuppressPerson", "Unsuppress Person", _is("User Unsuppressed"), "person/unsuppress", PRIORITY["delete"],
           (_PERSON, _PERSON_EMAIL)),
    Action("reportDeliveryEvent", "Report Delivery Event", _is("Report Delivery Event"), "v1/metrics",
           PRIORITY["event"], (
               Field("delivery_id", path("$.properties.deliveryId"), required=True),
               Field("metric", path("$.properties.metric"), required=True),
               Field("recipient", path("$.properties.recipient")), Field("reason", path("$.properties.reason")),
               Field("href", path("$.properties.href")), Field("action_name", path("$.properties.actionName")),
               Field("action_value", path("$.properties.actionValue")), _TS,
           ), endpoint="metrics"),
    Action("reportContentEvent", "Report Content Event", _is("Report Content Event"), "person/content",
           PRIORITY["event"], (
               Field("id", path("$.userId")), _ANON,
               Field("actionType", path("$.properties.actionType"), required=True,
                     description="viewed_content or clicked_content."),
               _TS, Field("data", path("$.properties")), _CONVERT,
           )),
)}

DELIVERY_METRICS = ("delivered", "opened", "clicked", "converted", "spammed", "bounced", "dropped", "deferred")
CONTENT_ACTIONS = ("viewed_content", "clicked_content")


# Every action in Customer.io's UI carries these two fields; a mapping copied from there is taken as it is.
UI_ONLY_FIELDS = ("enable_batching", "batch_size")


class Override(Protocol):
    """What a project may change of one action (the `actions.<slug>` section, `project.actions.ActionOverride`)."""

    enabled: bool
    trigger: str | None
    mapping: dict[str, Any]


def override_problems(slug: str, fields: Iterable[str]) -> list[str]:
    """What is wrong with an override of action `slug` that maps `fields`: an unknown action or unknown fields.

    Checked when the project file loads and again when actions compile (test-action's --mapping).
    """
    if slug not in ACTIONS:
        return [f"actions.{slug}: no action named '{slug}'{did_you_mean(slug, ACTIONS, listing='actions are')}"]
    names = [f.name for f in ACTIONS[slug].fields]
    return [f"actions.{slug}.mapping.{name}: {slug} has no field '{name}'{did_you_mean(name, names, listing='its fields are')}"
            for name in fields if name not in names and name not in UI_ONLY_FIELDS]
