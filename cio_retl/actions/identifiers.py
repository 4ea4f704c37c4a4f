"""Person and object identifiers as SQL: exactly one identifier per operation, ids always strings."""

from __future__ import annotations

from cio_retl.sqltext import quote_str

# ajv-formats' email pattern (notes §3.5), made case-insensitive for RE2.
EMAIL_RE = (r"(?i)^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
            r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
NO_IDENTIFIER = "no identifier: set user_id, email or anonymous_id"
OBJECT_TYPE_RE = r"^[1-9][0-9]*$"
OBJECT_TYPE_RULE = 'object type ids are whole numbers from 1, as strings ("1", "2")'
INVALID_EMAIL = "invalid_email"  # a kind that is never sent: the operation is rejected


def is_email(sql: str) -> str:
    """SQL: does this text look like an email address (the reference's email format)?"""
    return f"regexp_full_match({sql}, {quote_str(EMAIL_RE)})"


def person_kind(person_id: str | None, email: str | None = None, anonymous_id: str | None = None,
                id_from_email: str | None = None) -> str:
    """SQL naming which identifier a person gets: cio_id, email, id, email, anonymous_id (in that order) or NULL.

    Arguments are SQL texts that are already NULL when empty. An email that is not an email address gives
    INVALID_EMAIL (a rejection), never an `id`: from the email field, or a person id `id_from_email` says
    came from the email (SQL condition).
    """
    arms = []
    if person_id:
        arms += [f"WHEN starts_with({person_id}, 'cio_') AND length({person_id}) > 4 THEN 'cio_id'",
                 f"WHEN {is_email(person_id)} THEN 'email'"]
        if id_from_email:
            arms.append(f"WHEN {id_from_email} THEN '{INVALID_EMAIL}'")
        arms.append(f"WHEN {person_id} IS NOT NULL THEN 'id'")
    if email:
        arms += [f"WHEN {is_email(email)} THEN 'email'", f"WHEN {email} IS NOT NULL THEN '{INVALID_EMAIL}'"]
    if anonymous_id:
        arms.append(f"WHEN {anonymous_id} IS NOT NULL THEN 'anonymous_id'")
    return f"CASE {' '.join(arms)} END" if arms else "NULL::VARCHAR"


def person_value(kind_col: str, person_id: str | None, email: str | None = None, anonymous_id: str | None = None) -> str:
    """SQL of the identifier's value for the kind chosen by `person_kind` (held in column `kind_col`)."""
    pid = person_id or "NULL"
    by_email = f"coalesce({pid}, {email})" if email else pid
    # An email (valid or not) came from the person id when there is one, else from the email field.
    return (f"CASE {kind_col} WHEN 'cio_id' THEN substr({pid}, 5) "
            f"WHEN 'email' THEN {by_email} WHEN '{INVALID_EMAIL}' THEN {by_email} "
            f"WHEN 'id' THEN {pid} WHEN 'anonymous_id' THEN {anonymous_id or 'NULL'} END")


def identifiers_json(kind_col: str, value_col: str) -> str:
    """SQL of the `identifiers` object, e.g. {"id":"42"}; NULL when there is no identifier."""
    return "'{\"' || " + kind_col + " || '\":' || to_json(" + value_col + ")::VARCHAR || '}'"


def object_identifiers_json(type_id_col: str, object_id_col: str) -> str:
    """SQL of object identifiers {"object_type_id": "1", "object_id": "…"}; NULL without an object id."""
    return ("'{\"object_type_id\":' || to_json(" + type_id_col + ")::VARCHAR || ',\"object_id\":' || to_json("
            + object_id_col + ")::VARCHAR || '}'")
