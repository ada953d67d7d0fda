"""Translate Wazuh's three pattern languages (osregex, osmatch/sregex, pcre2) into Python re.

osregex (the default for <field> and <regex>) is case-insensitive, "\\." means any character,
"." is a literal dot, and "\\w" covers A-Z a-z 0-9 - @ _. osmatch (the default for <match> and
<location>) is a literal match with ^, $ and | only. pcre2 is close to Python re.
"""
from __future__ import annotations

import re

_OSREGEX_ESCAPES = {
    "w": r"[A-Za-z0-9\-@_]",
    "W": r"[^A-Za-z0-9\-@_]",
    "d": r"[0-9]",
    "D": r"[^0-9]",
    "s": r"[ ]",
    "S": r"[^ ]",
    "p": r"[()*+,\-.:;<=>?\[\]!\"'#$%&|{}]",
    ".": r"[\s\S]",
    "t": r"\t",
}


def _osregex_branch(pattern: str) -> str:
    output = []
    index = 0
    while index < len(pattern):
        character = pattern[index]
        if character == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            output.append(_OSREGEX_ESCAPES.get(escaped, re.escape(escaped)))
            index += 2
            continue
        if character in "()+*":
            output.append(character)
        elif character == "^" and index == 0:
            output.append("^")
        elif character == "$" and index == len(pattern) - 1:
            output.append("$")
        else:
            output.append(re.escape(character))
        index += 1
    return "".join(output)


def compile_osregex(pattern: str) -> re.Pattern[str]:
    branches = [_osregex_branch(branch) for branch in pattern.split("|")]
    return re.compile("|".join(f"(?:{branch})" for branch in branches), re.IGNORECASE)


def compile_osmatch(pattern: str) -> re.Pattern[str]:
    branches = []
    for branch in pattern.split("|"):
        prefix = "^" if branch.startswith("^") else ""
        suffix = "$" if branch.endswith("$") and len(branch) > len(prefix) else ""
        core = branch[len(prefix):len(branch) - len(suffix)]
        branches.append(f"{prefix}{re.escape(core)}{suffix}")
    return re.compile("|".join(f"(?:{branch})" for branch in branches), re.IGNORECASE)


def _pcre2_to_python(pattern: str) -> str:
    pattern = re.sub(r"^(\(\*(?:UTF|UCP|UTF8)\))+", "", pattern)
    pattern = re.sub(r"\\N\{U\+([0-9A-Fa-f]+)\}", lambda match: f"\\U{int(match.group(1), 16):08x}", pattern)
    pattern = re.sub(r"\\x\{([0-9A-Fa-f]+)\}", lambda match: f"\\U{int(match.group(1), 16):08x}", pattern)
    pattern = pattern.replace("(?<=", "(?<=").replace("(?<!", "(?<!")
    pattern = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern)
    pattern = pattern.replace("\\h", "[ \\t]")
    # Python accepts inline global flags only at the start of the pattern.
    flags = re.findall(r"\(\?([imsx]+)\)", pattern)
    if flags:
        pattern = re.sub(r"\(\?[imsx]+\)", "", pattern)
        pattern = f"(?{''.join(sorted(set(''.join(flags))))})" + pattern
    return pattern


def compile_pcre2(pattern: str) -> re.Pattern[str]:
    """Compile a PCRE2 pattern after rewriting the PCRE2-only syntax the stock rules use."""
    return re.compile(_pcre2_to_python(pattern))


def compile_pattern(pattern: str, kind: str) -> re.Pattern[str]:
    """Compile a rule pattern of type osregex, osmatch or pcre2; raises re.error when invalid."""
    if kind == "pcre2":
        return compile_pcre2(pattern)
    if kind in ("osmatch", "sregex"):
        return compile_osmatch(pattern)
    return compile_osregex(pattern)
