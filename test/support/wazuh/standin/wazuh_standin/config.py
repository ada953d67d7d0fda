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
        "ruleset": {"rule_files": [], "decoder_files": [], "lists": []},
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
        _read_ruleset_section(section, ruleset)
    return settings


def _list_directory(directory: str, pattern: str, excludes: list[str], already: list[str]) -> list[str]:
    """Return the files of a rule_dir or decoder_dir that match its pattern and are not excluded."""
    from .regexes import compile_osregex

    regex = compile_osregex(pattern)
    try:
        names = os.listdir(os.path.join(common.HOME, directory))
    except OSError:
        return []
    files = []
    for name in names:
        full = f"{directory}/{name}"
        if full in excludes or name in excludes or full in already or full in files:
            continue
        if regex.search(full):
            files.append(full)
    return files


def _read_ruleset_section(section: xmlreader.Element, ruleset: dict) -> None:
    """Apply one <ruleset> section the way Read_Rules (src/config/rules-config.c, 4.x) does.

    Read_Rules restarts its counters for every section, so a later <ruleset> replaces the rule
    and decoder files of the earlier ones (with the default directories when it names none),
    and replaces the lists when it has any <list>. Files are sorted by base name across all
    directories, which is the order analysisd loads them in.
    """
    includes: list[str] = []
    decoders: list[str] = []
    lists: list[str] = []
    rule_excludes: list[str] = []
    decoder_excludes: list[str] = []
    rule_dirs: list[tuple[str, str]] = []
    decoder_dirs: list[tuple[str, str]] = []

    for child in section.children:
        if child.name not in RULESET_TAGS:
            raise _invalid(child.name)
        value = child.text.strip()
        if child.name in ("rule_include", "include", "rule"):
            includes.append(value if "/" in value else f"ruleset/rules/{value}")
        elif child.name in ("decoder_include", "decoder"):
            decoders.append(value if "/" in value else f"ruleset/decoders/{value}")
        elif child.name == "list":
            lists.append(value)
        elif child.name == "rule_exclude":
            rule_excludes.append(value)
        elif child.name == "decoder_exclude":
            decoder_excludes.append(value)
        elif child.name == "rule_dir":
            rule_dirs.append((value, child.attributes.get("pattern", ".xml$")))
        elif child.name == "decoder_dir":
            decoder_dirs.append((value, child.attributes.get("pattern", ".xml$")))

    for directory, pattern in decoder_dirs or [("ruleset/decoders", ".xml$")]:
        decoders += _list_directory(directory, pattern, decoder_excludes, decoders)
    for directory, pattern in rule_dirs or [("ruleset/rules", ".xml$")]:
        includes += _list_directory(directory, pattern, rule_excludes, includes)

    ruleset["rule_files"] = sorted(includes, key=os.path.basename)
    ruleset["decoder_files"] = sorted(decoders, key=os.path.basename)
    if lists:
        ruleset["lists"] = lists


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
