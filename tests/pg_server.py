"""A throwaway PostgreSQL server from the installed binaries (no systemd), for tests and benchmarks."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: [int(x) for x in p.split("/")[4].split(".")])
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server tools as the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


PASSWORD_ROLE = "password_checked"  # the one role whose password the server checks (tests of bad credentials)


def _check_passwords_of(role: str, hba: Path) -> None:
    """Trust everyone (tests need no secrets) except `role`, which must log in with its password."""
    rule = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
    hba.write_text(rule + hba.read_text())  # first matching line wins


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a private cluster on a free loopback port; yield a SQLAlchemy URL (trust auth, user postgres)."""
    binaries = postgres_bin()
    if binaries is None:
        raise FileNotFoundError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin "
                                "(Debian: apt-get install postgresql; `make test` does it as root)")
    folder = Path(tempfile.mkdtemp(prefix="cio_retl_pg_"))
    (folder / "sock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        shutil.chown(folder / "sock", "postgres", "postgres")
    port = _free_port()
    data, log = folder / "data", folder / "server.log"
    subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                 "-E", "UTF8", "--locale=C.UTF-8"]), check=True, capture_output=True)
    _check_passwords_of(PASSWORD_ROLE, data / "pg_hba.conf")
    options = f"-p {port} -k {folder / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options,
                                 "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
