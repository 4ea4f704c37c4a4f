"""One builder per action: turn compiled field values into a Plan (SQL columns, body pieces, checks)."""

from __future__ import annotations

from collections.abc import Callable

from cio_retl.actions import limits
from cio_retl.actions.catalog import CONTENT_ACTIONS, DELIVERY_METRICS
from cio_retl.sqltext import quote_str
from cio_retl.actions.identifiers import identifiers_json, object_identifiers_json, person_kind, person_value
from cio_retl.actions.mappings import kind_of
from cio_retl.actions.plan import PERSON_RESERVED, Plan, attributes, id_limit, object_attributes, object_type, person, \
    required, text, timestamp
from cio_retl.actions.render import MISSING, Val, json_text, text_of
from cio_retl.actions.ulid import event_id_sql

Values = dict[str, Val]


def _to_json(col: str) -> str:
    return f"to_json({col})::VARCHAR"


def _anon_attribute(kind_col: str, anon: str) -> str:
    # The reference copies anonymous_id into attributes unless it already is the identifier.
    return f"(CASE WHEN {kind_col} IS DISTINCT FROM 'anonymous_id' THEN {_to_json(anon)} END)"


def _created_at(p: Plan, v: Values, convert: bool) -> dict[str, str]:
    """The created_at attribute as an `extras` entry; an empty or null value is left out, as the reference does."""
    value = v["created_at"]
    if value is MISSING:
        return {}
    text = json_text(value, convert)
    if kind_of(value) in ("varchar", "json"):  # only text can be empty; other values are NULL or something
        text = f"CASE WHEN {text_of(value)} IS NOT NULL THEN {text} END"
    return {"created_at": p.col(text)}


def _object_target(p: Plan, v: Values) -> tuple[str, str]:
    oid = text(p, v["object_id"] if "object_id" in v else v["id"])
    required(p, oid, "object id", "set group_id (or properties.objectId) for this call")
    id_limit(p, oid, "'object_id'")
    otype = object_type(p, v.get("object_type_id", MISSING), "true")
    return oid, object_identifiers_json(otype, oid)


