"""curl wrapper for the test server: serves https://packages.wazuh.com/<major.minor>/wazuh-install.sh
from the installer stand-in and passes every other call to the real /usr/bin/curl unchanged.

Each call is logged to /var/log/curl-standin.log with its URLs only (no headers, no user),
because other arguments may carry secrets.
"""
from __future__ import annotations

import os
import re
import sys
import time
import urllib.parse

from . import common

REAL_CURL = "/usr/bin/curl"
LOG = "/var/log/curl-standin.log"
LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(LIBRARY, "wazuh-install.sh.in")
INSTALLER_URL = re.compile(r"^https://packages\.wazuh\.com/(\d+\.\d+)/wazuh-install\.sh$")
DEFAULT_VERSIONS = {
    "4.7": "4.7.5", "4.8": "4.8.2", "4.9": "4.9.2", "4.10": "4.10.1", "4.11": "4.11.2",
    "4.12": "4.12.0", "4.13": "4.13.1", "4.14": "4.14.1",
}
# Short options of curl that take a value (so "-sSLo file" ends at the "o").
SHORT_WITH_VALUE = set("oHduXAeTwmxEKbcFryYzCQtPhU")
LONG_WITH_VALUE = {
    "--output", "--header", "--data", "--data-raw", "--data-binary", "--user", "--request", "--user-agent",
    "--referer", "--upload-file", "--write-out", "--max-time", "--proxy", "--cert", "--config", "--cookie",
    "--cookie-jar", "--form", "--range", "--connect-timeout", "--cacert", "--capath", "--key", "--retry",
    "--resolve", "--connect-to", "--output-dir", "--url", "--proto", "--proto-redir", "--retry-delay",
    "--retry-max-time", "--max-redirs",
}


def _log(message: str) -> None:
    try:
        with open(LOG, "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")
    except OSError:
        pass


def _safe(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def parse(arguments: list[str]) -> tuple[list[str], str | None, bool, bool]:
    """Return the URLs, the -o file, whether -O was given and whether -f was given."""
    urls: list[str] = []
    output = None
    remote_name = False
    fail = False
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument.startswith("--"):
            name, has_value, value = argument.partition("=")
            if name in LONG_WITH_VALUE:
                if not has_value:
                    index += 1
                    value = arguments[index] if index < len(arguments) else ""
                if name == "--output":
                    output = value
                elif name == "--url":
                    urls.append(value)
            elif name == "--remote-name":
                remote_name = True
            elif name in ("--fail", "--fail-with-body"):
                fail = True
        elif argument.startswith("-") and len(argument) > 1:
            for position, flag in enumerate(argument[1:], start=1):
                if flag in SHORT_WITH_VALUE:
                    value = argument[position + 1:]
                    if not value:
                        index += 1
                        value = arguments[index] if index < len(arguments) else ""
                    if flag == "o":
                        output = value
                    break
                if flag == "O":
                    remote_name = True
                elif flag == "f":
                    fail = True
        else:
            urls.append(argument)
        index += 1
    return urls, output, remote_name, fail


def main(arguments: list[str]) -> int:
    urls, output, remote_name, fail = parse(arguments)
    match = INSTALLER_URL.match(urls[0]) if len(urls) == 1 else None
    if not match:
        _log("pass-through " + " ".join(_safe(url) for url in urls))
        os.execv(REAL_CURL, ["curl", *arguments])

    versions = dict(DEFAULT_VERSIONS)
    versions.update(common.load_settings().get("installerVersions", {}))
    version = versions.get(match.group(1))
    if version is None:
        _log(f"served 404 {urls[0]}")
        if fail:
            print("curl: (22) The requested URL returned error: 404", file=sys.stderr)
            return 22
        body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code></Error>\n"
    else:
        with open(TEMPLATE, encoding="utf-8") as handle:
            body = handle.read().replace("@WAZUH_VERSION@", version)
        _log(f"served {urls[0]} (stand-in installer for {version})")

    if remote_name and output is None:
        output = "wazuh-install.sh"
    if output and output != "-":
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(body)
    else:
        sys.stdout.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
