"""docs/DEPLOY.md followed from its own blocks, as an operator pastes them, on this machine.

A temporary tree stands in for ``/``: every path the guide names (``/srv/shop``,
``/etc/shop``, ``/etc/nginx``...) moves into it, and the test's own user stands in for the
system user ``shop``. The lines that would change the machine itself are not run, each named
below with what the test does in its place; everything else runs as written: a virtualenv
with ``pip install '/srv/shop/app[site]'``, the environment file installed by the guide's
``install`` commands and edited, ``check --deploy``, ``migrate``, ``collectstatic``, the first
user, ``/run/shop/metrics`` made by ``systemd-tmpfiles``, a server started from the systemd
unit's ``ExecStart=``, an operator command counted in the servers' figures, ``nginx -t``,
Prometheus's scrape configuration, and the HSTS trial settings.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from django.contrib.auth import get_user_model
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import LocalServer, free_port, started, wait_until
from tests.deployment import (
    NGINX,
    environment,
    nginx_main,
    nginx_site,
    replaced,
    unit_command,
    with_values,
)
from tests.e2e.conftest import ROOT, database_url, subprocess_env
from tests.recipes import recipe
from tests.test_embedding import IGNORED, clean_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

# The paths the guide names, and the directories a Debian machine already has under them.
PATHS = ("/srv/shop", "/etc/shop", "/etc/tmpfiles.d", "/etc/systemd/system", "/etc/nginx")
SKELETON = ("etc/tmpfiles.d", "etc/systemd/system", "etc/nginx/sites-available",
            "etc/nginx/sites-enabled", "run", "srv")  # fmt: skip
# The lines that change the machine itself, and what the test does instead.
NOT_RUN = {
    # The user: the tree's /etc/passwd names the test's own user "shop" (systemd-tmpfiles
    # reads it there), and the home directory adduser makes is made.
    "adduser --system --group --home /srv/shop shop": "mkdir /srv/shop",
    # The code: a copy of this working tree, as a clone of it would be.
    "git clone ... /srv/shop/app": "cp -a {checkout} /srv/shop/app",
    "apt-get install nginx": "# installed already",
    "systemctl daemon-reload": "# no systemd to tell",
    "systemctl enable --now notifications@8001 notifications@8002    # one per core": (
        "# the test starts the unit's ExecStart= itself"
    ),
    "systemctl reload nginx": "# checking the configuration is as far as this goes",
}
ADMIN_PASSWORD = "deploy-guide-admin-1843"


class Machine:
    """The temporary tree, and the guide's blocks run in it by bash, as root runs them."""

    def __init__(self, root: Path, checkout: Path, isolation: dict[str, str]) -> None:
        self.root = root
        for directory in SKELETON:
            (root / directory).mkdir(parents=True)
        user, group = pwd.getpwuid(os.getuid()), grp.getgrgid(os.getgid())
        (root / "etc" / "passwd").write_text(
            f"shop:x:{user.pw_uid}:{group.gr_gid}::/srv/shop:/usr/sbin/nologin\n"
        )
        (root / "etc" / "group").write_text(f"shop:x:{group.gr_gid}:\n")
        self.group = group.gr_name
        self.checkout = checkout
        self.env = clean_env(**isolation)

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def script(self, code: str, replacements: dict[str, str] | None = None) -> str:
        """Return a block's ``code`` with the lines above replaced and its paths moved."""
        name = "a block of docs/DEPLOY.md"
        not_run = {line: new.format(checkout=self.checkout) for line, new in NOT_RUN.items()}
        code = replaced(code, replacements or {}, name)
        code = replaced(code, {k: v for k, v in not_run.items() if k in code}, name)
        for path in PATHS:
            code = code.replace(path, str(self.path(path)))
        return code

    def run(self, code: str, *, stdin: str = "") -> str:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", code],
            cwd=self.root,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{code}\nfailed:\n{output}"
        return output

    def run_block(
        self, code: str, replacements: dict[str, str] | None = None, *,
        edit: Callable[[], None] | None = None, stdin: str = "",
    ) -> str:  # fmt: skip
        """Run a block's ``code``; ``edit`` does the editing its ``# then edit`` line asks
        for, after that line and before the rest."""
        code = self.script(code, replacements)
        before, marker, after = code.partition("# then edit")
        if not marker:
            assert edit is None, f"{code}\nasks for no editing any more"
            return self.run(code, stdin=stdin)
        assert edit is not None, f"{code}\nasks for an edit this test does not make"
        first_part, _, rest = after.partition("\n")
        output = self.run(before + marker + first_part, stdin=stdin)
        edit()
        return output + self.run(rest, stdin=stdin)

    def operator_command(self, *args: str) -> str:
        """Run ``manage.py`` as the guide says operator commands run: as its release does."""
        preamble = self.script(recipe("deploy-release")).splitlines()[:2]
        assert preamble[1].startswith("set -a; ."), preamble
        python = self.path("/srv/shop/venv/bin/python")
        return self.run("\n".join([*preamble, f"{python} manage.py {' '.join(args)}"]))

    @property
    def env_file(self) -> Path:
        return self.path("/etc/shop/env")

    def edit_environment(self, values: dict[str, str]) -> None:
        text = self.env_file.read_text()
        self.env_file.write_text(with_values(text, values, str(self.env_file)))


