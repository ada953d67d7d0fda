"""Run <integration> blocks for alerts the way wazuh-integratord does (4.7 to 4.14 argv layout)."""
from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time

from . import common

TAG = "wazuh-integratord"
SUPPORTED_NAMES = {"slack", "pagerduty", "virustotal", "shuffle", "maltiverse"}
# The stand-in kills a script after this many seconds so that a hung script cannot block the
# test server forever. NOTE: real integratord waits for the script without a limit of its own.
SAFETY_KILL_SECONDS = 300
RUNS_LOG = os.path.join(common.STATE_DIR, "integration-runs.jsonl")


def debug_level() -> int:
    """Return integrator.debug from local_internal_options.conf (0 when unset)."""
    for name in ("local_internal_options.conf", "internal_options.conf"):
        path = os.path.join(common.HOME, "etc", name)
        try:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    key, _, value = line.strip().partition("=")
                    if key.strip() == "integrator.debug" and value.strip().isdigit():
                        return int(value.strip())
        except OSError:
            continue
    return 0


def enable_integrations(blocks: list[dict], log) -> list[dict]:
    """Return the blocks integratord would enable, logging what it logs at startup."""
    enabled = []
    for block in blocks:
        name = block["name"]
        if name in ("slack", "shuffle") and not block.get("hook_url"):
            log("ERROR", f"Unable to enable integration for: '{name}'. Missing hook URL.")
            continue
        if name in ("pagerduty", "virustotal") and not block.get("api_key"):
            log("ERROR", f"Unable to enable integration for: '{name}'. Missing API Key.")
            continue
        if name not in SUPPORTED_NAMES and not name.startswith("custom-"):
            log("ERROR", f"Invalid integration: '{name}'. Not currently supported.")
            continue
        if not os.path.exists(os.path.join(common.HOME, "integrations", name)):
            log("ERROR", f"Unable to enable integration for: '{name}'. File not found inside 'integrations'.")
            continue
        log("INFO", f"Enabling integration for: '{name}'.")
        enabled.append(block)
    return enabled


def alert_passes(block: dict, alert: dict) -> bool:
    """Apply the level, group, rule_id and event_location filters; all configured ones must pass."""
    rule = alert.get("rule", {})
    level = block.get("level", 0)
    if level and int(rule.get("level", 0)) < level:
        return False

    if block.get("group"):
        groups = rule.get("groups", [])
        # integratord splits on commas and compares each entry exactly, spaces included.
        if not any(entry in groups for entry in block["group"].split(",") if entry):
            return False

    if block.get("rule_id"):
        rule_ids = [entry for entry in block["rule_id"].split(",") if entry]
        if not any(entry.strip().isdigit() and int(entry) == int(rule.get("id", -1)) for entry in rule_ids):
            return False

    if block.get("event_location"):
        from .regexes import compile_osmatch
        if not compile_osmatch(block["event_location"]).search(alert.get("location", "")):
            return False
    return True


def _writable_by_wazuh(path: str) -> bool:
    uid, gid = common.wazuh_ids()
    status = os.stat(path)
    if status.st_uid == uid:
        return bool(status.st_mode & 0o200)
    if status.st_gid == gid:
        return bool(status.st_mode & 0o020)
    return bool(status.st_mode & 0o002)


def _temp_file(name: str, suffix: str, content: str) -> str:
    path = f"/tmp/{name}-{int(time.time())}-{random.randint(0, 999999999)}.{suffix}"
    uid, gid = common.wazuh_ids()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chown(path, uid, gid)
    return path


