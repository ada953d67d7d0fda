#!/usr/bin/python3
"""Test stand-in for /var/ossec/bin/agent_groups of a Wazuh 4.x manager.

It behaves like framework/scripts/agent_groups.py for the calls mispwazuh makes:

  agent_groups -a -g GROUP -q   create a group: etc/shared/GROUP (wazuh:wazuh 0770) with a copy of
                                etc/shared/agent-template.conf as agent.conf (wazuh:wazuh 0660)
  agent_groups -l -g GROUP      list the agents of a group
  agent_groups -l               list the groups

Like the real script it exits 0 and prints "Error <code>: <message>" on failure. Agent
membership lives in the database of wazuh-db on a real manager; here it comes from
<home>/.standin/agent-groups.json ({"group": [{"id": "001", "name": "WIN-01"}]}), which tests write.
Every call is appended to <home>/.standin/agent-groups-calls.log.
"""
import argparse
import grp
import json
import os
import pwd
import re
import shutil
import sys

HOME = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(HOME, "etc", "shared")
MEMBERS = os.path.join(HOME, ".standin", "agent-groups.json")
CALLS = os.path.join(HOME, ".standin", "agent-groups-calls.log")
GROUP_NAME = re.compile(r"^[A-Za-z0-9.\-_]{1,255}$")


def members() -> dict:
    try:
        with open(MEMBERS, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def groups() -> list[str]:
    return sorted(name for name in os.listdir(SHARED) if os.path.isdir(os.path.join(SHARED, name)))


def set_owner(path: str, mode: int) -> None:
    os.chown(path, pwd.getpwnam("wazuh").pw_uid, grp.getgrnam("wazuh").gr_gid)
    os.chmod(path, mode)


def create_group(group: str) -> str:
    if not GROUP_NAME.match(group) or group in (".", ".."):
        return "Error 1722: Incorrect format for group_id. It can only contain letters, numbers, '.', '-' and '_'."
    path = os.path.join(SHARED, group)
    if group.lower() == "default" or os.path.exists(path):
        return f"Error 1711: The group already exists: {group}"
    os.mkdir(path)
    set_owner(path, 0o770)
    agent_conf = os.path.join(path, "agent.conf")
    shutil.copyfile(os.path.join(SHARED, "agent-template.conf"), agent_conf)
    set_owner(agent_conf, 0o660)
    return f"Group '{group}' created."


def list_agents(group: str) -> str:
    if group not in groups():
        return f"Error 1710: The group does not exist: {group}"
    agents = members().get(group, [])
    if not agents:
        return f"No agents found in group '{group}'."
    lines = [f"{len(agents)} agent(s) in group '{group}':"]
    lines += [f"  ID: {agent['id']}  Name: {agent['name']}." for agent in agents]
    return "\n".join(lines)


def list_groups() -> str:
    names = groups()
    lines = [f"Groups ({len(names)}):"]
    lines += [f"  {name} ({len(members().get(name, []))})" for name in names]
    lines.append("Unassigned agents: 0.")
    return "\n".join(lines)


def main() -> int:
    os.makedirs(os.path.dirname(CALLS), exist_ok=True)
    with open(CALLS, "a", encoding="utf-8") as log:
        log.write(json.dumps(sys.argv[1:]) + "\n")

    parser = argparse.ArgumentParser()
    parser.add_argument("-l", "--list", action="store_true")
    parser.add_argument("-a", "--add", action="store_true")
    parser.add_argument("-g", "--group-id")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args()

    if args.add and args.group_id:
        if not args.quiet:
            print("The stand-in supports only -q (no confirmation).")
            return 1
        print(create_group(args.group_id))
    elif args.list and args.group_id:
        print(list_agents(args.group_id))
    elif args.list:
        print(list_groups())
    else:
        print("Invalid options: the stand-in supports -a -g GROUP -q, -l -g GROUP and -l.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
