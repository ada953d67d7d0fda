"""Read Wazuh configuration and rule files the way Wazuh's own reader (os_xml) does.

Wazuh files are not single-rooted XML: ossec.conf has two <ossec_config> roots and rule files
start with <var> elements. Text stays raw (no entity decoding), and comments may hold "--".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


class XmlError(Exception):
    """A structural error, with the message os_xml would give and the line it points to."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class Element:
    name: str
    attributes: dict[str, str]
    line: int
    children: list["Element"] = field(default_factory=list)
    text: str = ""

    def find_all(self, name: str) -> list["Element"]:
        return [child for child in self.children if child.name == name]

    def find(self, name: str) -> "Element | None":
        for child in self.children:
            if child.name == name:
                return child
        return None

    def child_text(self, name: str, default: str | None = None) -> str | None:
        child = self.find(name)
        return child.text.strip() if child is not None else default


_NAME = re.compile(r"[A-Za-z_][\w.\-:]*")
_ATTRIBUTE = re.compile(r"\s*([A-Za-z_][\w.\-:]*)\s*=\s*(\"[^\"]*\"|'[^']*')", re.S)


def parse(text: str) -> list[Element]:
    """Parse a Wazuh XML file and return its top-level elements, raising XmlError on bad structure."""
    roots: list[Element] = []
    stack: list[Element] = []
    position = 0
    length = len(text)

    def line_at(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    while position < length:
        start = text.find("<", position)
        if start < 0:
            if stack:
                stack[-1].text += text[position:]
            break

        if stack:
            stack[-1].text += text[position:start]

        if text.startswith("<!--", start):
            end = text.find("-->", start + 4)
            if end < 0:
                raise XmlError("XMLERR: Comment not closed.", line_at(start))
            position = end + 3
            continue

        if text.startswith("<?", start):
            end = text.find("?>", start + 2)
            if end < 0:
                raise XmlError("XMLERR: Element '?xml' not closed.", line_at(start))
            position = end + 2
            continue

        end = text.find(">", start)
        if end < 0:
            raise XmlError("XMLERR: End of file and some elements were not closed.", line_at(length))
        tag = text[start + 1:end]

        if tag.startswith("/"):
            name = tag[1:].strip()
            if not stack:
                raise XmlError(f"XMLERR: Element '{name}' not opened.", line_at(start))
            if stack[-1].name != name:
                raise XmlError(f"XMLERR: Element '{stack[-1].name}' not closed.", line_at(start))
            stack.pop()
            position = end + 1
            continue

        self_closing = tag.endswith("/")
        if self_closing:
            tag = tag[:-1]
        match = _NAME.match(tag)
        if not match:
            raise XmlError("XMLERR: Invalid element name.", line_at(start))
        name = match.group(0)
        attributes: dict[str, str] = {}
        rest = tag[match.end():]
        while rest.strip():
            attribute = _ATTRIBUTE.match(rest)
            if not attribute:
                bad = rest.strip().split("=")[0].strip()
                raise XmlError(f"XMLERR: Attribute '{bad}' has no value.", line_at(start))
            attributes[attribute.group(1)] = attribute.group(2)[1:-1]
            rest = rest[attribute.end():]

        element = Element(name, attributes, line_at(start))
        if stack:
            stack[-1].children.append(element)
        else:
            roots.append(element)
        if not self_closing:
            stack.append(element)
        position = end + 1

    if stack:
        raise XmlError("XMLERR: End of file and some elements were not closed.", line_at(length))
    return roots
