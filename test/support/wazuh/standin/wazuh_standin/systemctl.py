"""systemctl stand-in for a test server without systemd.

Verbs: start, stop, restart, is-active, is-enabled, enable [--now], disable, status, cat and
daemon-reload. Units: wazuh-manager (runs wazuh-control), wazuh-dashboard (a small HTTPS listener),
wazuh-indexer, filebeat and docker (state only), cron (the real cron daemon). State lives in
/run/systemctl-standin. Other units and verbs fail with a message naming what is supported.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from . import common

STATE = "/run/systemctl-standin"
LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = {"wazuh-manager", "wazuh-indexer", "wazuh-dashboard", "filebeat", "docker", "cron"}
CONTROL = os.path.join(common.HOME, "bin/wazuh-control")
DASHBOARD_PID = "/run/wazuh-dashboard.pid"


def _unit(name: str) -> str:
    return name[:-len(".service")] if name.endswith(".service") else name


def _flag(unit: str, kind: str) -> str:
    return os.path.join(STATE, f"{unit}.{kind}")


def _alive(pid_file: str) -> bool:
    try:
        pid = int(open(pid_file, encoding="ascii").read().strip())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def is_active(unit: str) -> bool:
    if unit == "wazuh-manager":
        if not os.path.exists(CONTROL):
            return False
        from .tools import running_manager_pid
        return running_manager_pid() is not None
    if unit == "wazuh-dashboard":
        return _alive(DASHBOARD_PID)
    if unit == "cron":
        return subprocess.run(["pgrep", "-x", "cron"], stdout=subprocess.DEVNULL).returncode == 0 \
            and _alive("/run/crond.pid")
    return os.path.exists(_flag(unit, "active"))


def _installed(unit: str) -> bool:
    if unit == "wazuh-manager":
        return os.path.exists(CONTROL)
    if unit == "wazuh-dashboard":
        return os.path.exists("/etc/wazuh-dashboard/opensearch_dashboards.yml")
    if unit in ("wazuh-indexer", "filebeat"):
        return os.path.isdir("/etc/wazuh-indexer")
    if unit == "docker":
        return os.path.exists("/usr/bin/docker") or os.path.exists("/usr/local/bin/docker")
    return os.path.exists("/usr/sbin/cron")


def start(unit: str) -> int:
    if unit == "wazuh-manager":
        return subprocess.run([CONTROL, "start"], stdout=subprocess.DEVNULL).returncode
    if unit == "wazuh-dashboard":
        if _alive(DASHBOARD_PID):
            return 0
        process = subprocess.Popen([sys.executable, "-m", "wazuh_standin.dashboard"], cwd=LIBRARY,
                                   env={"PYTHONPATH": LIBRARY, "PATH": "/usr/bin:/bin"}, start_new_session=True,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            if process.poll() is not None:
                return 1
            if _alive(DASHBOARD_PID):
                return 0
            time.sleep(0.05)
        return 1
    if unit == "cron":
        if is_active("cron"):
            return 0
        return subprocess.run(["/usr/sbin/cron"]).returncode
    open(_flag(unit, "active"), "w").close()
    return 0


def stop(unit: str) -> int:
    if unit == "wazuh-manager":
        if os.path.exists(CONTROL):
            subprocess.run([CONTROL, "stop"], stdout=subprocess.DEVNULL)
        return 0
    if unit in ("wazuh-dashboard", "cron"):
        pid_file = DASHBOARD_PID if unit == "wazuh-dashboard" else "/run/crond.pid"
        if _alive(pid_file):
            os.kill(int(open(pid_file, encoding="ascii").read().strip()), signal.SIGTERM)
            time.sleep(0.2)
        return 0
    if os.path.exists(_flag(unit, "active")):
        os.unlink(_flag(unit, "active"))
    return 0


def unit_file(unit: str) -> str:
    """Return a unit file for `systemctl cat`; wazuh-manager's has the real ExecStart and Type."""
    if unit == "wazuh-manager":
        return ("# /usr/lib/systemd/system/wazuh-manager.service\n[Unit]\nDescription=Wazuh manager\n"
                "Wants=network-online.target\nAfter=network.target network-online.target\n\n[Service]\n"
                "Type=forking\nLimitNOFILE=65536\n\n"
                f"ExecStart=/usr/bin/env {CONTROL} start\nExecStop=/usr/bin/env {CONTROL} stop\n"
                f"ExecReload=/usr/bin/env {CONTROL} reload\n\nKillMode=process\nRemainAfterExit=yes\n\n"
                "[Install]\nWantedBy=multi-user.target")
    return f"# /usr/lib/systemd/system/{unit}.service\n[Unit]\nDescription={unit} (test stand-in)\n"


def main(argv: list[str]) -> int:
    os.makedirs(STATE, exist_ok=True)
    arguments = [argument for argument in argv if not argument.startswith("-")]
    quiet = "--quiet" in argv or "-q" in argv
    if not arguments:
        print("systemctl stand-in: a verb is required.", file=sys.stderr)
        return 1
    verb, units = arguments[0], [_unit(name) for name in arguments[1:]]
    if verb == "daemon-reload":
        return 0
    if not units:
        print(f"systemctl stand-in: '{verb}' needs a unit name.", file=sys.stderr)
        return 1

    result = 0
    for unit in units:
        if unit not in UNITS:
            print(f"systemctl stand-in: unit {unit}.service is not one the stand-in handles "
                  f"({', '.join(sorted(UNITS))}).", file=sys.stderr)
            return 5
        if verb in ("start", "stop", "restart", "reload", "try-restart", "reload-or-restart") and not _installed(unit):
            print(f"Failed to {verb} {unit}.service: Unit {unit}.service not found.", file=sys.stderr)
            return 5

        if verb == "start":
            code = start(unit)
        elif verb == "stop":
            code = stop(unit)
        elif verb in ("restart", "reload", "try-restart", "reload-or-restart"):
            stop(unit)
            code = start(unit)
        elif verb == "is-active":
            active = is_active(unit)
            if not quiet:
                print("active" if active else "inactive")
            code = 0 if active else 3
        elif verb in ("enable", "disable"):
            if verb == "enable":
                open(_flag(unit, "enabled"), "w").close()
                if "--now" in argv:
                    start(unit)
            elif os.path.exists(_flag(unit, "enabled")):
                os.unlink(_flag(unit, "enabled"))
            code = 0
        elif verb == "is-enabled":
            enabled = os.path.exists(_flag(unit, "enabled"))
            if not quiet:
                print("enabled" if enabled else "disabled")
            code = 0 if enabled else 1
        elif verb == "cat":
            if not _installed(unit):
                print(f"No files found for {unit}.service.", file=sys.stderr)
                code = 1
            else:
                print(unit_file(unit))
                code = 0
        elif verb == "status":
            active = is_active(unit)
            print(f"● {unit}.service\n     Loaded: loaded (stand-in)\n     Active: "
                  f"{'active (running)' if active else 'inactive (dead)'}")
            code = 0 if active else 3
        else:
            print(f"systemctl stand-in: verb '{verb}' is not supported.", file=sys.stderr)
            return 1

        if code != 0 and verb in ("start", "restart", "reload", "try-restart", "reload-or-restart"):
            print(f"Job for {unit}.service failed because the control process exited with error code.\n"
                  f"See \"systemctl status {unit}.service\" and \"journalctl -xeu {unit}.service\" for details.",
                  file=sys.stderr)
        result = result or code
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
