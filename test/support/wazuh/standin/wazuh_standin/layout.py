"""Lay out /var/ossec as a Wazuh 4.12 manager package leaves it, with the package's owners and modes.

Owners and modes follow wazuh/wazuh src/init/inst-functions.sh (InstallCommon, InstallLocal,
InstallServer) and the .deb postinst. Binaries are stand-in wrappers that call this library.
"""
from __future__ import annotations

import grp
import os
import pwd
import shutil

from . import common

LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(LIBRARY, "fixtures")

# (path relative to the home, owner, group, mode) for directories, parents first.
DIRECTORIES = [
    ("", "root", "wazuh", 0o750),
    ("active-response", "root", "wazuh", 0o750),
    ("active-response/bin", "root", "wazuh", 0o750),
    ("agentless", "root", "wazuh", 0o750),
    ("api", "root", "wazuh", 0o750),
    ("api/configuration", "wazuh", "wazuh", 0o770),
    ("api/configuration/security", "wazuh", "wazuh", 0o770),
    ("api/configuration/ssl", "wazuh", "wazuh", 0o770),
    ("backup", "root", "wazuh", 0o750),
    ("backup/agents", "wazuh", "wazuh", 0o750),
    ("backup/db", "wazuh", "wazuh", 0o750),
    ("backup/shared", "root", "wazuh", 0o750),
    ("bin", "root", "wazuh", 0o750),
    ("etc", "wazuh", "wazuh", 0o770),
    ("etc/decoders", "root", "wazuh", 0o770),
    ("etc/rules", "root", "wazuh", 0o770),
    ("etc/lists", "root", "wazuh", 0o770),
    ("etc/lists/amazon", "wazuh", "wazuh", 0o770),
    ("etc/rootcheck", "root", "wazuh", 0o770),
    ("etc/shared", "root", "wazuh", 0o770),
    ("etc/shared/default", "wazuh", "wazuh", 0o770),
    ("framework", "root", "wazuh", 0o750),
    ("framework/python", "root", "wazuh", 0o750),
    ("framework/python/bin", "root", "wazuh", 0o750),
    ("integrations", "root", "wazuh", 0o750),
    ("lib", "root", "wazuh", 0o750),
    ("logs", "wazuh", "wazuh", 0o770),
    ("logs/alerts", "wazuh", "wazuh", 0o750),
    ("logs/archives", "wazuh", "wazuh", 0o750),
    ("logs/api", "wazuh", "wazuh", 0o750),
    ("logs/cluster", "wazuh", "wazuh", 0o750),
    ("logs/firewall", "wazuh", "wazuh", 0o750),
    ("queue", "root", "wazuh", 0o750),
    ("queue/alerts", "wazuh", "wazuh", 0o770),
    ("queue/sockets", "wazuh", "wazuh", 0o770),
    ("queue/db", "wazuh", "wazuh", 0o750),
    ("queue/cluster", "wazuh", "wazuh", 0o770),
    ("queue/rids", "wazuh", "wazuh", 0o770),
    ("queue/tasks", "wazuh", "wazuh", 0o770),
    ("ruleset", "root", "wazuh", 0o750),
    ("ruleset/decoders", "root", "wazuh", 0o750),
    ("ruleset/rules", "root", "wazuh", 0o750),
    ("ruleset/sca", "root", "wazuh", 0o750),
    ("stats", "wazuh", "wazuh", 0o750),
    ("tmp", "root", "wazuh", 0o1770),
    ("var", "root", "wazuh", 0o750),
    ("var/db", "root", "wazuh", 0o770),
    ("var/multigroups", "wazuh", "wazuh", 0o770),
    ("var/run", "root", "wazuh", 0o770),
    ("var/upgrade", "root", "wazuh", 0o770),
    ("wodles", "root", "wazuh", 0o750),
    (".standin", "root", "root", 0o700),
]

STOCK_RULE_FILES = [
    "0015-ossec_rules.xml", "0490-virustotal_rules.xml", "0575-win-base_rules.xml",
    "0595-win-sysmon_rules.xml", "0800-sysmon_id_1.xml",
]