def person_identify(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
    pid, email, anon = text(p, v["id"]), text(p, v["email"]), text(p, v["anonymous_id"])
    # The default person id falls back to traits.email: a person id equal to the email is an email.
    kind, value = person(p, pid, email, anon, id_from_email=f"{pid} = {email}")
    extras = {**_created_at(p, v, convert), "email": _to_json(email), "anonymous_id": _anon_attribute(kind, anon)}
    # An extra over a same-named attribute is NULL when its identifier is (anonymous_id's also when it identifies the
    # person: the attribute then counts as held, an undercount only for a mapping that sends it twice).
    null_extras = {"email": f"({text_of(v['email'])}) IS NULL", "anonymous_id": f"({text_of(v['anonymous_id'])}) IS NULL"}
    attrs = attributes(p, v["custom_attributes"], convert, PERSON_RESERVED, extras, layer=2, null_extras=null_extras)
    gid = text(p, v["group_id"])
    otype = object_type(p, v["object_type_id"], f"{gid} IS NOT NULL")
    rel = p.col(json_text(v["relationship_attributes"], convert))
    rels = p.col(f"CASE WHEN {gid} IS NOT NULL THEN '[{{\"identifiers\":' || {object_identifiers_json(otype, gid)}"
                 f" || coalesce(',\"relationship_attributes\":' || {rel}, '') || '}}]' END", 1)
    id_limit(p, gid, "'object_id'")
    p.const("type", "person")
    p.piece("identifiers", identifiers_json(kind, value))
    p.const("action", "identify")
    p.piece("timestamp", f"{timestamp(p, v['timestamp'])}::VARCHAR")
    p.piece("attributes", attrs)
    p.piece("cio_relationships", rels)


def object_identify(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
    oid, ident = _object_target(p, v)
    uid, anon = text(p, v["user_id"]), text(p, v["anonymous_id"])
    ukind = p.col(person_kind(uid), 1)
    uvalue = p.col(person_value(ukind, uid), 2)
    id_limit(p, uvalue, ukind)
    id_limit(p, anon, "'anonymous_id'")
    rel = p.col(json_text(v["relationship_attributes"], convert))
    target = p.col(f"CASE WHEN {uid} IS NOT NULL THEN {identifiers_json(ukind, uvalue)} "
                   f"WHEN {anon} IS NOT NULL THEN '{{\"anonymous_id\":' || {_to_json(anon)} || '}}' END", 3)
    extras = _created_at(p, v, convert)
    p.const("type", "object")
    p.piece("identifiers", ident)
    p.piece("action", f"CASE WHEN {uid} IS NULL AND {anon} IS NOT NULL THEN '\"identify_anonymous\"' ELSE '\"identify\"' END")
    p.piece("attributes", object_attributes(p, v["custom_attributes"], convert, extras))
    p.piece("cio_relationships", f"'[{{\"identifiers\":' || {target} || coalesce(',\"relationship_attributes\":' || {rel}, '') || '}}]'")


def _event_like(action: str, name_field: str, name_hint: str) -> Callable[[Plan, Values, bool, str], None]:
    def build(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
        pid, anon = text(p, v["id"]), text(p, v["anonymous_id"])
        kind, value = person(p, pid, None, anon)
        name = text(p, v[name_field])
        required(p, name, name_field, name_hint)
        p.reject(f"strlen({name}) > {limits.MAX_EVENT_NAME_BYTES}",
                 f"'{name_field} is ' || strlen({name}) || ' bytes (limit {limits.MAX_EVENT_NAME_BYTES}): shorten it'")
        message = text(p, v["event_id"])
        event_id = p.col(event_id_sql(message, sync_sql, "_key"), 1)
        data = attributes(p, v["data"], convert, (), {"anonymous_id": _anon_attribute(kind, anon)},
                          value_limit=None, what="event data key", layer=2)
        p.reject(f"strlen({data}) > {limits.MAX_EVENT_DATA_BYTES}",
                 f"'event data is ' || strlen({data}) || ' bytes (limit {limits.MAX_EVENT_DATA_BYTES:,}): "
                 f"send fewer or smaller properties'")
        p.const("type", "person")
        p.piece("identifiers", identifiers_json(kind, value))
        p.const("action", action)
        p.piece("name", _to_json(name))
        p.piece("id", _to_json(event_id))
        p.piece("timestamp", f"{timestamp(p, v['timestamp'])}::VARCHAR")
        p.piece("attributes", data)
    return build


def _person_only(action: str) -> Callable[[Plan, Values, bool, str], None]:
    def build(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
        pid = text(p, v["person_id"])
        email = text(p, v["email"]) if "email" in v else None
        anon = text(p, v["anonymous_id"]) if "anonymous_id" in v else None
        kind, value = person(p, pid, email, anon)
        p.const("type", "person")
        p.piece("identifiers", identifiers_json(kind, value))
        p.const("action", action)
    return build


def object_delete(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
    _, ident = _object_target(p, v)
    p.const("type", "object")
    p.piece("identifiers", ident)
    p.const("action", "delete")


def relationship_delete(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
    _, ident = _object_target(p, v)
    # The person of the relationship: identified, or anonymous (an identify_anonymous relationship).
    kind, value = person(p, text(p, v["person_id"]), None, text(p, v["anonymous_id"]))
    p.const("type", "object")
    p.piece("identifiers", ident)
    p.const("action", "delete_relationships")
    p.piece("cio_relationships", f"'[{{\"identifiers\":' || {identifiers_json(kind, value)} || '}}]'")


def device_add(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
    kind, value = person(p, text(p, v["person_id"]))
    token = text(p, v["device_id"])
    required(p, token, "device token", "set context.device.token")
    platform = p.col(f"lower({text_of(v['platform'])})")
    p.reject(f"{platform} IS NULL OR {platform} NOT IN ('ios', 'android')",
             f"'device platform must be ios or android, not ' || coalesce({platform}, 'empty') || "
             f"': set context.device.type'")
    version = text(p, v["app_version"])
    attrs = attributes(p, v["attributes"], convert, (), {"app_version": _to_json(version)}, what="device attribute")
    last_used = timestamp(p, v["last_used"], "device.last_used")
    device = p.col("'{' || concat_ws(',', '\"token\":' || " + _to_json(token) + ", '\"platform\":' || "
                   + _to_json(platform) + f", '\"last_used\":' || {last_used}::VARCHAR, '\"attributes\":' || {attrs}) || '}}'", 2)
    p.const("type", "person")
    p.piece("identifiers", identifiers_json(kind, value))
    p.const("action", "add_device")
    p.piece("device", device)


def device_delete(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
    kind, value = person(p, text(p, v["person_id"]))
    token = text(p, v["device_id"])
    required(p, token, "device token", "set context.device.token")
    p.const("type", "person")
    p.piece("identifiers", identifiers_json(kind, value))
    p.const("action", "delete_device")
    p.piece("device", "'{\"token\":' || " + _to_json(token) + " || '}'")


def merge(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
    p.const("type", "person")
    p.const("action", "merge")
    for role, hint in (("primary", "set user_id (the person who remains)"),
                       ("secondary", "set previous_id (the person merged in and deleted)")):
        pid = text(p, v[role])
        required(p, pid, role, hint)
        kind = p.col(person_kind(pid), 1)
        value = p.col(person_value(kind, pid), 2)
        id_limit(p, value, kind)
        p.piece(role, identifiers_json(kind, value))


def delivery_metric(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
    delivery, metric = text(p, v["delivery_id"]), text(p, v["metric"])
    required(p, delivery, "delivery_id", "set properties.deliveryId")
    p.reject(f"{metric} IS NULL OR {metric} NOT IN ({', '.join(map(quote_str, DELIVERY_METRICS))})",
             f"'metric must be one of {', '.join(DELIVERY_METRICS)}, not ' || coalesce({metric}, 'empty')")
    meta = p.col("nullif('{' || concat_ws(',', '\"action_name\":' || " + _to_json(text(p, v["action_name"]))
                 + ", '\"action_value\":' || " + _to_json(text(p, v["action_value"])) + ") || '}', '{}')", 1)
    p.piece("delivery_id", _to_json(delivery))
    p.piece("metric", _to_json(metric))
    p.piece("timestamp", f"{timestamp(p, v['timestamp'])}::VARCHAR")
    for name in ("recipient", "reason", "href"):
        p.piece(name, _to_json(text(p, v[name])))
    p.piece("metadata", meta)


def content_event(p: Plan, v: Values, convert: bool, sync_sql: str) -> None:
    kind, value = person(p, text(p, v["id"]), None, text(p, v["anonymous_id"]))
    action = text(p, v["actionType"])
    p.reject(f"{action} IS NULL OR {action} NOT IN ({', '.join(map(quote_str, CONTENT_ACTIONS))})",
             f"'actionType must be viewed_content or clicked_content, not ' || coalesce({action}, 'empty') || "
             f"': set properties.actionType'")
    data = attributes(p, v["data"], convert, ("actionType",), {}, value_limit=None, what="event data key")
    p.const("type", "person")
    p.piece("identifiers", identifiers_json(kind, value))
    p.piece("action", _to_json(action))
    p.piece("name", _to_json(action))
    p.piece("timestamp", f"{timestamp(p, v['timestamp'])}::VARCHAR")
    p.piece("attributes", data)


BUILDERS: dict[str, Callable[[Plan, Values, bool, str], None]] = {
    "createUpdatePerson": person_identify,
    "createUpdateObject": object_identify,
    "trackEvent": _event_like("event", "name", "set the event column or the sync's event"),
    "trackPageView": _event_like("page", "url", "set properties.url (a url column in the model)"),
    "trackScreenView": _event_like("screen", "name", "set the name column"),
    "deletePerson": _person_only("delete"),
    "suppressPerson": _person_only("suppress"),
    "unsuppressPerson": _person_only("unsuppress"),
    "deleteObject": object_delete,
    "deleteRelationship": relationship_delete,
    "createUpdateDevice": device_add,
    "deleteDevice": device_delete,
    "mergePeople": merge,
    "reportDeliveryEvent": delivery_metric,
    "reportContentEvent": content_event,
}
