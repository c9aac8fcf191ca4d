"""The files of ``deploy/`` as the deployment tests read them: the environment file, the
systemd unit's command, nginx's configuration around the site, a self-signed certificate.

Only what cannot be the same in a test changes: paths, ports, names, secrets. Each such
value is replaced where the file has it, and a file that no longer has it fails the test,
so the files cannot drift away from what is tested.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import shlex
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def replaced(text: str, replacements: dict[str, str], source: str) -> str:
    """Apply each replacement, failing if ``text`` no longer holds what it replaces."""
    for old, new in replacements.items():
        assert old in text, f"{source} no longer has {old!r}: update this test with it"
        text = text.replace(old, new)
    return text


def environment(text: str) -> dict[str, str]:
    """Read an environment file as systemd's ``EnvironmentFile=`` and ``set -a; .`` both
    read this one: ``NAME=value`` lines, comments and blank lines."""
    return dict(
        line.split("=", 1)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


def with_values(text: str, values: dict[str, str], source: str) -> str:
    """Return the environment file ``text`` with new values for some of its variables, as an
    operator edits it; fail if it does not set one of them."""
    known = environment(text)
    for name, value in values.items():
        assert name in known, f"{source} no longer sets {name}"
        text = re.sub(rf"^{re.escape(name)}=.*$", f"{name}={value}", text, flags=re.M)
    return text


def unit_command(unit: str, instance: str) -> tuple[list[str], Path, Path]:
    """Return what a systemd unit runs for ``instance``: ``ExecStart=``'s argument list, its
    ``WorkingDirectory=`` and its ``EnvironmentFile=``."""
    unit = unit.replace("\\\n", " ")

    def setting(name: str) -> str:
        [value] = re.findall(rf"^{name}=(.*)$", unit, re.M)
        return value.replace("%i", instance)

    assert not re.search(r"^Environment=", unit, re.M), (
        "the unit sets variables of its own: operator commands would run without them"
    )
    return (
        shlex.split(setting("ExecStart")),
        Path(setting("WorkingDirectory")),
        Path(setting("EnvironmentFile")),
    )


def nginx_main(directory: Path, include: str) -> Path:
    """Write an nginx.conf of this test's own (its prefix, pid, logs, temporary files) that
    includes ``include``, as Debian's includes ``sites-enabled/*``; return its path."""
    temp = "\n".join(
        f"    {name}_temp_path {directory / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    path = directory / "nginx.conf"
    path.write_text(
        f"daemon off;\nmaster_process off;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} info;\n"
        "events { worker_connections 1024; }\n"
        "http {\n    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        f"{temp}\n    include {include};\n}}\n"
    )
    return path


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Make a certificate for localhost and 127.0.0.1, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def nginx_site(
    text: str, *, directory: Path, https_port: int, http_port: int, upstreams: list[int],
    static_root: Path,
) -> str:  # fmt: skip
    """``deploy/nginx/shop.conf`` (``text``) edited for this machine: loopback ports, a
    self-signed certificate, logs in ``directory``, and https on a port other than 443."""
    cert, key = self_signed_certificate(directory)
    origin = f"https://localhost:{https_port}"
    return replaced(
        text,
        {
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen [::]:80;": "",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "listen [::]:443 ssl http2;": "",
            "return 301 https://shop.example.com$request_uri;": f"return 301 {origin}$request_uri;",
            "server_name shop.example.com;": "server_name localhost;",
            "/etc/letsencrypt/live/shop.example.com/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/shop.example.com/privkey.pem": str(key),
            "/var/log/nginx/": f"{directory}/",
            "/srv/shop/staticfiles/": f"{static_root}/",
            "127.0.0.1:8001": f"127.0.0.1:{upstreams[0]}",
            "127.0.0.1:8002": f"127.0.0.1:{upstreams[1]}",
        },
        "deploy/nginx/shop.conf",
    )
