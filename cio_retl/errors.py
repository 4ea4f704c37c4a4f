"""The exception tree of cio-retl; foreign errors are translated into these once, at the boundary.

    CioRetlError                      every error we raise; `.hint` says what to do
    ├── ConfigError                   the project file or the environment is wrong (exit code 2)
    ├── SyncError                     one sync failed; names the sync (exit code 1)
    │   ├── WarehouseError            connecting to or querying a warehouse failed
    │   ├── ModelContractError        the model lacks columns the call type needs
    │   ├── MassDeleteError           a mirror run would delete too much of the snapshot
    │   ├── MassClearError            a run would set one attribute to null for too many people/objects
    │   ├── SyncLockedError           another run of the same sync holds the lock (or lease)
    │   ├── StateError                the object-storage state cannot be read or written; a lost lease
    │   └── DestinationError          Customer.io refused the run as a whole
    │       ├── DestinationAuthError  401/403: wrong key type, site id or region
    │       └── DeliveryIncompleteError  operations still pending after the run's retries
    └── ActionError                   an action's trigger or mapping cannot be parsed or applied

    SyncInterrupted (a KeyboardInterrupt)  Ctrl-C, SIGTERM or a terminated Dagster run stopped a sync after it
                                      settled what Customer.io answered (exit code 130)

Per-row problems (null keys, rejected operations) are data, not exceptions: they are recorded in the
state store and reported, and the rest of the sync goes on.
"""

from __future__ import annotations


class CioRetlError(Exception):
    """Base of every error we raise: a message plus a hint of what to do about it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  → {hint}")


class ConfigError(CioRetlError):
    """The project file or the environment is wrong; `problems` lists every one found."""

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None) -> None:
        self.problems = problems or []
        full = message if not self.problems else message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(full, hint=hint)


class ActionError(CioRetlError):
    """An action's trigger or mapping cannot be parsed or applied."""


class SyncError(CioRetlError):
    """One sync failed as a whole; the message names the sync."""

    def __init__(self, sync: str, message: str, *, hint: str | None = None) -> None:
        self.sync = sync
        super().__init__(f"sync '{sync}': {message}", hint=hint)


class WarehouseError(SyncError):
    """Connecting to or querying a warehouse failed (translated from the driver's error)."""

    def __init__(self, sync: str, warehouse: str, message: str, *, hint: str | None = None) -> None:
        self.warehouse = warehouse
        self.detail = message
        super().__init__(sync, f"warehouse '{warehouse}': {message}", hint=hint)

    def in_model(self, model: str) -> WarehouseError:
        """The same error, naming the model file it came from."""
        return WarehouseError(self.sync, self.warehouse, f"{self.detail} (model {model})", hint=self.hint)


class ModelContractError(SyncError):
    """The model's columns do not fit the sync's call type."""


class MassDeleteError(SyncError):
    """A mirror run would remove more of the snapshot than `max_delete_fraction` allows."""


class MassClearError(SyncError):
    """A run would set one attribute to null for more of its rows than `max_clear_fraction` allows."""


class SyncLockedError(SyncError):
    """Another run of the same sync holds the lock."""


class StateError(SyncError):
    """The state on object storage cannot be read or written, or this run lost its lease on it."""


class DestinationError(SyncError):
    """Customer.io refused the run as a whole (not a per-row rejection)."""


class DestinationAuthError(DestinationError):
    """Customer.io answered 401/403: wrong Site ID / Track API key pair, or the wrong region."""


class DeliveryIncompleteError(DestinationError):
    """Operations are still pending after the run's own retries (host unreachable, 429s, 5xx): the run failed,
    what was accepted is committed, and the next run sends the rest."""


class SyncInterrupted(KeyboardInterrupt):
    """A sync stopped by Ctrl-C, SIGTERM or a terminated Dagster run, after settling what Customer.io answered.

    Not an error: nothing is lost and the next run finishes the work. Carries the sync's `.report` (status
    `interrupted`) and, from `run_syncs`, `.reports` of every sync that ran.
    """

    def __init__(self, sync: str, signal_name: str, report: object = None) -> None:
        self.sync, self.signal_name, self.report = sync, signal_name, report
        self.reports: list[object] = [report] if report is not None else []
        super().__init__(f"sync '{sync}': interrupted by {signal_name}")