# The stand-in decodes json and windows_eventchannel events itself; these files only give the
# ruleset/decoders directory the two decoders' names, in Wazuh's decoder syntax.
JSON_DECODERS = """<!-- Stand-in decoder file: the stand-in manager decodes JSON itself. -->
<decoder name="json">
  <prematch>^{\\s*"</prematch>
  <plugin_decoder>JSON_Decoder</plugin_decoder>
</decoder>
"""
EVENTCHANNEL_DECODERS = """<!-- Stand-in decoder file: the stand-in manager decodes eventchannel messages itself. -->
<decoder name="windows_eventchannel">
  <type>ossec</type>
  <prematch>^{"Message":</prematch>
  <plugin_decoder>EventChannel_Decoder</plugin_decoder>
</decoder>
"""

INTERNAL_OPTIONS = "# Stand-in internal options. Real defaults are compiled into the daemons.\nintegrator.debug=0\nanalysisd.debug=0\n"
LOCAL_INTERNAL_OPTIONS = "# local_internal_options.conf\n#\n# This file should be handled with care. It contains\n# run time modifications that can affect the use\n# of Wazuh.\n"

API_YAML = """# USE THIS FILE AS A TEMPLATE. UNCOMMENT LINES TO APPLY CUSTOM CONFIGURATION

# host: ['0.0.0.0', '::']
# port: 55000

# drop_privileges: yes

# https:
#  enabled: yes
#  key: "server.key"
#  cert: "server.crt"
#  use_ca: False
#  ca: "ca.crt"
"""

BINARIES = {
    "wazuh-control": "wazuh-control",
    "wazuh-analysisd": "wazuh-analysisd",
    "wazuh-integratord": "wazuh-integratord",
    "wazuh-logtest-legacy": "wazuh-logtest-legacy",
    "verify-agent-conf": "verify-agent-conf",
    "wazuh-logtest": "wazuh-logtest",
    "agent_control": "agent_control",
}


def _ids(owner: str, group: str) -> tuple[int, int]:
    return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid


def _set(path: str, owner: str, group: str, mode: int) -> None:
    uid, gid = _ids(owner, group)
    os.chown(path, uid, gid, follow_symlinks=False)
    if not os.path.islink(path):
        os.chmod(path, mode)


def write_file(relative: str, content: str | bytes, owner: str, group: str, mode: int) -> None:
    path = os.path.join(common.HOME, relative)
    data = content.encode("utf-8") if isinstance(content, str) else content
    with open(path, "wb") as handle:
        handle.write(data)
    _set(path, owner, group, mode)


def copy_fixture(source: str, relative: str, owner: str, group: str, mode: int, transform=None) -> None:
    with open(os.path.join(FIXTURES, source), "rb") as handle:
        content = handle.read()
    if transform:
        content = transform(content.decode("utf-8")).encode("utf-8")
    write_file(relative, content, owner, group, mode)


def all_in_one_conf(text: str) -> str:
    """Apply the all-in-one installer's edits: local indexer host and the wazuh-server certificate names."""
    text = text.replace("<host>https://0.0.0.0:9200</host>", "<host>https://127.0.0.1:9200</host>")
    text = text.replace("/etc/filebeat/certs/filebeat.pem", "/etc/filebeat/certs/wazuh-server.pem")
    return text.replace("/etc/filebeat/certs/filebeat-key.pem", "/etc/filebeat/certs/wazuh-server-key.pem")


# The stock local_rules.xml example (rule 100001) hangs off rule 5716 from 0095-sshd_rules.xml,
# which the fixtures do not include. These placeholders carry the same IDs, so the stand-in
# prints no warning that a real 4.12 manager would not print. They match only sshd-decoded
# events, which the stand-in never produces.
SSHD_PLACEHOLDER_RULES = """<!-- Stand-in placeholders for two rules of the stock 0095-sshd_rules.xml. -->
<group name="syslog,sshd,">
  <rule id="5700" level="0" noalert="1">
    <decoded_as>sshd</decoded_as>
    <description>SSHD messages grouped.</description>
  </rule>

  <rule id="5716" level="5">
    <if_sid>5700</if_sid>
    <match>^Failed|^error: PAM: Authentication</match>
    <description>sshd: authentication failed.</description>
    <group>authentication_failed,</group>
  </rule>
</group>
"""


