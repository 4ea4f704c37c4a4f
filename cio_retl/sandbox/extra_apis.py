"""The sandbox's manual segments (add_customers / remove_customers) and its Data Pipelines API (/v1/batch…)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import pyarrow as pa

from cio_retl.sandbox.journeys import operations_for
from cio_retl.sandbox.store import Store

SEGMENT_PATH = re.compile(r"^/api/v1/segments/(\d+)/(add|remove)_customers$")
PIPELINES_PATHS = {"/v1/batch", "/v1/identify", "/v1/track", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias"}
MAX_SEGMENT_IDS = 1_000
ID_TYPES = {"id": "id", "email": "email", "cio_id": "cio_id"}
# Data Pipelines' limits; over them Customer.io answers 200 and drops the data (X-Strict-Mode: 1 gives a 400).
MAX_PIPELINES_CALL_BYTES = 32 * 1024
MAX_PIPELINES_BATCH_BYTES = 500 * 1024


def _error(status: int, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"errors": [{"reason": "invalid", "message": message}]}).encode()


class Segments:
    """Manual segment membership: by default every segment id is a manual segment that exists.

    `manual` (ids) limits which exist; `data_driven` (ids) exist but refuse API changes, as Customer.io's do.
    """

    def __init__(self, store: Store, *, manual: set[int] | None = None, data_driven: set[int] | None = None) -> None:
        self.store, self.manual, self.data_driven = store, manual, data_driven or set()

    def handle(self, segment_id: int, verb: str, query: dict[str, str], body: bytes) -> tuple[tuple[int, bytes], int]:
        """((status, body), items) for one add_customers / remove_customers request."""
        if segment_id in self.data_driven:
            return _error(400, f"segment {segment_id} is data-driven: you cannot {verb} people through the API"), 0
        if self.manual is not None and segment_id not in self.manual:
            return _error(404, f"segment {segment_id} not found"), 0
        try:
            ids = json.loads(body).get("ids")
        except (ValueError, UnicodeDecodeError, AttributeError):
            ids = None
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_SEGMENT_IDS or not all(isinstance(i, str) for i in ids):
            return _error(400, "body must be {\"ids\": [1 to 1000 strings]}"), 0
        id_type = query.get("id_type", "id") if verb == "add" else "id"  # remove_customers matches ids only
        if id_type not in ID_TYPES:
            return _error(400, f"id_type must be id, email or cio_id, not {id_type}"), len(ids)
        self._change(segment_id, verb, id_type, ids)
        return (200, b"{}"), len(ids)

    def _change(self, segment_id: int, verb: str, id_type: str, ids: list[str]) -> None:
        column = "lower(email)" if id_type == "email" else id_type
        values = [i.lower() for i in ids] if id_type == "email" else ids
        with self.store.lock:
            con = self.store.con
            con.register("segment_ids", pa.table({"value": pa.array(values, pa.string())}))
            # People must exist before they are added; ids that match nobody are ignored (Customer.io does too).
            people = f"SELECT cio_id FROM people WHERE {column} IN (SELECT value FROM segment_ids)"
            if verb == "add":
                con.execute(f"INSERT INTO segment_members SELECT {segment_id}, cio_id FROM ({people}) "
                            f"WHERE cio_id NOT IN (SELECT cio_id FROM segment_members WHERE segment_id = {segment_id})")
            else:
                con.execute(f"DELETE FROM segment_members WHERE segment_id = {segment_id} AND cio_id IN ({people})")
            con.unregister("segment_ids")


class Pipelines:
    """Data Pipelines: checks the write key, applies the default Journeys actions to the calls it receives."""

    def __init__(self, store: Store, *, write_key: str | None = None) -> None:
        self.store, self.write_key = store, write_key

    def authorized(self, header: str | None) -> bool:
        """Basic `write_key:` (or a Bearer `pk_…`/`sk_…` key); any key when the sandbox was given none."""
        if header and header.startswith("Bearer "):
            key = header[7:]
        elif header and header.startswith("Basic "):
            try:
                key = base64.b64decode(header[6:], validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                return False
        else:
            return False
        return bool(key) if self.write_key is None else key == self.write_key

    def handle(self, path: str, body: bytes, strict: bool) -> tuple[tuple[int, bytes], int, str | None]:
        """((status, body), calls, dropped): over a limit without strict mode, 200 and nothing applied."""
        if len(body) > (MAX_PIPELINES_BATCH_BYTES if path == "/v1/batch" else MAX_PIPELINES_CALL_BYTES):
            return self._over(strict, f"request is {len(body):,} bytes, over the limit"), 0, "dropped: request too large"
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return (_error(400, "invalid JSON") if strict else (200, b"{}")), 0, "dropped: invalid JSON"
        calls = parsed.get("batch") if path == "/v1/batch" and isinstance(parsed, dict) else [
            {**parsed, "type": path.rsplit("/", 1)[1]}] if isinstance(parsed, dict) else None
        if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
            return (_error(400, "body must be {\"batch\": [call, …]}") if strict else (200, b"{}")), 0, "dropped: no calls"
        sizes = [len(json.dumps(c, separators=(",", ":"), ensure_ascii=False).encode()) for c in calls]
        if max(sizes, default=0) > MAX_PIPELINES_CALL_BYTES:
            return self._over(strict, f"a call is {max(sizes):,} bytes, over 32 KB"), len(calls), "dropped: call too large"
        context = parsed.get("context") if path == "/v1/batch" and isinstance(parsed.get("context"), dict) else None
        self.store.apply(operations_for([_with_context(c, context) for c in calls]))
        return (200, b"{}"), len(calls), None

    @staticmethod
    def _over(strict: bool, message: str) -> tuple[int, bytes]:
        return _error(400, message) if strict else (200, b"{}")


def _with_context(call: dict[str, Any], context: dict[str, Any] | None) -> dict[str, Any]:
    """A batch's top-level context applies to every call in it (the call's own keys win)."""
    if not context:
        return call
    return {**call, "context": {**context, **(call.get("context") or {})}}
