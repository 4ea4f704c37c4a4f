"""Our own pydantic models of the Track API v2 operations we send (written from the API docs), for tests and checks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, model_validator

from cio_retl.actions.identifiers import OBJECT_TYPE_RE, OBJECT_TYPE_RULE
from cio_retl.validation_messages import describe, location

Id = Annotated[str, StringConstraints(min_length=1, max_length=150)]
Ulid = Annotated[str, StringConstraints(pattern=r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
Seconds = Annotated[int, Field(ge=-(2**40), le=2**40)]
Attributes = dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonIds(_Strict):
    """Exactly one person identifier (anonymous_id as the Journeys destination sends it)."""

    id: Id | None = None
    email: Id | None = None
    cio_id: Id | None = None
    anonymous_id: Id | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PersonIds:
        if len(self.model_dump(exclude_none=True)) != 1:
            raise ValueError("exactly one identifier is required")
        return self


class MergeIds(PersonIds):
    @model_validator(mode="after")
    def _no_anonymous(self) -> MergeIds:
        if self.anonymous_id is not None:
            raise ValueError("merge takes id, email or cio_id")
        return self


class ObjectIds(_Strict):
    object_type_id: Annotated[str, StringConstraints(pattern=OBJECT_TYPE_RE)]
    object_id: Id


class PersonRelationship(_Strict):
    identifiers: ObjectIds
    relationship_attributes: Attributes | None = None


class ObjectRelationship(_Strict):
    identifiers: PersonIds
    relationship_attributes: Attributes | None = None


class _Person(_Strict):
    type: Literal["person"]
    identifiers: PersonIds


class PersonIdentify(_Person):
    action: Literal["identify"]
    timestamp: Seconds | None = None
    attributes: Attributes | None = None
    cio_relationships: list[PersonRelationship] | None = None


class PersonSimple(_Person):
    action: Literal["delete", "suppress", "unsuppress"]


class PersonEvent(_Person):
    action: Literal["event", "page", "screen"]
    name: Annotated[str, StringConstraints(min_length=1)]
    id: Ulid | None = None
    timestamp: Seconds | None = None
    attributes: Attributes | None = None


class Device(_Strict):
    token: Annotated[str, StringConstraints(min_length=1)]
    platform: Literal["ios", "android"]
    last_used: Seconds | None = None
    attributes: Attributes | None = None


class DeviceToken(_Strict):
    token: Annotated[str, StringConstraints(min_length=1)]


class PersonAddDevice(_Person):
    action: Literal["add_device"]
    device: Device


class PersonDeleteDevice(_Person):
    action: Literal["delete_device"]
    device: DeviceToken


class PersonContent(_Person):
    """Report Content Event's operation (not in the public spec; shaped like the reference sends it)."""

    action: Literal["viewed_content", "clicked_content"]
    name: Literal["viewed_content", "clicked_content"]
    timestamp: Seconds | None = None
    attributes: Attributes | None = None


class PersonMerge(_Strict):
    type: Literal["person"]
    action: Literal["merge"]
    primary: MergeIds
    secondary: MergeIds


class ObjectIdentify(_Strict):
    type: Literal["object"]
    identifiers: ObjectIds
    action: Literal["identify", "identify_anonymous"]
    attributes: Attributes | None = None
    cio_relationships: list[ObjectRelationship] | None = None

    @model_validator(mode="after")
    def _anonymous_relationships(self) -> ObjectIdentify:
        anonymous = [r.identifiers.anonymous_id is not None for r in self.cio_relationships or []]
        if any(anonymous) != (self.action == "identify_anonymous"):
            raise ValueError("identify_anonymous relates anonymous people; identify relates identified people")
        return self


class ObjectDelete(_Strict):
    type: Literal["object"]
    identifiers: ObjectIds
    action: Literal["delete"]


class ObjectDeleteRelationships(_Strict):
    type: Literal["object"]
    identifiers: ObjectIds
    action: Literal["delete_relationships"]
    cio_relationships: Annotated[list[ObjectRelationship], Field(min_length=1)]


class DeliveryMetric(_Strict):
    """The v1 /api/v1/metrics body of Report Delivery Event."""

    delivery_id: Id
    metric: Literal["delivered", "opened", "clicked", "converted", "spammed", "bounced", "dropped", "deferred"]
    timestamp: Seconds | None = None
    recipient: str | None = None
    reason: str | None = None
    href: str | None = None
    metadata: dict[str, str] | None = None


_BY_ACTION: dict[tuple[str, str], type[BaseModel]] = {
    ("person", "identify"): PersonIdentify, ("person", "delete"): PersonSimple, ("person", "suppress"): PersonSimple,
    ("person", "unsuppress"): PersonSimple, ("person", "event"): PersonEvent, ("person", "page"): PersonEvent,
    ("person", "screen"): PersonEvent, ("person", "add_device"): PersonAddDevice,
    ("person", "delete_device"): PersonDeleteDevice, ("person", "merge"): PersonMerge,
    ("person", "viewed_content"): PersonContent, ("person", "clicked_content"): PersonContent,
    ("object", "identify"): ObjectIdentify, ("object", "identify_anonymous"): ObjectIdentify,
    ("object", "delete"): ObjectDelete, ("object", "delete_relationships"): ObjectDeleteRelationships,
}


def validate_operation(body: dict[str, Any], endpoint: str = "batch") -> BaseModel:
    """Validate one operation body against our models; raises pydantic.ValidationError or ValueError."""
    if endpoint == "metrics":
        return DeliveryMetric.model_validate(body)
    model = _BY_ACTION.get((body.get("type"), body.get("action")))
    if model is None:
        raise ValueError(f"unknown operation type/action {body.get('type')!r}/{body.get('action')!r}")
    return model.model_validate(body)


def operations_adapter() -> TypeAdapter[Any]:
    """A TypeAdapter over every v2 operation model (for JSON-schema export in docs)."""
    return TypeAdapter(PersonIdentify | PersonSimple | PersonEvent | PersonAddDevice | PersonDeleteDevice
                       | PersonMerge | ObjectIdentify | ObjectDelete | ObjectDeleteRelationships)


PATTERN_RULES = {"object_type_id": OBJECT_TYPE_RULE, "id": "event ids are ULIDs: 26 characters of Crockford base 32"}


def operation_problems(body: dict[str, Any], endpoint: str = "batch") -> list[str]:
    """What keeps an operation from fitting the Track API, in our words (field, value, rule); [] when it fits."""
    try:
        validate_operation(body, endpoint)
    except ValidationError as exc:
        return [f"{location(e) or 'the operation'}: {describe(e, patterns=PATTERN_RULES)}"
                for e in exc.errors(include_url=False)]
    except ValueError as exc:
        return [str(exc)]
    return []
