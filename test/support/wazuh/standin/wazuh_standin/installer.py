"""Stand-in for the Wazuh quickstart installer (wazuh-install.sh), all-in-one mode only.

It runs the checks the real 4.12 installer runs before installing: root, hardware unless -i,
an existing installation unless -o, and busy ports. Then it lays out the manager and writes
wazuh-install-files.tar with wazuh-passwords.txt and certificates. Last, it registers the
packages with dpkg and starts the manager and the dashboard stand-ins.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import string
import subprocess
import sys
import tarfile
import tempfile
import time

from . import common, layout

LOG_FILE = "/var/log/wazuh-install.log"
AIO_PORTS = [9200, 9300, 1514, 1515, 1516, 55000, 443]
RESERVED_PORTS = {1514, 1515, 1516, 9200, 9300, 55000}
INDEXER_USERS = [
    ("admin", "Admin user for the web user interface and Wazuh indexer. Use this user to log in to Wazuh dashboard"),
    ("anomalyadmin", "Anomaly detection user for the web user interface"),
    ("kibanaserver", "Wazuh dashboard user for establishing the connection with Wazuh indexer"),
    ("kibanaro", "Regular Dashboard user, only has read permissions to all indices and all permissions on the .kibana index"),
    ("logstash", "Filebeat user for CRUD operations on Wazuh indices"),
    ("readall", "User with READ access to all indices"),
    ("snapshotrestore", "User with permissions to perform snapshot and restore operations"),
]
API_USERS = [("wazuh", "Password for wazuh API user"), ("wazuh-wui", "Password for wazuh-wui API user")]
PACKAGES = ["wazuh-manager", "wazuh-indexer", "wazuh-dashboard", "filebeat"]
DPKG_STATUS = "/var/lib/dpkg/status"
DASHBOARD_CONFIG = "/etc/wazuh-dashboard/opensearch_dashboards.yml"
LIBRARY = layout.LIBRARY


def log(level: str, message: str) -> None:
    line = f"{time.strftime('%d/%m/%Y %H:%M:%S')} {level}: {message}"
    print(line, flush=True)
    with open(LOG_FILE, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wazuh-install.sh", add_help=False)
    parser.add_argument("-a", "--all-in-one", action="store_true")
    parser.add_argument("-i", "--ignore-check", action="store_true")
    parser.add_argument("-o", "--overwrite", action="store_true")
    parser.add_argument("-u", "--uninstall", action="store_true")
    parser.add_argument("-p", "--port", type=int)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-h", "--help", action="store_true")
    arguments, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"ERROR: the Wazuh installer stand-in does not support: {' '.join(unknown)}. "
              "It supports -a, -i, -o, -p, -u and -v.", file=sys.stderr)
        sys.exit(1)
    return arguments


def listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    if fields[3] == "0A":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def hardware(settings: dict) -> tuple[int, int]:
    override = settings.get("hardware", {})
    cores = override.get("cores") or os.cpu_count() or 1
    memory_mb = override.get("memoryMb")
    if memory_mb is None:
        with open("/proc/meminfo", encoding="ascii") as handle:
            kilobytes = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
        memory_mb = kilobytes // 1024
    return int(cores), int(memory_mb)


def generate_password() -> str:
    """Return a 32-character password with upper and lower case, digits and one of .*+? as the real tool does."""
    symbols = ".*+?"
    alphabet = string.ascii_letters + string.digits + symbols
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(32))
        if (any(c.islower() for c in password) and any(c.isupper() for c in password)
                and any(c.isdigit() for c in password) and any(c in symbols for c in password)):
            return password


def passwords_file(passwords: dict[str, str]) -> str:
    lines = []
    for user, comment in INDEXER_USERS:
        lines += [f"# {comment}", f"  indexer_username: '{user}'", f"  indexer_password: '{passwords[user]}'", ""]
    for user, comment in API_USERS:
        lines += [f"# {comment}", f"  api_username: '{user}'", f"  api_password: '{passwords['api:' + user]}'", ""]
    return "\n".join(lines)


def openssl(*arguments: str) -> None:
    subprocess.run(["openssl", *arguments], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certificates(directory: str) -> None:
    """Create root-ca and the admin, indexer, server and dashboard certificates the tar holds."""
    openssl("req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", f"{directory}/root-ca.key",
            "-out", f"{directory}/root-ca.pem", "-days", "3650", "-subj", "/OU=Wazuh/O=Wazuh/L=California/C=US/CN=root-ca")
    for name in ("admin", "wazuh-indexer", "wazuh-server", "wazuh-dashboard"):
        key, request, certificate = f"{directory}/{name}-key.pem", f"{directory}/{name}.csr", f"{directory}/{name}.pem"
        extension = f"{directory}/{name}.ext"
        with open(extension, "w", encoding="ascii") as handle:
            handle.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", key, "-out", request,
                "-subj", f"/OU=Wazuh/O=Wazuh/L=California/C=US/CN={name}")
        openssl("x509", "-req", "-in", request, "-CA", f"{directory}/root-ca.pem", "-CAkey", f"{directory}/root-ca.key",
                "-CAcreateserial", "-out", certificate, "-days", "3650", "-extfile", extension)
        os.unlink(request)
        os.unlink(extension)
    for leftover in ("root-ca.srl",):
        path = os.path.join(directory, leftover)
        if os.path.exists(path):
            os.unlink(path)


def make_api_certificate() -> None:
    """Create the API's self-signed certificate where wazuh-apid keeps the one it generates.

    NOTE: the subject (CN wazuh.com) and the single name (DNS localhost) are the stand-in's
    choice and were not compared with a certificate from a real wazuh-apid.
    """
    ssl_directory = os.path.join(common.HOME, "api/configuration/ssl")
    key, certificate = f"{ssl_directory}/server.key", f"{ssl_directory}/server.crt"
    openssl("req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", key, "-out", certificate,
            "-days", "365", "-subj", "/C=US/ST=California/L=San Francisco/O=Wazuh/CN=wazuh.com",
            "-addext", "subjectAltName=DNS:localhost")
    layout._set(key, "wazuh", "wazuh", 0o400)
    layout._set(certificate, "wazuh", "wazuh", 0o400)


def store_api_users(passwords: dict[str, str]) -> None:
    """Keep salted hashes of the API users' passwords where the API stand-in reads them."""
    users = {}
    for user, _ in API_USERS:
        salt = secrets.token_hex(16)
        digest = hashlib.pbkdf2_hmac("sha256", passwords["api:" + user].encode(), bytes.fromhex(salt), 100_000).hex()
        users[user] = {"salt": salt, "hash": digest}
    layout.write_file(".standin/api-users.json", json.dumps(users), "root", "root", 0o600)
    layout.write_file(".standin/jwt-secret", secrets.token_hex(32), "root", "root", 0o600)


