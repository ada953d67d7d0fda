"""Load the installed ruleset and match decoded events against it, as wazuh-analysisd does.

Covered: rule trees from if_sid, if_group and if_matched_sid (with frequency and timeframe),
overwrite="yes", <var> substitution, decoded_as, category, field, match, regex, location,
srcip/dstip/user and other static fields as plain field lookups, CDB lists (match_key,
not_match_key, address_match_key), options, groups and description $(field) substitution.
Ignored: time, weekday, same_*/different_*, if_level, if_fts and check_diff.
"""
from __future__ import annotations

import ipaddress
import os
import re
import time
from dataclasses import dataclass, field

from . import common, xmlreader
from .regexes import compile_pattern

COMPLIANCE_PREFIXES = ("pci_dss_", "gpg13_", "gdpr_", "hipaa_", "nist_800_53_", "tsc_")

FIELD_LIKE_ELEMENTS = {
    "srcip", "dstip", "srcport", "dstport", "user", "url", "id", "status", "action", "protocol",
    "system_name", "program_name", "hostname", "data", "extra_data", "srcuser", "dstuser",
    "srcgeoip", "dstgeoip",
}
IGNORED_ELEMENTS = {
    "time", "weekday", "same_source_ip", "same_srcip", "same_id", "same_user", "same_location",
    "same_srcuser", "same_dstip", "same_srcport", "same_dstport", "same_protocol", "same_action",
    "same_url", "same_field", "same_system_name", "same_data", "same_extra_data", "same_status",
    "different_srcip", "different_url", "different_srcgeoip", "different_field", "different_id",
    "not_same_source_ip", "not_same_user", "not_same_agent", "not_same_id", "not_same_field",
    "if_level", "if_fts", "check_diff", "check_if_ignored", "ignore", "info", "mitre", "global_frequency",
}
KNOWN_ELEMENTS = FIELD_LIKE_ELEMENTS | IGNORED_ELEMENTS | {
    "match", "regex", "decoded_as", "category", "field", "location", "if_sid", "if_group",
    "if_matched_sid", "if_matched_group", "description", "options", "group", "list",
}
RULE_ATTRIBUTES = {"id", "level", "maxsize", "frequency", "timeframe", "ignore", "overwrite", "noalert"}


class RulesError(Exception):
    """Failed ruleset load, with the ERROR and CRITICAL lines (without timestamp and tag)."""

    def __init__(self, lines: list[tuple[str, str]]):
        super().__init__("; ".join(message for _, message in lines))
        self.lines = lines


@dataclass
class Condition:
    kind: str            # field, match, regex, location, list
    name: str            # field name, list path, or element name
    pattern: re.Pattern[str] | None
    negate: bool = False
    lookup: str = "match_key"
    list_entries: dict[str, str] | None = None


@dataclass
class Rule:
    id: int
    level: int
    file: str
    conditions: list[Condition] = field(default_factory=list)
    decoded_as: str | None = None
    category: str = "syslog"
    if_sid: list[int] = field(default_factory=list)
    if_group: list[str] = field(default_factory=list)
    if_matched_sid: int | None = None
    frequency: int = 0
    timeframe: int = 0
    options: set[str] = field(default_factory=set)
    groups: list[str] = field(default_factory=list)
    description: str = ""
    mitre_ids: list[str] = field(default_factory=list)
    noalert: bool = False
    children: list["Rule"] = field(default_factory=list)
    parents: list["Rule"] = field(default_factory=list)
    fired_times: int = 0
    recent_matches: list[float] = field(default_factory=list)


@dataclass
class Event:
    decoder: str              # "json" or "windows_eventchannel"
    category: str             # decoder type: "syslog" for json, "ossec" for eventchannel
    data: dict
    full_log: str
    location: str
    agent: dict

    def field_value(self, name: str) -> str | None:
        value = self.data
        for part in name.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        if isinstance(value, dict):
            return None
        if isinstance(value, list):
            return ",".join(str(item) for item in value)
        return str(value)


@dataclass
class Ruleset:
    roots: list[Rule]
    by_id: dict[int, Rule]
    warnings: list[str]


def _substitute(text: str, variables: dict[str, str]) -> str:
    for name in sorted(variables, key=len, reverse=True):
        text = text.replace(f"${name}", variables[name])
    return text


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\s]+", text) if item.strip()]


def load_lists(ruleset: dict) -> dict[str, dict[str, str]]:
    lists: dict[str, dict[str, str]] = {}
    for path in ruleset["lists"]:
        # A list path without a directory is relative to ruleset/rules (src/analysisd/lists.c).
        absolute = os.path.join(common.HOME, path if "/" in path else f"ruleset/rules/{path}")
        try:
            with open(absolute, encoding="utf-8", errors="replace") as handle:
                entries = {}
                for line in handle:
                    line = line.rstrip("\r\n")
                    key, separator, value = _split_cdb_line(line)
                    if separator:
                        entries[key] = value
                lists[path] = entries
        except OSError:
            continue
    return lists


