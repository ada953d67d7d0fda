"""Command-line stand-ins: wazuh-control, wazuh-analysisd, wazuh-integratord, wazuh-logtest,
agent_control and verify-agent-conf.

Usage: python3 -m wazuh_standin.tools <tool name> [arguments]
"""
from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

from . import common, config, rules, xmlreader

DAEMONS = [
    "wazuh-clusterd", "wazuh-modulesd", "wazuh-monitord", "wazuh-logcollector", "wazuh-remoted",
    "wazuh-syscheckd", "wazuh-analysisd", "wazuh-maild", "wazuh-execd", "wazuh-db", "wazuh-authd",
    "wazuh-agentlessd", "wazuh-integratord", "wazuh-dbd", "wazuh-csyslogd", "wazuh-apid",
]
LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 30


def emit(tag: str, level: str, message: str) -> None:
    """Print a daemon log line on stderr and append it to ossec.log, as the daemons do in -t mode."""
    line = common.log_line(tag, level, message)
    print(line, file=sys.stderr)
    common.write_ossec_log(tag, level, message)


# -- wazuh-analysisd -t / wazuh-integratord -t -------------------------------------------------

def check_analysisd() -> int:
    tag = "wazuh-analysisd"
    try:
        settings = config.analysisd_settings(config.read_roots())
        ruleset = rules.load_ruleset(settings["ruleset"])
    except (config.ConfigError, rules.RulesError) as error:
        for level, message in error.lines:
            emit(tag, level, message)
        return 1
    for warning in ruleset.warnings:
        emit(tag, "WARNING", warning)
    return 0


def check_integratord() -> int:
    tag = "wazuh-integratord"
    try:
        config.integrations(config.read_roots())
    except config.ConfigError as error:
        for level, message in error.lines:
            emit(tag, level, message)
        return 1
    return 0


def daemon_tool(name: str, arguments: list[str]) -> int:
    if "-t" not in arguments and "-T" not in arguments:
        print(f"{name}: the stand-in only supports -t (test the configuration); "
              "start the manager with wazuh-control start.", file=sys.stderr)
        return 1
    return check_analysisd() if name == "wazuh-analysisd" else check_integratord()


# -- wazuh-control -----------------------------------------------------------------------------