class UnitServer(LocalServer):
    """The process the guide's systemd unit starts for an instance: its ``ExecStart=`` in its
    ``WorkingDirectory=``, with its ``EnvironmentFile=``, as installed in the tree."""

    def __init__(self, machine: Machine, log: Path) -> None:
        super().__init__()
        unit = machine.path("/etc/systemd/system/notifications@.service").read_text()
        for path in PATHS:
            unit = unit.replace(f"={path}", f"={machine.path(path)}")
        self.command, self.directory, env_file = unit_command(unit, str(self.port))
        self.env = {**machine.env, **environment(env_file.read_text())}
        self.log_path = log

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.directory, env=self.env, stdout=log, stderr=log
            )
        try:
            wait_until(self.listening, process=self.process, seconds=60)
        except RuntimeError as e:
            raise RuntimeError(self.log_path.read_text(errors="replace")) from e

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def machine(tmp_path: Path, django_db_setup: None) -> Machine:
    for tool in ("systemd-tmpfiles", "bash"):
        assert shutil.which(tool), f"{tool} is part of Debian's base system"
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=IGNORED)
    isolation = {k: v for k, v in subprocess_env().items() if k.endswith("_PREFIX")}
    return Machine(tmp_path / "root", checkout, isolation)


@pytest.fixture
def start_unit(machine: Machine, tmp_path: Path) -> Iterator[Callable[[], UnitServer]]:
    logs = iter(range(100))
    with started(lambda: UnitServer(machine, tmp_path / f"unit-{next(logs)}.log")) as start:
        yield start


def install(machine: Machine, redis_url: str, metrics_token: str) -> None:
    """Section 1's install block, with the environment file edited for this machine."""

    def edit() -> None:
        machine.edit_environment(
            {
                "DATABASE_URL": database_url(),
                "REDIS_URL": redis_url,
                "SECRET_KEY": secrets.token_urlsafe(50),
                "METRICS_TOKEN": metrics_token,
                "STATIC_ROOT": str(machine.path("/srv/shop/staticfiles")),
                "PROMETHEUS_MULTIPROC_DIR": str(machine.path("/run/shop/metrics")),
            }
        )

    machine.run_block(
        recipe("deploy-install"),
        {
            "-g shop ": f"-g {machine.group} ",
            "systemd-tmpfiles --create": f"systemd-tmpfiles --create --root={machine.root}",
        },
        edit=edit,
    )
    # What the install leaves, as a user would look at it.
    assert stat.S_IMODE(machine.path("/etc/shop").stat().st_mode) == 0o750
    assert stat.S_IMODE(machine.env_file.stat().st_mode) == 0o640
    assert machine.path("/run/shop/metrics").is_dir()


