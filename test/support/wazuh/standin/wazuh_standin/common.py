"""Paths, the installed version and ossec.log writing shared by every stand-in tool."""
from __future__ import annotations

import grp
import json
import os
import pwd
import time

HOME = os.environ.get("WAZUH_STANDIN_HOME", "/var/ossec")
STATE_DIR = os.path.join(HOME, ".standin")
OSSEC_CONF = os.path.join(HOME, "etc", "ossec.conf")
OSSEC_LOG = os.path.join(HOME, "logs", "ossec.log")
ALERTS_JSON = os.path.join(HOME, "logs", "alerts", "alerts.json")
QUEUE_SOCKET = os.path.join(HOME, "queue", "sockets", "queue")
RUN_DIR = os.path.join(HOME, "var", "run")
FAIL_NEXT_RESTART = os.path.join(STATE_DIR, "fail-next-restart")
SETTINGS_FILE = "/etc/wazuh-standin.json"

DEFAULT_VERSION = "4.12.0"


def load_settings() -> dict:
    """Return the stand-in settings written by installWazuhStandins (empty when missing)."""
    try:
        with open(SETTINGS_FILE, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def installed_version() -> str:
    """Return the installed Wazuh version as "4.12.0", read from the install's state directory."""
    try:
        with open(os.path.join(STATE_DIR, "version"), encoding="utf-8") as handle:
            return handle.read().strip().lstrip("v")
    except FileNotFoundError:
        return DEFAULT_VERSION


def version_tuple(version: str | None = None) -> tuple[int, int, int]:
    parts = (version or installed_version()).split(".")
    numbers = [int(part) for part in parts[:3]] + [0] * (3 - len(parts[:3]))
    return numbers[0], numbers[1], numbers[2]


def revision(version: str | None = None) -> str:
    """Return the package revision the way wazuh-control prints it (4.12.0-1 gives "41201")."""
    major, minor, patch = version_tuple(version)
    return f"{major}{minor:02d}{patch}1"


def wazuh_ids() -> tuple[int, int]:
    return pwd.getpwnam("wazuh").pw_uid, grp.getgrnam("wazuh").gr_gid


def log_line(tag: str, level: str, message: str) -> str:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S")
    return f"{stamp} {tag}: {level}: {message}"


def write_ossec_log(tag: str, level: str, message: str) -> None:
    """Append one line to logs/ossec.log in Wazuh's plain format."""
    line = log_line(tag, level, message)
    try:
        new_file = not os.path.exists(OSSEC_LOG)
        with open(OSSEC_LOG, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        if new_file:
            uid, gid = wazuh_ids()
            os.chown(OSSEC_LOG, uid, gid)
            os.chmod(OSSEC_LOG, 0o660)
    except OSError:
        pass


def readable_by_wazuh(path: str) -> bool:
    """Tell whether the wazuh user could read a file, from its owner, group and mode bits."""
    try:
        status = os.stat(path)
        uid, gid = wazuh_ids()
    except (OSError, KeyError):
        return False
    if status.st_uid == uid:
        return bool(status.st_mode & 0o400)
    if status.st_gid == gid:
        return bool(status.st_mode & 0o040)
    return bool(status.st_mode & 0o004)
