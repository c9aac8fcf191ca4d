"""A private PostgreSQL cluster that a test may restart: initdb into a temporary directory,
on a free port of its own, so that restarting it disturbs nobody else."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import LocalServer


def find_bindir() -> Path | None:
    """The newest PostgreSQL's ``bin`` directory with ``initdb`` and ``pg_ctl``, if any."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for path in [*reversed(candidates), *filter(None, [shutil.which("pg_ctl")])]:
        bindir = Path(path) if Path(path).is_dir() else Path(path).parent
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def cannot_run_reason() -> str | None:
    """Why a private cluster cannot be started here, or None when it can."""
    if find_bindir() is None:
        return "PostgreSQL's initdb and pg_ctl are not installed (/usr/lib/postgresql/*/bin)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres user to run initdb as"
    return None


class PostgresServer(LocalServer):
    """A cluster in a temporary directory, run by ``pg_ctl``.

    PostgreSQL refuses to run as root: as root, the cluster belongs to the ``postgres`` user,
    in a directory made for it.
    """

    def __init__(self) -> None:
        super().__init__()
        bindir = find_bindir()
        assert bindir is not None, cannot_run_reason()
        self.bindir = bindir
        self.directory = Path(tempfile.mkdtemp(prefix="chaos-postgres-"))
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def _pg_ctl(self, action: str, *args: str) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log_path),
            "-w", "-t", "60", "-o", options, *args,
        )  # fmt: skip

    def start(self) -> None:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--no-sync")  # fmt: skip
        self._pg_ctl("start")

    def restart(self, mode: str = "fast") -> None:
        """Restart the cluster; ``immediate`` is a crash and recovery, ``fast`` a clean stop."""
        self._pg_ctl("restart", "-m", mode)

    def halt(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-w", "-m", mode)

    def ensure_running(self) -> None:
        result = subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            timeout=30,
        )
        if result.returncode != 0:
            self.start()

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create a database, a copy of ``template`` if given; return its URL."""
        args = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        if template is not None:
            args += ["-T", template]
        self._run("createdb", *args, name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, even with connections left in it; say nothing if it is gone."""
        args = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        with contextlib.suppress(RuntimeError):
            self._run("dropdb", *args, "--force", "--if-exists", name)

    def stop(self) -> None:
        if self.data.exists():
            with contextlib.suppress(RuntimeError):  # it is not running
                self.halt("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def copy_log(self, to: Path) -> None:
        """Copy the cluster's log (which the postgres user writes) to where the test's are."""
        with contextlib.suppress(OSError):
            shutil.copyfile(self.log_path, to)