def scrape(machine: Machine, server: UnitServer) -> dict[str, float]:
    """Scrape ``server`` as the guide's Prometheus configuration says; return the samples."""
    [job] = yaml.safe_load(machine.script(recipe("deploy-prometheus")))["scrape_configs"]
    [static] = job["static_configs"]
    assert static["targets"] == ["127.0.0.1:8001"], "update the test with the new target"
    token = environment(machine.env_file.read_text())["METRICS_TOKEN"]
    credentials = replaced(
        job["authorization"]["credentials"], {"<METRICS_TOKEN>": token}, "deploy-prometheus"
    )
    scheme, path = job.get("scheme", "http"), job.get("metrics_path", "/metrics")
    response = httpx.get(
        f"{scheme}://127.0.0.1:{server.port}{path}",
        headers={"Authorization": f"{job['authorization'].get('type', 'Bearer')} {credentials}"},
    )
    assert response.status_code == 200, response.text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def check_nginx(machine: Machine, directory: Path, *, upstream: int) -> None:
    """Section 3's block, its site edited for this machine, up to ``nginx -t``."""
    directory.mkdir()  # nginx's prefix, logs and certificate
    site = machine.path("/etc/nginx/sites-available/shop.conf")

    def edit_names() -> None:
        site.write_text(
            nginx_site(
                site.read_text(),
                directory=directory,
                https_port=free_port(),
                http_port=free_port(),
                upstreams=[upstream, upstream],
                static_root=machine.path("/srv/shop/staticfiles"),
            )
        )

    main = nginx_main(directory, str(machine.path("/etc/nginx/sites-enabled/*")))
    checked = machine.run_block(
        recipe("deploy-nginx"),
        {"nginx -t": f"{NGINX} -t -p {directory} -c {main}"},
        edit=edit_names,
    )
    assert "test is successful" in checked


def test_the_deployment_guide_runs_as_written(
    machine: Machine, start_unit: Callable[[], UnitServer], redis_url: str, tmp_path: Path
) -> None:
    install(machine, redis_url, metrics_token=secrets.token_urlsafe(32))

    release = machine.run_block(recipe("deploy-release"))
    assert "System check identified no issues (0 silenced)." in release
    assert machine.path("/srv/shop/staticfiles/notifications/client.js").is_file()

    machine.run_block(recipe("deploy-first-user"), stdin=f"{ADMIN_PASSWORD}\n")
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(ADMIN_PASSWORD)

    machine.run_block(recipe("deploy-systemd"))
    server = start_unit()
    # As nginx forwards a request: the public name, https.
    public = {"Host": "shop.example.com", "X-Forwarded-Proto": "https"}
    login = httpx.post(
        f"{server.url}/api/token/",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        headers=public,
    )
    assert login.status_code == 200, login.text
    health = httpx.get(f"{server.url}/healthz", headers={"Host": "127.0.0.1"})
    assert health.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}

    # An operator command run with the servers' environment is counted in their figures.
    assert scrape(machine, server)["notifications_stored_total"] == 0
    machine.operator_command("send_notification", "--user", "admin", "--title", "Deployed")
    assert scrape(machine, server)["notifications_stored_total"] == 1

    check_nginx(machine, tmp_path / "nginx", upstream=server.port)

    # Trying https out: the header promises five minutes, for this host alone, and the check
    # names the two settings still off.
    machine.edit_environment(environment(machine.script(recipe("deploy-hsts-trial"))))
    trial = machine.operator_command("check", "--deploy")
    assert set(re.findall(r"\((security\.\w+)\)", trial)) == {"security.W005", "security.W021"}
    server.stop()
    server = start_unit()
    answer = httpx.get(f"{server.url}/healthz", headers={**public, "Host": "127.0.0.1"})
    assert answer.headers["strict-transport-security"] == "max-age=300"


def test_each_line_not_run_is_still_in_the_guide() -> None:
    guide = (ROOT / "docs" / "DEPLOY.md").read_text()
    assert [line for line in NOT_RUN if line not in guide] == []
