"""Read ossec.conf and check the sections wazuh-analysisd and wazuh-integratord read."""
from __future__ import annotations

import os

from . import common, xmlreader

CONF_PATH = "etc/ossec.conf"

INTEGRATION_TAGS_BASE = {
    "name", "api_key", "hook_url", "level", "rule_id", "group", "event_location", "alert_format",
    "max_log", "options",
}
# timeout and retries were added to <integration> in Wazuh 4.8.0.
INTEGRATION_TAGS_FROM_4_8 = {"timeout", "retries"}

RULESET_TAGS = {
    "decoder_dir", "rule_dir", "rule_include", "rule_exclude", "decoder_include", "decoder_exclude",
    "list", "include", "decoder", "rule",
}
ALERTS_TAGS = {"log_alert_level", "email_alert_level", "use_geoip"}


class ConfigError(Exception):
    """Invalid configuration, with the (level, message) lines the daemon would log."""

    def __init__(self, lines: list[tuple[str, str]]):
        super().__init__("; ".join(message for _, message in lines))
        self.lines = lines


def read_roots() -> list[xmlreader.Element]:
    path = os.path.join(common.HOME, CONF_PATH)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as error:
        raise ConfigError([("ERROR", f"(1103): Could not open file '{CONF_PATH}' due to [({error.errno})-({error.strerror})]."),
                           ("CRITICAL", f"(1202): Configuration error at '{CONF_PATH}'.")]) from None
    try:
        roots = xmlreader.parse(text)
    except xmlreader.XmlError as error:
        raise ConfigError([("ERROR", f"(1226): Error reading XML file '{CONF_PATH}': {error.message} (line {error.line})."),
                           ("CRITICAL", f"(1202): Configuration error at '{CONF_PATH}'.")]) from None
    for root in roots:
        if root.name != "ossec_config":
            raise ConfigError([("ERROR", f"(1230): Invalid element in the configuration: '{root.name}'."),
                               ("CRITICAL", f"(1202): Configuration error at '{CONF_PATH}'.")])
    return roots


def _sections(roots: list[xmlreader.Element], name: str) -> list[xmlreader.Element]:
    return [section for root in roots for section in root.find_all(name)]


def analysisd_settings(roots: list[xmlreader.Element]) -> dict:
    """Return the alert levels and ruleset paths; raises ConfigError for invalid elements."""
    settings = {
        "log_alert_level": 3,
        "email_alert_level": 12,
        "jsonout_output": True,
        "ruleset": {"rule_dirs": [], "rule_includes": [], "rule_excludes": [], "decoder_dirs": [], "lists": []},
    }

    for section in _sections(roots, "alerts"):
        for child in section.children:
            if child.name not in ALERTS_TAGS:
                raise _invalid(child.name)
            if child.name in ("log_alert_level", "email_alert_level"):
                value = child.text.strip()
                if not value.isdigit():
                    raise ConfigError([("ERROR", f"(1235): Invalid value for element '{child.name}': {value}."),
                                       ("CRITICAL", f"(1202): Configuration error at '{CONF_PATH}'.")])
                settings[child.name] = int(value)

    for section in _sections(roots, "global"):
        value = section.child_text("jsonout_output")
        if value is not None:
            settings["jsonout_output"] = value == "yes"

    ruleset = settings["ruleset"]
    for section in _sections(roots, "ruleset"):
        for child in section.children:
            if child.name not in RULESET_TAGS:
                raise _invalid(child.name)
            value = child.text.strip()
            if child.name == "rule_dir":
                ruleset["rule_dirs"].append(value)
            elif child.name in ("rule_include", "include", "rule"):
                ruleset["rule_includes"].append(value if "/" in value else f"ruleset/rules/{value}")
            elif child.name == "rule_exclude":
                ruleset["rule_excludes"].append(os.path.basename(value))
            elif child.name == "decoder_dir":
                ruleset["decoder_dirs"].append(value)
            elif child.name == "list":
                ruleset["lists"].append(value if "/" in value else f"ruleset/rules/{value}")
    return settings


def _invalid(name: str) -> ConfigError:
    return ConfigError([("ERROR", f"(1230): Invalid element in the configuration: '{name}'."),
                        ("CRITICAL", f"(1202): Configuration error at '{CONF_PATH}'.")])


def integrations(roots: list[xmlreader.Element], version: str | None = None) -> list[dict]:
    """Return the <integration> blocks as integratord reads them; raises ConfigError like it does."""
    allowed = set(INTEGRATION_TAGS_BASE)
    major, minor, _ = common.version_tuple(version)
    if (major, minor) >= (4, 8):
        allowed |= INTEGRATION_TAGS_FROM_4_8

    blocks = []
    for section in _sections(roots, "integration"):
        block = {"timeout": 10, "retries": 3, "max_log": 165, "alert_format": "", "line": section.line}
        for child in section.children:
            if child.name not in allowed:
                raise ConfigError([("ERROR", f"(1230): Invalid element in the configuration: '{child.name}'."),
                                   ("CRITICAL", f"(1202): Configuration error at '{CONF_PATH}'.")])
            value = child.text.strip()
            if child.name in ("level", "timeout", "retries", "max_log"):
                if not value.isdigit():
                    raise ConfigError([("ERROR", f"(1235): Invalid value for element '{child.name}': {value}."),
                                       ("CRITICAL", f"(1202): Configuration error at '{CONF_PATH}'.")])
                block[child.name] = int(value)
            else:
                # Outer whitespace goes, as os_xml trims it; spaces inside a group list stay.
                block[child.name] = value
        if not block.get("name", "").strip():
            raise ConfigError([("ERROR", "(1228): Element 'name' without any option."),
                               ("CRITICAL", f"(1202): Configuration error at '{CONF_PATH}'.")])
        block["name"] = block["name"].strip()
        blocks.append(block)
    return blocks