def _legacy_alert_text(alert: dict, max_log: int) -> str:
    """Return the alert in integratord's text format (used without <alert_format>json</alert_format>).

    Like integratord, it blanks quotes and shell characters in full_log, turns backslashes into
    slashes and cuts full_log to max_log characters, ending it with "...".
    """
    rule = alert.get("rule", {})
    full_log = ""
    for character in alert.get("full_log", ""):
        if character in "'`\"!$" or ord(character) < 32 or ord(character) > 122:
            character = " "
        elif character == "\\":
            character = "/"
        elif character == ";":
            character = ","
        full_log += character
    if len(full_log) >= max_log:
        full_log = full_log[:max_log - 3] + "..."
    srcip = alert.get("data", {}).get("srcip", "") if isinstance(alert.get("data"), dict) else ""
    return (f"alertdate='{alert.get('timestamp', '')}'\nalertlocation='{alert.get('location', '')}'\n"
            f"ruleid='{rule.get('id', '')}'\nalertlevel='{rule.get('level', '')}'\n"
            f"ruledescription='{rule.get('description', '')}'\nalertlog='{full_log}'\nsrcip='{srcip}'")


def build_command(block: dict, alert_path: str, options_path: str, debug: bool, version: str) -> list[str]:
    """Build argv exactly as integratord does: format one string, then split it on single spaces."""
    major, minor, _ = common.version_tuple(version)
    fields = [
        "integrations", alert_path, block.get("api_key", "") or "", block.get("hook_url", "") or "",
        "debug" if debug else "", options_path,
    ]
    pieces = 7
    if (major, minor) >= (4, 8):
        fields += [str(block.get("timeout", 10)), str(block.get("retries", 3))]
        pieces = 9
    command = " ".join(fields)
    if not debug:
        command += " > /dev/null 2>&1"
    return command.split(" ", pieces - 1)


def run_integration(block: dict, alert: dict, alert_line: str, log, version: str) -> None:
    """Write the temp files, run the script as wazuh, wait for it and log failures like integratord."""
    name = block["name"]
    script = os.path.join(common.HOME, "integrations", name)
    debug = debug_level() >= 1

    if block.get("alert_format") == "json":
        content = alert_line
    else:
        content = _legacy_alert_text(alert, int(block.get("max_log", 165)))
    alert_path = _temp_file(name, "alert", content + ("\n" if block.get("alert_format") == "json" else ""))
    options_path = _temp_file(name, "options", block["options"]) if block.get("options") else ""
    argv = build_command(block, alert_path, options_path, debug, version)
    command_text = " ".join(argv)

    started = time.time()
    exit_code: int | None = None
    output_tail = ""
    try:
        if not os.path.exists(script) or _writable_by_wazuh(script):
            if os.path.exists(script):
                log("ERROR", f"At wpopenv(): file '{script}' has write permissions.")
            exit_code = 127
        else:
            uid, gid = common.wazuh_ids()
            try:
                process = subprocess.Popen(
                    argv, executable=script, cwd=common.HOME, user=uid, group=gid, extra_groups=[gid],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                )
            except OSError:
                exit_code = 127
            else:
                try:
                    output, _ = process.communicate(timeout=SAFETY_KILL_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    output, _ = process.communicate()
                    log("ERROR", f"Integration '{name}' killed by the stand-in after {SAFETY_KILL_SECONDS} s.")
                exit_code = process.returncode
                lines = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
                output_tail = lines[-1] if lines else ""
                if debug:
                    for line in lines:
                        log("DEBUG", f"{name}: {line}")

        if exit_code is not None and exit_code < 0:
            log("ERROR", f"Command ({command_text}) execution exited abnormally.")
        elif exit_code == 127:
            log("ERROR", f"Couldn't execute command ({command_text}). Check file and permissions.")
        elif exit_code != 0:
            log("ERROR", f"Unable to run integration for {name} -> integrations")
            log("ERROR", f"While running {name} -> integrations. Output: {output_tail} ")
            log("ERROR", f"Exit status was: {exit_code}")
    finally:
        for path in (alert_path, options_path):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        _record_run(name, argv, alert, exit_code, time.time() - started)


_runs_lock = threading.Lock()


def _record_run(name: str, argv: list[str], alert: dict, exit_code: int | None, seconds: float) -> None:
    """Append one line per run to the stand-in's own record, which tests read (never the product)."""
    record = {
        "name": name, "argv": argv, "user": "wazuh", "rule_id": alert.get("rule", {}).get("id"),
        "alert_id": alert.get("id"), "exit_code": exit_code, "seconds": round(seconds, 3),
    }
    with _runs_lock:
        with open(RUNS_LOG, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