def binary_wrapper(tool: str) -> str:
    return (
        "#!/bin/sh\n"
        "# Wazuh manager stand-in for tests: the real daemon cannot run on the test server.\n"
        f"PYTHONPATH={LIBRARY} exec /usr/bin/python3 -m wazuh_standin.tools {tool} \"$@\"\n"
    )


def lay_out(version: str, api_port: int) -> None:
    """Create the manager tree. The caller has created the wazuh user and group."""
    for relative, owner, group, mode in DIRECTORIES:
        path = os.path.join(common.HOME, relative)
        os.makedirs(path, exist_ok=True)
        _set(path, owner, group, mode)

    copy_fixture("ossec.conf", "etc/ossec.conf", "root", "wazuh", 0o660, all_in_one_conf)
    write_file("etc/internal_options.conf", INTERNAL_OPTIONS, "root", "wazuh", 0o640)
    write_file("etc/local_internal_options.conf", LOCAL_INTERNAL_OPTIONS, "root", "wazuh", 0o640)
    write_file("etc/client.keys", "", "wazuh", "wazuh", 0o640)
    copy_fixture("local_rules.xml", "etc/rules/local_rules.xml", "wazuh", "wazuh", 0o660)
    copy_fixture("local_decoder.xml", "etc/decoders/local_decoder.xml", "wazuh", "wazuh", 0o660)
    copy_fixture("agent.conf", "etc/shared/default/agent.conf", "wazuh", "wazuh", 0o660)
    copy_fixture("agent.conf", "etc/shared/agent-template.conf", "wazuh", "wazuh", 0o660)
    copy_fixture("lists/audit-keys", "etc/lists/audit-keys", "wazuh", "wazuh", 0o660)
    copy_fixture("lists/security-eventchannel", "etc/lists/security-eventchannel", "wazuh", "wazuh", 0o660)
    write_file("etc/lists/amazon/aws-eventnames", "", "wazuh", "wazuh", 0o660)

    for name in STOCK_RULE_FILES:
        copy_fixture(f"rules/{name}", f"ruleset/rules/{name}", "root", "wazuh", 0o640)
    write_file("ruleset/rules/0095-sshd_rules.xml", SSHD_PLACEHOLDER_RULES, "root", "wazuh", 0o640)
    write_file("ruleset/decoders/0006-json_decoders.xml", JSON_DECODERS, "root", "wazuh", 0o640)
    write_file("ruleset/decoders/0580-win-eventchannel_decoders.xml", EVENTCHANNEL_DECODERS, "root", "wazuh", 0o640)

    for name, tool in BINARIES.items():
        write_file(f"bin/{name}", binary_wrapper(tool), "root", "root", 0o750)
    # verify-agent-conf is the one binary the package gives to the wazuh group.
    _set(os.path.join(common.HOME, "bin/verify-agent-conf"), "root", "wazuh", 0o750)

    interpreter = os.path.join(common.HOME, "framework/python/bin/python3")
    if os.path.lexists(interpreter):
        os.unlink(interpreter)
    os.symlink("/usr/bin/python3", interpreter)
    _set(interpreter, "root", "wazuh", 0o750)

    write_file("logs/ossec.log", "", "wazuh", "wazuh", 0o660)
    write_file("logs/integrations.log", "", "wazuh", "wazuh", 0o640)
    write_file("logs/alerts/alerts.json", "", "wazuh", "wazuh", 0o640)
    write_file("logs/alerts/alerts.log", "", "wazuh", "wazuh", 0o640)

    api_yaml = API_YAML if api_port == 55000 else API_YAML + f"\nport: {api_port}\n"
    write_file("api/configuration/api.yaml", api_yaml, "wazuh", "wazuh", 0o660)
    write_file(".standin/version", f"{version}\n", "root", "root", 0o600)


def remove() -> None:
    if os.path.isdir(common.HOME):
        shutil.rmtree(common.HOME)
