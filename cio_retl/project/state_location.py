"""`state:` — where a project keeps its syncs' state: a local folder, or an object-storage URL (s3://, gs://, az://)."""

from __future__ import annotations

from pathlib import Path

REMOTE_SCHEMES = ("s3", "gs", "az")


def is_remote(location: str | Path) -> bool:
    """Is this `state:` an object-storage URL (rather than a folder)?"""
    return isinstance(location, str) and location.split("://", 1)[0] in REMOTE_SCHEMES and "://" in location


def url_problem(url: str) -> str | None:
    """What is wrong with a `state:` URL, or None (a folder, or a well-formed s3://, gs://, az:// URL)."""
    if "://" not in url:
        return None
    scheme, rest = url.split("://", 1)
    if scheme not in REMOTE_SCHEMES:
        return (f"'{scheme}://' is not supported: use a folder, or s3://bucket/prefix, gs://bucket/prefix, "
                "az://container/prefix")
    if not rest.split("/", 1)[0]:
        return f"{url} names no bucket: write {scheme}://bucket/prefix"
    return None