def _split_cdb_line(line: str) -> tuple[str, bool, str]:
    if line.startswith('"'):
        end = line.find('"', 1)
        if end > 0 and line[end + 1:end + 2] == ":":
            return line[1:end], True, line[end + 2:].strip('"')
    key, separator, value = line.partition(":")
    return key, bool(separator), value.strip('"')


def _parse_rule(element: xmlreader.Element, file: str, variables: dict[str, str], group_names: list[str],
                lists: dict[str, dict[str, str]], warnings: list[str]) -> Rule | None:
    attributes = {name: _substitute(value, variables) for name, value in element.attributes.items()}
    for name in attributes:
        if name not in RULE_ATTRIBUTES:
            raise RulesError([("ERROR", f"(5105): Invalid rule attributes inside file: '{file}'.")])
    if "id" not in attributes or "level" not in attributes:
        raise RulesError([("ERROR", f"(5103): Invalid rule on '{file}'. Missing id/level.")])
    try:
        rule = Rule(id=int(attributes["id"]), level=int(attributes["level"]), file=file)
    except ValueError:
        raise RulesError([("ERROR", f"(5103): Invalid rule on '{file}'. Missing id/level.")]) from None

    rule.frequency = int(attributes.get("frequency", "0") or 0)
    rule.timeframe = int(attributes.get("timeframe", "0") or 0)
    rule.noalert = attributes.get("noalert") in ("1", "yes")
    rule.groups = list(group_names)

    for child in element.children:
        text = _substitute(child.text.strip(), variables)
        if child.name not in KNOWN_ELEMENTS:
            raise RulesError([("ERROR", f"(5102): Invalid rule element: '{child.name}'.")])
        negate = child.attributes.get("negate") == "yes"
        try:
            if child.name == "field":
                kind = child.attributes.get("type", "osregex")
                rule.conditions.append(Condition("field", child.attributes.get("name", ""), compile_pattern(text, kind), negate))
            elif child.name in ("match", "location"):
                kind = child.attributes.get("type", "osmatch")
                rule.conditions.append(Condition(child.name, child.name, compile_pattern(text, kind), negate))
            elif child.name == "regex":
                kind = child.attributes.get("type", "osregex")
                rule.conditions.append(Condition("regex", "regex", compile_pattern(text, kind), negate))
            elif child.name in FIELD_LIKE_ELEMENTS:
                rule.conditions.append(_static_condition(child.name, text))
        except re.error as error:
            raise RulesError([("ERROR", f"(1450): Syntax error on regex: '{text}': {error}.")]) from None

        if child.name == "decoded_as":
            rule.decoded_as = text
        elif child.name == "category":
            rule.category = text
        elif child.name == "if_sid":
            for item in _split_list(text):
                if not item.isdigit():
                    warnings.append(f"(7618): Invalid 'if_sid' value: '{item}'. Rule '{rule.id}' will be ignored.")
                    return None
                rule.if_sid.append(int(item))
        elif child.name in ("if_group", "if_matched_group"):
            rule.if_group.extend(_split_list(text))
        elif child.name == "if_matched_sid":
            rule.if_matched_sid = int(text) if text.isdigit() else None
        elif child.name == "options":
            rule.options.update(_split_list(text))
        elif child.name == "group":
            rule.groups.extend(item for item in text.split(",") if item.strip())
        elif child.name == "description":
            rule.description = child.text.strip()
        elif child.name == "mitre":
            rule.mitre_ids.extend(item.text.strip() for item in child.find_all("id"))
        elif child.name == "list":
            path = text
            entries = lists.get(path)
            if entries is None:
                warnings.append(f"(7616): List '{path}' could not be loaded. Rule '{rule.id}' will be ignored.")
                return None
            rule.conditions.append(Condition("list", child.attributes.get("field", ""), None,
                                             lookup=child.attributes.get("lookup", "match_key"), list_entries=entries))
    return rule


def _static_condition(name: str, text: str) -> Condition:
    negate = text.startswith("!")
    value = text[1:] if negate else text
    if name in ("srcip", "dstip"):
        return Condition("ip", name, re.compile(re.escape(value)), negate)
    return Condition("field", name, compile_pattern(value, "osmatch"), negate)


