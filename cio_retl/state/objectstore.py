"""Object storage through obstore: a bucket/prefix from an s3://, gs:// or az:// URL, with conditional writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cio_retl.errors import StateError

CREDENTIALS_HINT = ("check that the bucket exists and that this process's credentials allow get, put, list and delete "
                    "on it: S3 reads AWS_* (AWS_ENDPOINT_URL, AWS_REGION, keys, or the instance/pod role), GCS "
                    "GOOGLE_APPLICATION_CREDENTIALS or the workload identity, Azure AZURE_STORAGE_* or the managed "
                    "identity")
# Each call gives up after this long: a lease must be able to tell "the store is unreachable" before it expires.
RETRY = {"max_retries": 4, "retry_timeout": timedelta(seconds=20)}


@dataclass(frozen=True)
class Version:
    """What a conditional write must match: the object's ETag (S3, Azure) or generation (GCS)."""

    e_tag: str | None
    version: str | None

    def mode(self) -> dict[str, str]:
        return {key: value for key, value in (("e_tag", self.e_tag), ("version", self.version)) if value}


class Bucket:
    """One sync's (or the project's) prefix in a bucket; errors become StateErrors naming the sync."""

    def __init__(self, url: str, sync: str) -> None:
        from obstore.store import from_url

        self.url, self.sync = url.rstrip("/"), sync
        try:
            # Credentials and endpoints come from the environment (obstore reads AWS_*, GOOGLE_*, AZURE_*).
            self.store = from_url(self.url, retry_config=RETRY,
                                  client_options={"allow_http": True} if _local_http(self.url) else None)
        except Exception as exc:  # obstore raises its own classes for a bad URL or configuration
            raise self._error("cannot open", exc) from exc

    def read(self, path: str) -> tuple[bytes, Version] | None:
        """The object's bytes and version, or None when it does not exist."""
        import obstore

        try:
            result = obstore.get(self.store, path)
            data = bytes(result.bytes())
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._error(f"cannot read {path} in", exc) from exc
        return data, Version(result.meta.get("e_tag"), result.meta.get("version"))

    def create(self, path: str, data: bytes) -> Version | None:
        """Write the object only if it does not exist (If-None-Match: *); None when it already did."""
        return self._conditional(path, data, "create")

    def replace(self, path: str, data: bytes, expected: Version) -> Version | None:
        """Overwrite the object only if it is still at `expected`; None when someone else wrote it since."""
        return self._conditional(path, data, expected.mode())

    def _conditional(self, path: str, data: bytes, mode: Any) -> Version | None:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        try:
            result = obstore.put(self.store, path, data, mode=mode)
        except (AlreadyExistsError, PreconditionError):
            return None
        except FileNotFoundError as exc:  # a conditional update of an object deleted meanwhile
            if mode == "create":
                raise self._error(f"cannot write {path} in", exc) from exc
            return None
        except Exception as exc:
            raise self._error(f"cannot write {path} in", exc) from exc
        return Version(result.get("e_tag"), result.get("version"))

    def upload(self, path: str, source: Path | bytes) -> int:
        """Write an object (a local file is streamed, in parts when large); return its size in bytes."""
        import obstore

        try:
            obstore.put(self.store, path, source)
        except Exception as exc:
            raise self._error(f"cannot write {path} in", exc) from exc
        return source.stat().st_size if isinstance(source, Path) else len(source)

    def download(self, path: str, target: Path) -> int:
        """Stream an object into a local file; return its size in bytes."""
        import obstore

        size = 0
        try:
            with open(target, "wb") as out:
                for chunk in obstore.get(self.store, path).stream(min_chunk_size=8 << 20):
                    out.write(chunk)
                    size += len(chunk)
        except Exception as exc:
            raise self._error(f"cannot read {path} in", exc) from exc
        return size

    def list(self, prefix: str) -> list[str]:
        """Paths (relative to the bucket prefix) of the objects under `prefix`."""
        import obstore

        try:
            return [meta["path"] for batch in obstore.list(self.store, prefix=prefix) for meta in batch]
        except Exception as exc:
            raise self._error(f"cannot list {prefix} in", exc) from exc

    def delete(self, paths: list[str]) -> None:
        """Delete objects (missing ones are fine)."""
        import obstore

        if paths:
            try:
                obstore.delete(self.store, paths)
            except FileNotFoundError:
                pass
            except Exception as exc:
                raise self._error("cannot delete objects in", exc) from exc

    def _error(self, what: str, exc: BaseException) -> StateError:
        text = str(exc).strip()
        first_line = (text.splitlines() or [type(exc).__name__])[0].split(": <?xml")[0][:300]
        if "NoSuchBucket" in text or "NoSuchContainer" in text or "bucket does not exist" in text.lower():
            first_line = f"the bucket does not exist ({first_line})"
        return StateError(self.sync, f"state {what} {self.url}: {first_line}", hint=CREDENTIALS_HINT)


def _local_http(url: str) -> bool:
    """Plain HTTP is allowed when the environment points the client at an http:// endpoint (a test server, MinIO)."""
    import os

    endpoint = {"s3": "AWS_ENDPOINT_URL", "gs": "GOOGLE_BASE_URL", "az": "AZURE_STORAGE_ENDPOINT"}[url.split("://")[0]]
    return os.environ.get(endpoint, "").startswith("http://")