def process_alive(pid: int) -> bool:
    """Tell whether a process runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pid_of(daemon: str) -> int | None:
    """Return the PID of a running daemon from var/run/<daemon>-<pid>.pid, removing files of dead PIDs."""
    for path in glob.glob(os.path.join(common.RUN_DIR, f"{daemon}-*.pid")):
        try:
            with open(path, encoding="utf-8") as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            # A file being written right now reads empty; leave it to its writer.
            continue
        if process_alive(pid):
            return pid
        try:
            os.unlink(path)
        except OSError:
            pass
    return None


def running_manager_pid() -> int | None:
    return pid_of("wazuh-analysisd")


def control_status() -> int:
    result = 0
    for daemon in DAEMONS:
        if pid_of(daemon):
            print(f"{daemon} is running...")
        else:
            print(f"{daemon} not running...")
            result = 1
    return result


def test_config() -> bool:
    for daemon, check in (("wazuh-integratord", check_integratord), ("wazuh-analysisd", check_analysisd)):
        if check() != 0:
            print(f"{daemon}: Configuration error. Exiting")
            return False
    return True


def control_start(version: str) -> int:
    if running_manager_pid():
        print(f"Starting Wazuh v{version}...")
        for daemon in reversed(DAEMONS):
            if pid_of(daemon):
                print(f"{daemon} already running...")
        print("Completed.")
        return 0
    if not test_config():
        return 1

    print(f"Starting Wazuh v{version}...")
    os.makedirs(common.STATE_DIR, exist_ok=True)
    stderr_path = os.path.join(common.STATE_DIR, "manager.stderr")
    with open(stderr_path, "ab") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "wazuh_standin.manager"], cwd=LIBRARY, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": LIBRARY, "LANG": "C.UTF-8"},
        )

    # The real script waits 10 s per daemon; a loaded test machine needs more for Python to start.
    deadline = time.time() + START_TIMEOUT_SECONDS
    while time.time() < deadline:
        if process.poll() is not None:
            print("wazuh-analysisd did not start correctly.")
            return 1
        if pid_of("wazuh-apid") and os.path.exists(common.QUEUE_SOCKET):
            break
        time.sleep(0.05)
    else:
        process.kill()
        print("wazuh-analysisd did not start correctly.")
        return 1

    for daemon in reversed(DAEMONS):
        if pid_of(daemon):
            print(f"Started {daemon}...")
    print("Completed.")
    return 0


def control_stop(version: str) -> int:
    pid = running_manager_pid() or pid_of("wazuh-apid")
    for daemon in DAEMONS:
        print(f"Killing {daemon}..." if pid_of(daemon) else f"{daemon} not running...")
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + STOP_TIMEOUT_SECONDS
        while time.time() < deadline:
            if not process_alive(pid):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
    for path in glob.glob(os.path.join(common.RUN_DIR, "*.pid")):
        os.unlink(path)
    print(f"Wazuh v{version} Stopped")
    return 0


def control(arguments: list[str]) -> int:
    version = common.installed_version()
    if arguments[:1] == ["-j"]:
        return control_json(arguments[1:], version)
    action = arguments[0] if arguments else ""

    if action == "info":
        flag = arguments[1] if len(arguments) > 1 else ""
        values = {"-v": f"v{version}", "-r": common.revision(version), "-t": "server"}
        if flag:
            if flag not in values:
                print(f"Invalid flag: {flag}")
                return 1
            print(values[flag])
            return 0
        print(f'WAZUH_VERSION="v{version}"')
        print(f'WAZUH_REVISION="{common.revision(version)}"')
        print('WAZUH_TYPE="server"')
        return 0

    if action == "status":
        return control_status()
    if action == "start":
        return control_start(version)
    if action == "stop":
        return control_stop(version)
    if action in ("restart", "reload"):
        # Like the real script: test the configuration first, so a broken configuration leaves
        # the running manager untouched and the restart exits 1.
        if not test_config():
            return 1
        control_stop(version)
        return control_start(version)

    if action in ("enable", "disable"):
        print(f"wazuh-control: the stand-in ignores '{action}'.")
        return 0
    print("")
    print(f"Usage: {sys.argv[0]} [-j] {{start|stop|restart|status|enable|disable|info [-v -r -t]}}")
    print("")
    print("    -j    Use JSON output.")
    return 1


def control_json(arguments: list[str], version: str) -> int:
    """Print wazuh-control -j output for info and status, the JSON the real script prints."""
    import json

    action = arguments[0] if arguments else ""
    if action == "info" and len(arguments) == 1:
        data = [{"WAZUH_VERSION": f"v{version}"}, {"WAZUH_REVISION": common.revision(version)}, {"WAZUH_TYPE": "server"}]
        print(json.dumps({"error": 0, "data": data}, separators=(",", ":")), end="")
        return 0
    if action == "status":
        data = [{"daemon": daemon, "status": "running" if pid_of(daemon) else "stopped"} for daemon in DAEMONS]
        print(json.dumps({"error": 0, "data": data}, separators=(",", ":")), end="")
        return 0 if all(item["status"] == "running" for item in data) else 1
    print(f"wazuh-control: the stand-in supports -j only with info and status, not '{' '.join(arguments)}'.", file=sys.stderr)
    return 1


# -- verify-agent-conf -------------------------------------------------------------------------

AGENT_CONFIG_TAGS = {
    "localfile", "syscheck", "rootcheck", "wodle", "sca", "labels", "client_buffer", "active-response",
    "client", "logging", "socket", "syscollector", "osquery", "open-scap", "cis-cat", "command",
    "agent-upgrade", "anti_tampering", "logcollector",
}


def verify_agent_conf(arguments: list[str]) -> int:
    paths = []
    if "-f" in arguments:
        index = arguments.index("-f")
        paths = arguments[index + 1:index + 2]
    else:
        paths = sorted(glob.glob(os.path.join(common.HOME, "etc", "shared", "*", "agent.conf")))
    result = 0
    for path in paths:
        display_path = os.path.relpath(path, common.HOME) if path.startswith(common.HOME) else path
        print(f"verify-agent-conf: Verifying [{display_path}]")
        problem = _agent_conf_problem(path)
        if problem:
            print(f"verify-agent-conf: ERROR: {problem}")
            result = 1
        else:
            print("verify-agent-conf: OK")
        print("")
    return result


def _agent_conf_problem(path: str) -> str | None:
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
        roots = xmlreader.parse(text)
    except OSError as error:
        return f"(1103): Could not open file '{path}' due to [({error.errno})-({error.strerror})]."
    except xmlreader.XmlError as error:
        return f"(1226): Error reading XML file '{path}': {error.message} (line {error.line})."
    for root in roots:
        if root.name != "agent_config":
            return f"(1230): Invalid element in the configuration: '{root.name}'."
        for child in root.children:
            if child.name not in AGENT_CONFIG_TAGS:
                return f"(1230): Invalid element in the configuration: '{child.name}'."
            if child.name == "localfile":
                if child.find("log_format") is None:
                    return "(1901): Missing 'log_format' element."
                if child.find("location") is None and child.find("command") is None:
                    return "(1902): Missing 'location' element."
    return None


# -- agent_control ------------------------------------------------------------------------------

AGENT_STATUS_WORDS = {"active": "Active", "disconnected": "Disconnected", "pending": "Pending",
                      "never_connected": "Never connected"}


def registered_agents() -> list[dict]:
    """Return the agents of client.keys with their seeded status: active unless seeded otherwise, never connected when not seeded."""
    import json

    seeded: dict[str, dict] = {}
    try:
        with open(os.path.join(common.STATE_DIR, "agents.json"), encoding="utf-8") as handle:
            seeded = {agent["id"]: agent for agent in json.load(handle)}
    except (OSError, ValueError):
        pass
    agents = []
    try:
        with open(os.path.join(common.HOME, "etc", "client.keys"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or not fields[0].isdigit() or fields[1][:1] in ("!", "#"):
            continue
        seed = seeded.get(fields[0])
        status = seed.get("status", "active") if seed else "never_connected"
        agents.append({"id": fields[0], "name": fields[1], "ip": fields[2], "status": status})
    return agents


def agent_control(arguments: list[str]) -> int:
    if "-l" not in arguments and "-lc" not in arguments:
        print("agent_control: the stand-in supports only -l and -lc (list agents).", file=sys.stderr)
        return 1
    import socket

    only_active = "-lc" in arguments
    print("\nWazuh agent_control. List of available agents:")
    print(f"   ID: 000, Name: {socket.gethostname()} (server), IP: 127.0.0.1, Active/Local")
    for agent in registered_agents():
        if only_active and agent["status"] != "active":
            continue
        word = AGENT_STATUS_WORDS.get(agent["status"], agent["status"])
        print(f"   ID: {agent['id']}, Name: {agent['name']}, IP: {agent['ip']}, {word}")
    print("\nList of agentless devices:\n")
    return 0


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: python3 -m wazuh_standin.tools <tool> [arguments]", file=sys.stderr)
        return 2
    tool, arguments = sys.argv[1], sys.argv[2:]
    if tool == "wazuh-control":
        return control(arguments)
    if tool in ("wazuh-analysisd", "wazuh-integratord", "wazuh-logtest-legacy"):
        return daemon_tool("wazuh-analysisd" if tool == "wazuh-logtest-legacy" else tool, arguments)
    if tool == "verify-agent-conf":
        return verify_agent_conf(arguments)
    if tool == "agent_control":
        return agent_control(arguments)
    if tool == "wazuh-logtest":
        from . import logtest
        return logtest.main(arguments)
    print(f"Unknown stand-in tool: {tool}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