def register_packages(version: str) -> None:
    """Add dpkg status entries so dpkg -s reports the packages the real installer installs."""
    unregister_packages()
    stanzas = []
    for package in PACKAGES:
        package_version = "7.10.8-3" if package == "filebeat" else f"{version}-1"
        stanzas.append(
            f"Package: {package}\nStatus: install ok installed\nPriority: extra\nSection: admin\n"
            f"Installed-Size: 1\nMaintainer: Wazuh, Inc <info@wazuh.com>\nArchitecture: amd64\n"
            f"Version: {package_version}\nDescription: {package} (mispwazuh test stand-in)\n"
        )
        with open(f"/var/lib/dpkg/info/{package}.list", "w", encoding="utf-8") as handle:
            handle.write("/.\n")
    with open(DPKG_STATUS, "a", encoding="utf-8") as handle:
        handle.write("\n" + "\n".join(stanzas))


def unregister_packages() -> None:
    try:
        with open(DPKG_STATUS, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return
    stanzas = [stanza.strip("\n") for stanza in text.split("\n\n") if stanza.strip()]
    remaining = [stanza for stanza in stanzas if not any(stanza.startswith(f"Package: {package}\n") for package in PACKAGES)]
    if len(remaining) != len(stanzas):
        with open(DPKG_STATUS, "w", encoding="utf-8") as handle:
            handle.write("\n\n".join(remaining) + "\n")
    for package in PACKAGES:
        path = f"/var/lib/dpkg/info/{package}.list"
        if os.path.exists(path):
            os.unlink(path)


def ensure_wazuh_account() -> None:
    if subprocess.run(["getent", "group", "wazuh"], stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["groupadd", "--system", "wazuh"], check=True)
    if subprocess.run(["getent", "passwd", "wazuh"], stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["useradd", "--system", "-g", "wazuh", "-G", "wazuh", "-d", common.HOME,
                        "-s", "/sbin/nologin", "wazuh"], check=True)


def write_dashboard_config(port: int, passwords: dict[str, str], certificates: str) -> None:
    os.makedirs("/etc/wazuh-dashboard/certs", exist_ok=True)
    for name in ("wazuh-dashboard.pem", "wazuh-dashboard-key.pem", "root-ca.pem"):
        shutil.copy(os.path.join(certificates, name), f"/etc/wazuh-dashboard/certs/{name.replace('wazuh-dashboard', 'dashboard')}")
    with open(DASHBOARD_CONFIG, "w", encoding="utf-8") as handle:
        handle.write(
            "server.host: 0.0.0.0\n"
            f"server.port: {port}\n"
            "opensearch.hosts: https://127.0.0.1:9200\n"
            "server.ssl.enabled: true\n"
            "server.ssl.key: \"/etc/wazuh-dashboard/certs/dashboard-key.pem\"\n"
            "server.ssl.certificate: \"/etc/wazuh-dashboard/certs/dashboard.pem\"\n"
            "opensearch.ssl.certificateAuthorities: [\"/etc/wazuh-dashboard/certs/root-ca.pem\"]\n"
        )
    os.makedirs("/etc/filebeat/certs", exist_ok=True)
    for name in ("wazuh-server.pem", "wazuh-server-key.pem", "root-ca.pem"):
        shutil.copy(os.path.join(certificates, name), f"/etc/filebeat/certs/{name}")
    os.makedirs("/etc/wazuh-indexer/certs", exist_ok=True)
    for name in ("wazuh-indexer.pem", "wazuh-indexer-key.pem", "admin.pem", "admin-key.pem", "root-ca.pem"):
        shutil.copy(os.path.join(certificates, name), f"/etc/wazuh-indexer/certs/{name}")


def systemctl(*arguments: str) -> int:
    return subprocess.run(["/usr/local/bin/systemctl", *arguments], stdout=subprocess.DEVNULL).returncode


def uninstall() -> None:
    log("INFO", "--- Removing existing Wazuh installation ---")
    for unit in ("wazuh-dashboard", "wazuh-manager", "wazuh-indexer", "filebeat"):
        systemctl("stop", unit)
    layout.remove()
    for directory in ("/etc/wazuh-dashboard", "/etc/wazuh-indexer", "/etc/filebeat"):
        shutil.rmtree(directory, ignore_errors=True)
    unregister_packages()
    log("INFO", "Installation cleaned.")


def installed() -> bool:
    return os.path.exists(os.path.join(common.HOME, "bin/wazuh-control"))


def main(argv: list[str]) -> int:
    settings = common.load_settings()
    version = os.environ.get("WAZUH_STANDIN_INSTALLER_VERSION") or settings.get("defaultVersion", common.DEFAULT_VERSION)
    arguments = parse_arguments(argv)
    if arguments.help:
        print("Usage: wazuh-install.sh [OPTIONS]  (stand-in: -a [-i] [-o] [-p PORT], -u)")
        return 0
    if os.geteuid() != 0:
        print("This script must be run as root.")
        return 1

    log("INFO", f"Starting Wazuh installation assistant. Wazuh version: {version}")
    log("INFO", f"Verbose logging redirected to {LOG_FILE}")

    if arguments.uninstall:
        uninstall()
        return 0
    if not arguments.all_in_one:
        log("ERROR", "The Wazuh installer stand-in supports only the all-in-one installation (-a) and -u.")
        return 1

    dashboard_port = 443
    if arguments.port is not None:
        if arguments.port in RESERVED_PORTS or not 0 < arguments.port < 65536:
            log("ERROR", f"The port {arguments.port} is reserved by Wazuh. Please, choose another port.")
            return 1
        dashboard_port = arguments.port
        log("INFO", f"Wazuh web interface port will be {dashboard_port}.")

    if not arguments.ignore_check:
        cores, memory_mb = hardware(settings)
        if cores < 2 or memory_mb < 3700:
            log("ERROR", "Your system does not meet the recommended minimum hardware requirements of 4Gb of RAM "
                "and 2 CPU cores. If you want to proceed with the installation use the -i option to ignore these requirements.")
            return 1
    else:
        log("WARNING", "Hardware checks ignored.")

    if installed():
        if not arguments.overwrite:
            log("ERROR", "Wazuh manager already installed.")
            log("ERROR", "If you want to overwrite the current installation, run this script adding the -o/--overwrite "
                "option. This will erase all the existing configuration and data.")
            return 1
        uninstall()

    api_port = int(settings.get("apiPort", 55000))
    replacements = {55000: api_port, 443: dashboard_port}
    checked = [replacements.get(port, port) for port in AIO_PORTS]
    busy = listening_ports()
    for port in checked:
        if port in busy:
            log("ERROR", f"Port {port} is being used by another process. Please, check it before installing Wazuh.")
            log("INFO", "--- Removing existing Wazuh installation ---")
            log("INFO", "Installation cleaned.")
            return 1

    log("INFO", "--- Configuration files ---")
    log("INFO", "Generating configuration files.")
    passwords = {user: generate_password() for user, _ in INDEXER_USERS}
    passwords.update({"api:" + user: generate_password() for user, _ in API_USERS})
    work = tempfile.mkdtemp(prefix="wazuh-install-files-")
    bundle = os.path.join(work, "wazuh-install-files")
    os.makedirs(bundle)
    make_certificates(bundle)
    with open(os.path.join(bundle, "wazuh-passwords.txt"), "w", encoding="utf-8") as handle:
        handle.write(passwords_file(passwords))
    with open(os.path.join(bundle, "config.yml"), "w", encoding="utf-8") as handle:
        handle.write("nodes:\n  indexer:\n    - name: wazuh-indexer\n      ip: \"127.0.0.1\"\n"
                     "  server:\n    - name: wazuh-server\n      ip: \"127.0.0.1\"\n"
                     "  dashboard:\n    - name: wazuh-dashboard\n      ip: \"127.0.0.1\"\n")
    tar_path = os.path.join(os.environ.get("WAZUH_STANDIN_SCRIPT_DIR") or os.getcwd(), "wazuh-install-files.tar")
    with tarfile.open(tar_path, "w:gz") as archive:
        archive.add(bundle, arcname="wazuh-install-files")
    os.chmod(tar_path, 0o600)
    log("INFO", "Created wazuh-install-files.tar. It contains the Wazuh cluster key, certificates, and passwords necessary for installation.")

    log("INFO", "--- Wazuh indexer ---")
    log("INFO", "Starting Wazuh indexer installation.")
    ensure_wazuh_account()
    write_dashboard_config(dashboard_port, passwords, bundle)
    systemctl("start", "wazuh-indexer")
    log("INFO", "Wazuh indexer installation finished.")
    log("INFO", "Wazuh indexer cluster initialized.")

    log("INFO", "--- Wazuh server ---")
    log("INFO", "Starting the Wazuh manager installation.")
    layout.lay_out(version, api_port)
    make_api_certificate()
    store_api_users(passwords)
    register_packages(version)
    log("INFO", "Wazuh manager installation finished.")
    log("INFO", "Wazuh manager vulnerability detection configuration finished.")
    log("INFO", "Starting service wazuh-manager.")
    if systemctl("start", "wazuh-manager") != 0:
        log("ERROR", "wazuh-manager could not be started.")
        return 1
    log("INFO", "wazuh-manager service started.")
    systemctl("start", "filebeat")

    log("INFO", "--- Wazuh dashboard ---")
    log("INFO", "Starting Wazuh dashboard installation.")
    if systemctl("start", "wazuh-dashboard") != 0:
        log("ERROR", "wazuh-dashboard could not be started.")
        return 1
    log("INFO", "Wazuh dashboard installation finished.")
    log("INFO", "Wazuh dashboard web application initialized.")
    log("INFO", "--- Summary ---")
    log("INFO", f"You can access the web interface https://<wazuh-dashboard-ip>:{dashboard_port}\n"
        f"    User: admin\n    Password: {passwords['admin']}")
    log("INFO", "Installation finished.")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
