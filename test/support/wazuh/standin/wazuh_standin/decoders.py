"""Split queue messages and decode events the way analysisd's json and windows_eventchannel decoders do."""
from __future__ import annotations

import json
import re
import socket
import xml.etree.ElementTree as ElementTree

from .rules import Event


class DecodeError(Exception):
    pass


def split_message(message: str) -> tuple[str, str, str]:
    """Split "<queue>:<location>:<payload>", undoing the "|:" and "||" escapes in the location."""
    if len(message) < 3 or message[1] != ":":
        raise DecodeError(f"invalid queue message header: {message[:40]!r}")
    queue = message[0]
    location = []
    index = 2
    while index < len(message):
        character = message[index]
        if character == "|" and index + 1 < len(message) and message[index + 1] in "|:":
            location.append(message[index + 1])
            index += 2
            continue
        if character == ":":
            return queue, "".join(location), message[index + 1:]
        location.append(character)
        index += 1
    raise DecodeError("queue message has no payload after the location")


_AGENT_LOCATION = re.compile(r"^\[(\d+)\] \(([^)]*)\) ([^\s>]+)->(.*)$", re.S)


def split_location(location: str) -> tuple[dict, str]:
    """Return the agent and the bare location of "[001] (name) ip->location" or of a manager location."""
    match = _AGENT_LOCATION.match(location)
    if not match:
        return {"id": "000", "name": socket.gethostname()}, location
    agent = {"id": match.group(1), "name": match.group(2)}
    if match.group(3) != "any":
        agent["ip"] = match.group(3)
    return agent, match.group(4)


def _stringify(value):
    if isinstance(value, dict):
        return {key: _stringify(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_stringify(item) for item in value if item is not None]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode_json(payload: str, location: str, agent: dict) -> Event | None:
    """Decode a JSON event. Values become strings, as in real alerts; nulls are discarded."""
    stripped = payload.lstrip()
    if not stripped.startswith("{"):
        return None
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    return Event(decoder="json", category="syslog", data=_stringify(data), full_log=payload, location=location, agent=agent)


_LEVEL_NAMES = {"0": "AUDIT_SUCCESS", "1": "CRITICAL", "2": "ERROR", "3": "WARNING", "4": "INFORMATION", "5": "VERBOSE"}


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def decode_eventchannel(payload: str, location: str, agent: dict) -> Event:
    """Decode an eventchannel message ({"Message": ..., "Event": "<Event ...>"}) into data.win.*."""
    try:
        outer = json.loads(payload)
        event_xml = outer["Event"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise DecodeError(f"eventchannel payload is not the expected JSON: {error}") from None

    try:
        root = ElementTree.fromstring(event_xml)
    except ElementTree.ParseError as error:
        raise DecodeError(f"eventchannel Event XML is invalid: {error}") from None

    def local(tag: str) -> str:
        return tag.split("}", 1)[-1]

    system: dict[str, str] = {}
    eventdata: dict[str, str] = {}
    for section in root:
        if local(section.tag) == "System":
            for item in section:
                name = local(item.tag)
                if name == "Provider":
                    if "Name" in item.attrib:
                        system["providerName"] = item.attrib["Name"]
                    if "Guid" in item.attrib:
                        system["providerGuid"] = item.attrib["Guid"]
                elif name == "TimeCreated":
                    if "SystemTime" in item.attrib:
                        system["systemTime"] = item.attrib["SystemTime"]
                elif name == "Execution":
                    if "ProcessID" in item.attrib:
                        system["processID"] = item.attrib["ProcessID"]
                    if "ThreadID" in item.attrib:
                        system["threadID"] = item.attrib["ThreadID"]
                elif name == "Security":
                    if "UserID" in item.attrib:
                        system["securityUserID"] = item.attrib["UserID"]
                elif name == "Correlation":
                    continue
                elif item.text and item.text.strip():
                    system[_camel(name)] = item.text.strip()
        elif local(section.tag) in ("EventData", "UserData"):
            for item in section:
                name = item.attrib.get("Name")
                value = (item.text or "").strip()
                # The decoder drops empty and "-" values, and re-serialises the rest, which
                # doubles every backslash in the stored value.
                if not name or value in ("", "-"):
                    continue
                eventdata[_camel(name)] = value.replace("\\", "\\\\")

    if "level" in system:
        system["severityValue"] = _LEVEL_NAMES.get(system["level"], "UNKNOWN")
    message = outer.get("Message")
    if isinstance(message, str) and message:
        system["message"] = f"\"{message}\""

    win: dict[str, dict[str, str]] = {"system": system}
    if eventdata:
        win["eventdata"] = eventdata
    return Event(decoder="windows_eventchannel", category="ossec", data={"win": win}, full_log=payload,
                 location=location, agent=agent)
