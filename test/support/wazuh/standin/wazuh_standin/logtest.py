"""wazuh-logtest stand-in: reads one event per line from stdin and prints the three phases.

Like the real tool it needs a running manager, decodes JSON lines with the json decoder and
nothing else (eventchannel rules cannot be tested this way, as with the real tool), and loads
the installed ruleset for the session. Flags: -q, -v (ignored), -l <location>, -U rule:level:decoder.
"""
from __future__ import annotations

import argparse
import socket
import sys

from . import config, decoders, rules, tools


def _flatten(prefix: str, value, lines: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, item, lines)
    else:
        lines.append(f"\t{prefix}: '{value}'")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wazuh-logtest", add_help=True)
    parser.add_argument("-q", action="store_true")
    parser.add_argument("-v", action="store_true")
    parser.add_argument("-d", action="store_true")
    parser.add_argument("-l", default="stdin")
    parser.add_argument("-U")
    arguments = parser.parse_args(argv)

    if tools.running_manager_pid() is None:
        print("wazuh-logtest: ERROR: Unable to connect to the wazuh-analysisd logtest socket: the manager is not running.",
              file=sys.stderr)
        return 1
    settings = config.analysisd_settings(config.read_roots())
    ruleset = rules.load_ruleset(settings["ruleset"])
    agent = {"id": "000", "name": socket.gethostname()}

    if not arguments.q:
        print("Type one log per line\n")
    result = 0
    for line in sys.stdin.read().splitlines():
        if not line.strip():
            continue
        event = decoders.decode_json(line, arguments.l, agent)
        output = ["", "**Phase 1: Completed pre-decoding.", f"\tfull event: '{line}'", ""]
        matched = None
        if event is not None:
            output += ["**Phase 2: Completed decoding.", "\tname: 'json'"]
            _flatten("", event.data, output)
            output.append("")
            matched = rules.match_event(ruleset, event)
        else:
            output += ["**Phase 2: Completed decoding.", "\tNo decoder matched.", ""]
        if matched is not None:
            groups, _ = rules.split_groups(matched.groups)
            output += [
                "**Phase 3: Completed filtering (rules).",
                f"\tid: '{matched.id}'",
                f"\tlevel: '{matched.level}'",
                f"\tdescription: '{rules.describe(matched, event)}'",
                f"\tgroups: '{groups}'",
                f"\tfiredtimes: '{matched.fired_times}'",
                f"\tmail: '{matched.level >= settings['email_alert_level']}'",
            ]
            if matched.level >= settings["log_alert_level"] and matched.level > 0 and not matched.noalert:
                output.append("**Alert to be generated.")
        if arguments.U:
            expected = arguments.U.split(":")
            decoder = event.decoder if event else ""
            actual = [str(matched.id) if matched else "", str(matched.level) if matched else "", decoder]
            if expected != actual:
                result = 1
        if not arguments.q:
            print("\n".join(output))
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
