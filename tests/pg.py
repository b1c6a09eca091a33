"""A throwaway PostgreSQL server for the database-source tests: a temporary cluster made with
Debian's `initdb` and `pg_ctl` (package `postgresql`, installed by `make test` when root),
listening on 127.0.0.1 only, password (scram) authentication for TCP, every statement in its
log (`log_statement = all`): the tests read there the query the server really ran.

PostgreSQL refuses to run as root: as root the cluster is owned and run by the `postgres`
user (`runuser`). `server()` returns None with the reason when no server can be started.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "vsm_admin"
PASSWORD = "s3cret-Pg-pw-7731"  # the tests grep every output and file for it


@dataclass
class PgServer:
    port: int
    data: Path
    log: Path
    bin: Path
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def uri(self, password: str = PASSWORD) -> str:
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/postgres"

    def execute(self, *statements: str) -> list:
        """Run statements as the superuser (autocommit); the last one's rows."""
        import adbc_driver_postgresql.dbapi as pg

        with pg.connect(self.uri(), autocommit=True) as con:
            with con.cursor() as cur:
                rows: list = []
                for sql in statements:
                    cur.execute(sql)
                    try:
                        rows = cur.fetchall()
                    except Exception:  # noqa: BLE001 - a statement without rows
                        rows = []
                return rows

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    ctl = shutil.which("pg_ctl")
    return Path(ctl).resolve().parent if ctl else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server(root: Path) -> tuple[PgServer | None, str]:
    """Start a cluster under `root` (a fresh directory): (server, '') or (None, why not)."""
    bindir = pg_bin()
    if bindir is None:
        return (
            None,
            "PostgreSQL is not installed (Debian package postgresql; `make test` installs it as root)",
        )
    run_as: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            return None, "running as root without runuser: PostgreSQL refuses to run as root"
        run_as = ["runuser", "-u", "postgres", "--"]
    root.mkdir(parents=True, exist_ok=True)
    data, log, pwfile = root / "data", root / "server.log", root / "pw"
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    if run_as:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
        os.chmod(root, 0o700)
    init = subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}",
         "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    pwfile.unlink()
    if init.returncode:
        return None, f"initdb failed: {init.stderr.strip().splitlines()[-1:]}"
    port = _free_port()
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c log_statement=all "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    start = subprocess.run(
        [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if start.returncode:
        return None, f"pg_ctl start failed: {start.stderr.strip() or start.stdout.strip()}"
    pg = PgServer(port, data, log, bindir, run_as)
    for _ in range(50):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return pg, ""
        except OSError:
            time.sleep(0.1)
    pg.stop()
    return None, "the server did not listen"


if __name__ == "__main__":  # a quick manual check
    pg, why = server(Path(tempfile.mkdtemp()))
    print(pg, why)
    if pg:
        print(pg.execute("SELECT 1 AS one"))
        pg.stop()
