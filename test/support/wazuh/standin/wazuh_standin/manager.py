"""The manager stand-in process: analysisd (queue socket, rules, alerts.json), integratord and apid.

wazuh-control start runs it as root. It writes one PID file under var/run for each daemon it
replaces, so that wazuh-control status reports them as the real script does.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import socket
import sys
import threading
import time

from . import common, config, decoders, integrator, rules

ANALYSISD = "wazuh-analysisd"
ALWAYS_RUNNING = [
    "wazuh-modulesd", "wazuh-monitord", "wazuh-logcollector", "wazuh-remoted", "wazuh-syscheckd",
    "wazuh-analysisd", "wazuh-execd", "wazuh-db", "wazuh-authd", "wazuh-apid",
]
MAX_MESSAGE = 65536


class Manager:
    def __init__(self) -> None:
        self.version = common.installed_version()
        self.hostname = socket.gethostname()
        self.alert_lock = threading.Lock()
        self.integration_queue: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.ruleset: rules.Ruleset | None = None
        self.settings: dict = {}
        self.integrations: list[dict] = []
        self.processed_events = 0

    def log(self, tag: str, level: str, message: str) -> None:
        common.write_ossec_log(tag, level, message)

    def load(self) -> bool:
        """Read ossec.conf, the ruleset and the integrations; log and return False on errors."""
        try:
            roots = config.read_roots()
            self.settings = config.analysisd_settings(roots)
        except config.ConfigError as error:
            for level, message in error.lines:
                self.log(ANALYSISD, level, message)
            return False

        try:
            self.ruleset = rules.load_ruleset(self.settings["ruleset"])
        except rules.RulesError as error:
            for level, message in error.lines:
                self.log(ANALYSISD, level, message)
            return False
        for warning in self.ruleset.warnings:
            self.log(ANALYSISD, "WARNING", warning)
        self.log(ANALYSISD, "INFO", f"Total rules enabled: '{len(self.ruleset.by_id)}'")

        try:
            blocks = config.integrations(roots, self.version)
        except config.ConfigError as error:
            for level, message in error.lines:
                self.log(integrator.TAG, level, message)
            return False
        if blocks:
            self.integrations = integrator.enable_integrations(
                blocks, lambda level, message: self.log(integrator.TAG, level, message))
        else:
            self.log(integrator.TAG, "INFO", "Remote integrations not configured. Clean exit.")
        return True

    # -- analysisd ---------------------------------------------------------------------------

    def handle_message(self, message: str) -> None:
        try:
            queue_id, full_location, payload = decoders.split_message(message)
            agent, location = decoders.split_location(full_location)
            if queue_id == "f":
                event = decoders.decode_eventchannel(payload, location, agent)
            else:
                event = decoders.decode_json(payload, location, agent)
        except decoders.DecodeError as error:
            self.log(ANALYSISD, "WARNING", f"Discarded message: {error}")
            return
        self.processed_events += 1
        if event is None or self.ruleset is None:
            return

        rule = rules.match_event(self.ruleset, event)
        if rule is None or rule.level == 0 or rule.noalert:
            return
        if rule.level < self.settings["log_alert_level"] or not self.settings["jsonout_output"]:
            return
        self.write_alert(rule, event)

    def write_alert(self, rule: rules.Rule, event: rules.Event) -> None:
        groups, compliance = rules.split_groups(rule.groups)
        now = time.time()
        rule_json: dict = {"level": rule.level, "description": rules.describe(rule, event), "id": str(rule.id)}
        if rule.mitre_ids:
            rule_json["mitre"] = {"id": rule.mitre_ids}
        rule_json["firedtimes"] = rule.fired_times
        rule_json["mail"] = ("alert_by_email" in rule.options or rule.level >= self.settings["email_alert_level"]) \
            and "no_email_alert" not in rule.options
        rule_json["groups"] = groups
        rule_json.update(compliance)

        with self.alert_lock:
            offset = os.path.getsize(common.ALERTS_JSON) if os.path.exists(common.ALERTS_JSON) else 0
            alert: dict = {
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}+0000",
                "rule": rule_json,
                "agent": event.agent,
                "manager": {"name": self.hostname},
                "id": f"{int(now)}.{offset}",
            }
            if "no_full_log" not in rule.options:
                alert["full_log"] = event.full_log
            alert["decoder"] = {"name": event.decoder}
            if event.data:
                alert["data"] = event.data
            alert["location"] = event.location
            line = json.dumps(alert, separators=(",", ":"), ensure_ascii=False)
            new_file = offset == 0 and not os.path.exists(common.ALERTS_JSON)
            with open(common.ALERTS_JSON, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            if new_file:
                uid, gid = common.wazuh_ids()
                os.chown(common.ALERTS_JSON, uid, gid)
                os.chmod(common.ALERTS_JSON, 0o640)

        if self.integrations:
            self.integration_queue.put((alert, line))

    def serve_queue(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            os.unlink(common.QUEUE_SOCKET)
        except FileNotFoundError:
            pass
        sock.bind(common.QUEUE_SOCKET)
        uid, gid = common.wazuh_ids()
        os.chown(common.QUEUE_SOCKET, uid, gid)
        os.chmod(common.QUEUE_SOCKET, 0o660)
        sock.settimeout(0.5)
        self.queue_socket = sock

    def queue_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                data = self.queue_socket.recv(MAX_MESSAGE + 1)
            except socket.timeout:
                continue
            except OSError:
                break
            try:
                self.handle_message(data.decode("utf-8", "replace"))
            except Exception as error:  # A bad event must not stop the daemon; log it and go on.
                self.log(ANALYSISD, "ERROR", f"Stand-in failed to process an event: {error!r}")

    # -- integratord -------------------------------------------------------------------------

    def integration_loop(self) -> None:
        # One script at a time, in alert order: real integratord waits for each script to exit.
        while not self.stopping.is_set():
            try:
                alert, line = self.integration_queue.get(timeout=0.5)
            except queue.Empty:
                continue
            for block in self.integrations:
                if not integrator.alert_passes(block, alert):
                    continue
                try:
                    integrator.run_integration(
                        block, alert, line, lambda level, message: self.log(integrator.TAG, level, message), self.version)
                except Exception as error:
                    self.log(integrator.TAG, "ERROR", f"Stand-in failed to run '{block['name']}': {error!r}")

    # -- process -----------------------------------------------------------------------------

    def pid_files(self) -> list[str]:
        names = list(ALWAYS_RUNNING)
        if self.integrations:
            names.append("wazuh-integratord")
        return [os.path.join(common.RUN_DIR, f"{name}-{os.getpid()}.pid") for name in names]

    def run(self) -> int:
        if os.path.exists(common.FAIL_NEXT_RESTART):
            os.unlink(common.FAIL_NEXT_RESTART)
            self.log(ANALYSISD, "CRITICAL", "(1202): Configuration error at 'etc/ossec.conf'.")
            self.log(ANALYSISD, "INFO", "Start failed on purpose: the stand-in's fail-next-restart file was present.")
            return 1
        if not self.load():
            return 1

        from . import api
        try:
            api_server = api.start(self)
        except OSError as error:
            self.log("wazuh-apid", "CRITICAL", f"Unable to start the API on port {api.api_port()}: {error}")
            return 1

        self.serve_queue()
        os.makedirs(common.RUN_DIR, exist_ok=True)
        for path in self.pid_files():
            # Write and rename, so that wazuh-control never reads a half-written PID file.
            temporary = f"{path}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()}\n")
            os.replace(temporary, path)

        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        threads = [threading.Thread(target=self.queue_loop, daemon=True),
                   threading.Thread(target=self.integration_loop, daemon=True)]
        for thread in threads:
            thread.start()
        self.log(ANALYSISD, "INFO", "Manager stand-in started: listening on queue/sockets/queue.")

        self.stopping.wait()
        self.log(ANALYSISD, "INFO", "(1225): SIGNAL [(15)-(Terminated)] Received. Exit Cleaning...")
        if api_server is not None:
            api_server.shutdown()
        for thread in threads:
            thread.join(timeout=5)
        for path in self.pid_files():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        try:
            os.unlink(common.QUEUE_SOCKET)
        except FileNotFoundError:
            pass
        return 0


def main() -> int:
    return Manager().run()


if __name__ == "__main__":
    sys.exit(main())