def _read_xml_file(file: str, critical: str) -> list[xmlreader.Element]:
    absolute = os.path.join(common.HOME, file)
    if not os.path.exists(absolute):
        raise RulesError([("ERROR", f"(1103): Could not open file '{file}' due to [(2)-(No such file or directory)]."),
                          ("CRITICAL", critical)])
    if not common.readable_by_wazuh(absolute):
        raise RulesError([("ERROR", f"(1103): Could not open file '{file}' due to [(13)-(Permission denied)]."),
                          ("CRITICAL", critical)])
    with open(absolute, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    try:
        return xmlreader.parse(text)
    except xmlreader.XmlError as error:
        raise RulesError([("ERROR", f"(1226): Error reading XML file '{file}': {error.message} (line {error.line})."),
                          ("CRITICAL", critical)]) from None


def check_decoder_files(files: list[str]) -> None:
    """Check that every decoder file reads as Wazuh XML with decoder and var roots.

    NOTE: the stand-in decodes only json and windows_eventchannel, so decoder contents are not checked.
    """
    for file in files:
        critical = f"(1202): Configuration error at '{file}'."
        for root in _read_xml_file(file, critical):
            if root.name not in ("decoder", "var"):
                raise RulesError([("ERROR", f"(2101): Parent decoder name invalid: '{root.name}'."), ("CRITICAL", critical)])


def load_ruleset(ruleset_settings: dict) -> Ruleset:
    """Read every rule file, build the rule tree and collect warnings; raises RulesError on errors."""
    warnings: list[str] = []
    check_decoder_files(ruleset_settings["decoder_files"])
    lists = load_lists(ruleset_settings)
    tree = _RuleTree(warnings)

    for file in ruleset_settings["rule_files"]:
        roots = _read_xml_file(file, f"(1220): Error loading the rules: '{file}'.")

        variables: dict[str, str] = {}
        try:
            for root in roots:
                if root.name == "var":
                    variables[root.attributes.get("name", "")] = root.text.strip()
                    continue
                if root.name != "group":
                    raise RulesError([("ERROR", f"(5101): Invalid root element: '{root.name}'.")])
                group_names = [item for item in root.attributes.get("name", "").split(",") if item.strip()]
                for element in root.children:
                    if element.name != "rule":
                        raise RulesError([("ERROR", f"(5102): Invalid rule element: '{element.name}'.")])
                    rule = _parse_rule(element, file, variables, group_names, lists, warnings)
                    if rule is not None:
                        tree.add(rule, overwrite=element.attributes.get("overwrite") == "yes")
        except RulesError as error:
            raise RulesError(error.lines + [("CRITICAL", f"(1220): Error loading the rules: '{file}'.")]) from None

    return Ruleset(roots=tree.roots, by_id=tree.by_id, warnings=warnings)


def _insert_by_level(nodes: list[Rule], rule: Rule) -> None:
    """Insert a rule before the first node of a lower level, as _OS_AddRule (rules_list.c) does."""
    for index, node in enumerate(nodes):
        if rule.level > node.level:
            nodes.insert(index, rule)
            return
    nodes.append(rule)


class _RuleTree:
    """The rule tree, built one rule at a time in load order as analysisd builds it.

    A parent must be loaded before its children: an if_sid or if_group that names a rule from a
    later file finds nothing. An overwrite changes the rule in place, keeping its position.
    """

    def __init__(self, warnings: list[str]) -> None:
        self.roots: list[Rule] = []
        self.by_id: dict[int, Rule] = {}
        self.loaded: list[Rule] = []
        self.warnings = warnings

    def add(self, rule: Rule, overwrite: bool) -> None:
        existing = self.by_id.get(rule.id)
        if existing is not None:
            if overwrite:
                self._overwrite(existing, rule)
            else:
                self.warnings.append(f"(7612): Rule ID '{rule.id}' is duplicated. Only the first occurrence will be considered.")
            return
        if overwrite:
            self.warnings.append(f"(7613): Rule ID '{rule.id}' does not exist but 'overwrite' is set to 'yes'. Still, the rule will be loaded.")

        if not self._attach(rule):
            return
        self.by_id[rule.id] = rule
        self.loaded.append(rule)

    def _attach(self, rule: Rule) -> bool:
        parent_ids = list(rule.if_sid)
        if rule.if_matched_sid is not None and not parent_ids:
            parent_ids = [rule.if_matched_sid]

        if parent_ids:
            attached = False
            for sid in parent_ids:
                parent = self.by_id.get(sid)
                if parent is None:
                    if rule.if_matched_sid is not None and not rule.if_sid:
                        self.warnings.append(f"(7620): Signature ID '{sid}' was not found. Invalid 'if_matched_sid'.Rule '{rule.id}' will be ignored.")
                        return False
                    self.warnings.append(f"(7617): Signature ID '{sid}' was not found and will be ignored in the 'if_sid' option of rule '{rule.id}'.")
                    continue
                rule.parents.append(parent)
                _insert_by_level(parent.children, rule)
                attached = True
            if not attached:
                self.warnings.append(f"(7619): Empty 'if_sid' value. Rule '{rule.id}' will be ignored.")
            return attached

        if rule.if_group:
            parent_groups = set(rule.if_group)
            matching = [candidate for candidate in self.loaded if parent_groups & {group.strip() for group in candidate.groups}]
            if not matching:
                self.warnings.append(f"(7610): Group '{','.join(rule.if_group)}' was not found. Invalid 'if_group'. Rule '{rule.id}' will be ignored.")
                return False
            for parent in matching:
                rule.parents.append(parent)
                _insert_by_level(parent.children, rule)
            return True

        _insert_by_level(self.roots, rule)
        return True

    def _overwrite(self, existing: Rule, rule: Rule) -> None:
        # if_sid, if_group and if_matched_sid keep their original values (OS_AddRuleInfo).
        for name, new, old in (("if_sid", rule.if_sid, existing.if_sid), ("if_group", rule.if_group, existing.if_group)):
            if new and new != old:
                self.warnings.append(f"(7605): It is not possible to overwrite '{name}' value in rule '{rule.id}'. The original value is retained.")
        if rule.if_matched_sid is not None and rule.if_matched_sid != existing.if_matched_sid:
            self.warnings.append(f"(7605): It is not possible to overwrite 'if_matched_sid' value in rule '{rule.id}'. The original value is retained.")
        for attribute in ("level", "conditions", "decoded_as", "category", "frequency", "timeframe", "options",
                          "groups", "description", "mitre_ids", "noalert", "file"):
            setattr(existing, attribute, getattr(rule, attribute))


def _condition_matches(condition: Condition, event: Event) -> bool:
    if condition.kind == "field":
        value = event.field_value(condition.name)
        if value is None:
            return False
        found = bool(condition.pattern.search(value))
    elif condition.kind == "match" or condition.kind == "regex":
        found = bool(condition.pattern.search(event.full_log))
    elif condition.kind == "location":
        found = bool(condition.pattern.search(event.location))
    elif condition.kind == "ip":
        value = event.field_value(condition.name)
        if value is None:
            return False
        found = _ip_in(value, condition.pattern.pattern.replace("\\", ""))
    elif condition.kind == "list":
        value = event.field_value(condition.name)
        if value is None:
            return False
        found = _list_lookup(condition, value)
        return found
    else:
        found = False
    return found != condition.negate


def _ip_in(value: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return value == network


def _list_lookup(condition: Condition, value: str) -> bool:
    entries = condition.list_entries or {}
    if condition.lookup == "not_match_key":
        return value not in entries
    if condition.lookup in ("address_match_key", "not_address_match_key"):
        found = value in entries
        if not found:
            parts = value.split(".")
            found = any(".".join(parts[:length]) + "." in entries for length in range(1, len(parts)))
        return found if condition.lookup == "address_match_key" else not found
    return value in entries


def _rule_matches(rule: Rule, event: Event, now: float, parent: Rule | None) -> bool:
    if rule.decoded_as is not None and rule.decoded_as != event.decoder:
        return False
    if not all(_condition_matches(condition, event) for condition in rule.conditions):
        return False
    if rule.frequency and parent is not None:
        # The parent's matches within the timeframe, this event included, must reach the frequency.
        # NOTE: analysisd counts previous events with its own offsets; this is an approximation.
        recent = [stamp for stamp in parent.recent_matches if now - stamp <= rule.timeframe]
        if len(recent) < rule.frequency:
            return False
    return True


def _check_children(rule: Rule, event: Event, now: float) -> Rule:
    for child in rule.children:
        if _rule_matches(child, event, now, rule):
            child.recent_matches.append(now)
            return _check_children(child, event, now)
    return rule


def match_event(ruleset: Ruleset, event: Event) -> Rule | None:
    """Return the rule an event ends on: the first matching root of the event's category, then its deepest matching child."""
    now = time.time()
    for root in ruleset.roots:
        if root.category != event.category:
            continue
        if _rule_matches(root, event, now, None):
            root.recent_matches.append(now)
            result = _check_children(root, event, now)
            result.fired_times += 1
            for rule in (root, result):
                rule.recent_matches[:] = [stamp for stamp in rule.recent_matches if now - stamp <= 3600]
            return result
    return None


def describe(rule: Rule, event: Event) -> str:
    """Return the rule description with $(field) replaced by the event's values."""
    return re.sub(r"\$\(([^)]+)\)", lambda match: event.field_value(match.group(1)) or "", rule.description)


def split_groups(groups: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Separate compliance groups (pci_dss_10.6.1 and the like) from the plain groups, as alerts do."""
    plain: list[str] = []
    compliance: dict[str, list[str]] = {}
    for group in groups:
        group = group.strip()
        prefix = next((candidate for candidate in COMPLIANCE_PREFIXES if group.startswith(candidate)), None)
        if prefix:
            compliance.setdefault(prefix[:-1], []).append(group[len(prefix):])
        elif group:
            plain.append(group)
    return plain, compliance
