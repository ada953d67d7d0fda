#!/var/ossec/framework/python/bin/python3
"""Check the IoCs of one Wazuh alert against MISP and report matches to the manager.

wazuh-integratord runs this file once per matching alert, one alert at a time, as user wazuh:

    custom-misp <alert file> <api_key> <hook_url> <debug> <options file> <timeout> <retries> [> /dev/null 2>&1]

Wazuh 4.7 passes no timeout and retries, and an unset option is an empty string. The MISP URL, the
auth key and every other setting come from one JSON config file (MISPWAZUH_INTEGRATION_CONFIG, else
/var/ossec/etc/mispwazuh/misp.json), never from argv, because integratord puts argv on the process
list and into its error messages.

The script always exits with status 0: older integratord builds disable an integration after one
non-zero exit. Every failure goes to the integration log as one line with the alert id, and MISP
failures also reach the manager's queue as a rate-limited `misp.error` event.

Only the standard library is used, and the code runs on Python 3.8 and newer. Every alert starts a
new interpreter, so modules are imported only where they are used. ssl and http.client are loaded
for a MISP request, socket to send a message, fcntl for an error event, ipaddress for an alert with
IP addresses, and sqlite3 when the cache is on.
"""

import json
import os
import sys
import time

INTEGRATION_NAME = "misp"
LOG_TAG = "custom-misp"
USER_AGENT = "mispwazuh-custom-misp/0.1.0"

DEFAULT_CONFIG_PATH = "/var/ossec/etc/mispwazuh/misp.json"
CONFIG_PATH_ENV = "MISPWAZUH_INTEGRATION_CONFIG"
DEFAULT_LOG_FILE = "/var/ossec/logs/integrations.log"

# Wazuh's maltiverse.py caps a queue message at 65535 bytes; a larger datagram fails with EMSGSIZE
# (errno 90), so analysisd never receives it.
QUEUE_MESSAGE_MAX_BYTES = 65535

# Values in result messages longer than this are cut, so one long event info cannot push the
# message over the queue limit.
MESSAGE_TEXT_MAX_CHARS = 2048

REQUIRED = object()

# Every setting the config file accepts: name -> (kind, default). A name not listed here is an error,
# so a typo in the file is reported instead of silently falling back to a default.
SETTINGS = {
    "misp_url": ("https_url", REQUIRED),
    "api_key": ("api_key", REQUIRED),
    "ca_file": ("optional_path", None),
    "verify_tls": ("bool", True),
    "connect_timeout": ("seconds", 3.0),
    "read_timeout": ("seconds", 5.0),
    "total_timeout": ("seconds", 8.0),
    "retries": ("count", 2),
    "published_only": ("bool", False),
    "enforce_warninglist": ("bool", True),
    "limit": ("positive_int", 100),
    "max_response_bytes": ("positive_int", 4 * 1024 * 1024),
    "parent_domains": ("bool", True),
    "cache_enabled": ("bool", True),
    "cache_dir": ("path", "/var/ossec/var/mispwazuh"),
    "cache_hit_ttl": ("seconds", 3600.0),
    "cache_miss_ttl": ("seconds", 600.0),
    "cache_max_rows": ("positive_int", 100000),
    "error_interval": ("seconds", 300.0),
    "state_file": ("path", "/var/ossec/var/mispwazuh/state.json"),
    "queue_socket": ("path", "/var/ossec/queue/sockets/queue"),
    "log_file": ("path", DEFAULT_LOG_FILE),
    "skip_groups": ("string_list", ["misp"]),
    "debug": ("bool", False),
}

MAX_SECONDS_SETTING = 86400.0 * 30

# IoC kinds and the MISP attribute types searched for each. For a composite type the number is the
# half ("a|b" split at the first "|") that must equal the IoC; plain types compare the whole value.
MISP_TYPES_BY_KIND = {
    "domain": {"domain": None, "hostname": None, "domain|ip": 0, "hostname|port": 0},
    "ip": {"ip-dst": None, "ip-src": None, "ip-dst|port": 0, "ip-src|port": 0, "domain|ip": 1},
    "md5": {"md5": None, "filename|md5": 1, "malware-sample": 1},
    "sha1": {"sha1": None, "filename|sha1": 1},
    "sha256": {"sha256": None, "filename|sha256": 1},
    "imphash": {"imphash": None, "filename|imphash": 1},
}

HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "imphash": 32}
HEX_DIGITS = frozenset("0123456789abcdef")

SYSMON_PROVIDER = "microsoft-windows-sysmon"
SYSMON_CHANNEL = "microsoft-windows-sysmon/operational"

# The fields extracted from each alert shape, one entry per shape. Routing looks at the alert's
# content and at group membership, never at the position of a group in rule.groups. Field kinds:
#   hashes    "SHA1=..,MD5=..,SHA256=..,IMPHASH=.." (any subset, any order, any case) or a bare hex hash
#   hash      a bare hex hash of the kind named after the colon ("hash:sha256")
#   domain    a DNS name
#   ip        an IPv4 or IPv6 address
#   dns_results  Sysmon's QueryResults list, whose IP addresses are looked up
# A field is a dotted path into the alert JSON. When a tuple names several paths, the first one
# present in the alert is used.
FIELD_TABLE = [
    {"name": "sysmon_event_1", "sysmon_event_id": "1",
     "fields": [("hashes", ("data.win.eventdata.hashes",))]},
    {"name": "sysmon_event_3", "sysmon_event_id": "3",
     "fields": [("ip", ("data.win.eventdata.destinationIp",)),
                ("domain", ("data.win.eventdata.destinationHostname",)),
                # An inbound connection (Initiated false) has the remote party as its source.
                ("ip", ("data.win.eventdata.sourceIp",), ("data.win.eventdata.initiated", "false"))]},
    {"name": "sysmon_event_6", "sysmon_event_id": "6",
     "fields": [("hashes", ("data.win.eventdata.hashes",))]},
    {"name": "sysmon_event_7", "sysmon_event_id": "7",
     "fields": [("hashes", ("data.win.eventdata.hashes",))]},
    # Sysmon names this field Hash (win.eventdata.hash), not Hashes.
    {"name": "sysmon_event_15", "sysmon_event_id": "15",
     "fields": [("hashes", ("data.win.eventdata.hash", "data.win.eventdata.hashes"))]},
    {"name": "sysmon_event_22", "sysmon_event_id": "22",
     "fields": [("domain", ("data.win.eventdata.queryName",)),
                ("dns_results", ("data.win.eventdata.queryResults",))]},
    {"name": "sysmon_event_23", "sysmon_event_id": "23",
     "fields": [("hashes", ("data.win.eventdata.hashes",))]},
    {"name": "sysmon_event_24", "sysmon_event_id": "24",
     "fields": [("hashes", ("data.win.eventdata.hashes",))]},
    {"name": "sysmon_event_26", "sysmon_event_id": "26",
     "fields": [("hashes", ("data.win.eventdata.hashes",))]},
    {"name": "syscheck_file", "syscheck_events": ("added", "modified"),
     "fields": [("hash:sha256", ("syscheck.sha256_after",)),
                ("hash:sha1", ("syscheck.sha1_after",)),
                ("hash:md5", ("syscheck.md5_after",))]},
    # The mispwazuh self-test rule raises an alert that carries a canary domain.
    {"name": "mispwazuh_selftest", "group": "mispwazuh_selftest",
     "fields": [("domain", ("data.mispwazuh.canary_domain",))]},
]

# Suffixes under which each label is registered separately, so parent-domain expansion stops one
# label below them. NOTE: this is a short list of common entries, not the Public Suffix List, which
# the standard library does not ship. Under any other suffix, expansion stops at the last two labels.
MULTI_LABEL_SUFFIXES = frozenset([
    "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk", "sch.uk",
    "com.au", "net.au", "org.au", "edu.au", "gov.au", "id.au",
    "co.nz", "net.nz", "org.nz", "govt.nz", "ac.nz",
    "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp", "gr.jp",
    "co.kr", "or.kr", "ne.kr", "go.kr",
    "com.br", "net.br", "org.br", "gov.br",
    "com.cn", "net.cn", "org.cn", "gov.cn", "edu.cn",
    "com.tw", "net.tw", "org.tw", "com.hk", "net.hk", "org.hk",
    "com.sg", "com.my", "co.in", "net.in", "org.in", "gov.in", "co.id", "co.th", "in.th",
    "co.za", "org.za", "com.mx", "com.ar", "com.tr", "com.ua", "co.il", "org.il", "com.pl",
    "com.vn", "com.ph", "com.pk", "com.eg", "com.sa", "com.co", "com.pe", "com.ng",
    "github.io", "gitlab.io", "blogspot.com", "herokuapp.com", "appspot.com", "azurewebsites.net",
    "cloudfront.net", "netlify.app", "vercel.app", "pages.dev", "workers.dev", "firebaseapp.com",
    "web.app", "s3.amazonaws.com", "duckdns.org", "no-ip.org", "ddns.net", "ngrok.io",
])

# Names that are never looked up: local, link-level and reverse-lookup names.
SKIPPED_DOMAIN_SUFFIXES = (".local", ".localdomain", ".lan", ".home.arpa", ".in-addr.arpa",
                           ".ip6.arpa", ".internal", ".localhost", ".invalid")
SKIPPED_DOMAIN_NAMES = frozenset(["localhost", "wpad", "isatap"])
SKIPPED_FIRST_LABELS = frozenset(["wpad", "isatap"])

THREAT_LEVELS = {"1": "High", "2": "Medium", "3": "Low", "4": "Undefined"}

# Error reasons. Each maps one kind of MISP failure to one stable name that rules can match.
REASON_CONNECTION_FAILED = "connection_failed"
REASON_TIMEOUT = "timeout"
REASON_TLS_VERIFY_FAILED = "tls_verify_failed"
REASON_TLS_ERROR = "tls_error"
REASON_AUTH_FAILED = "auth_failed"
REASON_FORBIDDEN = "forbidden"
REASON_VALIDATION_FAILED = "validation_failed"
REASON_NOT_FOUND = "not_found"
REASON_RATE_LIMITED = "rate_limited"
REASON_SERVER_ERROR = "server_error"
REASON_HTML_RESPONSE = "html_response"
REASON_REDIRECT = "unexpected_redirect"
REASON_INVALID_JSON = "invalid_json"
REASON_UNEXPECTED_RESPONSE = "unexpected_response"
REASON_UNEXPECTED_STATUS = "unexpected_status"
REASON_RESPONSE_TOO_LARGE = "response_too_large"


class ConfigError(Exception):
    """A config file that is missing, unreadable or invalid."""


class MispError(Exception):
    """A failed MISP request, with the error reason sent to the manager."""

    def __init__(self, reason, detail, status=None, retryable=False):
        Exception.__init__(self, detail)
        self.reason = reason
        self.detail = detail
        self.status = status
        self.retryable = retryable


# ---------------------------------------------------------------------------------------------
# Logging

class Log:
    """One-line log records appended to the integration log, falling back to stderr."""

    def __init__(self, path, debug):
        self.path = path
        self.debug_enabled = debug
        self.alert_id = "-"

    def write(self, level, message):
        # Alert ids and field values come from the alert: line breaks in them must not start a
        # forged log line.
        text = "%s: alert %s: %s" % (level, self.alert_id, message)
        text = " ".join(text.replace("\r", "\n").split("\n"))
        line = "%s %s: %s\n" % (time.strftime("%Y/%m/%d %H:%M:%S"), LOG_TAG, text)
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
        except OSError as error:
            sys.stderr.write("%s (integration log %s not writable: %s)\n" % (line.rstrip("\n"), self.path, error))

    def debug(self, message):
        if self.debug_enabled:
            self.write("DEBUG", message)

    def info(self, message):
        self.write("INFO", message)

    def warning(self, message):
        self.write("WARNING", message)

    def error(self, message):
        self.write("ERROR", message)


# ---------------------------------------------------------------------------------------------
# Arguments and settings

def parse_arguments(argv):
    """Return the integratord arguments by position; absent trailing ones become empty strings."""
    names = ("alert_file", "api_key", "hook_url", "debug", "options_file", "timeout", "retries")
    values = list(argv[1:8]) + [""] * (8 - len(argv))
    return dict(zip(names, values))


def load_settings(path):
    """Read and validate the config file. Raise ConfigError naming the first invalid setting."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            raw = json.load(handle)
    except FileNotFoundError:
        raise ConfigError("config file %s not found; run 'mispwazuh setup' or create it" % path)
    except PermissionError:
        raise ConfigError("config file %s is not readable by this user; it must be root:wazuh 0640" % path)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError("config file %s could not be read: %s" % (path, error))
    except ValueError as error:
        raise ConfigError("config file %s is not valid JSON: %s" % (path, error))

    if not isinstance(raw, dict):
        raise ConfigError("config file %s must contain a JSON object" % path)

    unknown = sorted(name for name in raw if name not in SETTINGS)
    if unknown:
        raise ConfigError("config file %s has unknown setting %r; known settings: %s"
                          % (path, unknown[0], ", ".join(sorted(SETTINGS))))

    settings = {}
    for name, (kind, default) in SETTINGS.items():
        if name not in raw:
            if default is REQUIRED:
                raise ConfigError("config file %s is missing the required setting %r" % (path, name))
            settings[name] = default
            continue
        settings[name] = validate_setting(path, name, kind, raw[name])
    return settings


def validate_setting(path, name, kind, value):
    def invalid(expected):
        return ConfigError("config file %s: setting %r is invalid (%r); expected %s"
                           % (path, name, "<hidden>" if name == "api_key" else value, expected))

    if kind == "bool":
        if not isinstance(value, bool):
            raise invalid("true or false")
        return value

    if kind in ("seconds", "positive_int", "count"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid("a number")
        if kind == "seconds":
            if not 0 < value <= MAX_SECONDS_SETTING:
                raise invalid("a number of seconds above 0")
            return float(value)
        if int(value) != value:
            raise invalid("a whole number")
        if kind == "positive_int" and value < 1:
            raise invalid("a whole number of at least 1")
        if kind == "count" and not 0 <= value <= 10:
            raise invalid("a whole number from 0 to 10")
        return int(value)

    if kind == "string_list":
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise invalid("a list of non-empty strings")
        return list(value)

    if kind == "optional_path" and value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid("a non-empty string")

    if kind == "https_url":
        return validate_misp_url(value, invalid)
    if kind == "api_key":
        if len(value) != 40 or not value.isalnum() or not value.isascii():
            raise invalid("a MISP auth key of 40 letters and digits")
        return value
    if kind in ("path", "optional_path"):
        if not value.startswith("/") or "\0" in value:
            raise invalid("an absolute path")
        return value
    raise invalid("a known setting kind")  # unreachable unless SETTINGS names a new kind


def validate_misp_url(value, invalid):
    """Split https://host[:port][/path] into its parts.

    Parsed by hand because urllib.parse costs about 2 ms of import time on every run.
    """
    text = value.strip()
    if not text.lower().startswith("https://"):
        raise invalid("an https:// URL (MISP is only reached over TLS)")
    authority, _, path = text[len("https://"):].partition("/")
    if "?" in text or "#" in text or "@" in authority or any(character.isspace() for character in text):
        raise invalid("https://host[:port][/path] without query, fragment, credentials or spaces")

    port_text = ""
    if authority.startswith("["):
        host, bracket, remainder = authority[1:].partition("]")
        if not bracket or (remainder and not remainder.startswith(":")):
            raise invalid("https://[IPv6 address][:port]")
        port_text = remainder[1:]
    else:
        host, _, port_text = authority.partition(":")
    if not host:
        raise invalid("a URL with a host name")
    if port_text and (not port_text.isdigit() or not 0 < int(port_text) < 65536):
        raise invalid("a valid port number")

    base_path = ("/" + path).rstrip("/") if path else ""
    return {"url": text, "host": host, "port": int(port_text or 443), "base_path": base_path}


def effective_limits(settings, arguments, log):
    """Apply integratord's <timeout> and <retries> (Wazuh 4.8+) as upper bounds."""
    total_timeout = settings["total_timeout"]
    retries = settings["retries"]

    try:
        argv_timeout = float(arguments["timeout"]) if arguments["timeout"] else None
    except ValueError:
        argv_timeout = None
        log.warning("ignored invalid timeout argument %r from integratord" % arguments["timeout"])
    if argv_timeout is not None and argv_timeout > 0:
        total_timeout = min(total_timeout, argv_timeout)

    try:
        argv_retries = int(arguments["retries"]) if arguments["retries"] else None
    except ValueError:
        argv_retries = None
        log.warning("ignored invalid retries argument %r from integratord" % arguments["retries"])
    if argv_retries is not None and argv_retries >= 0:
        retries = min(retries, argv_retries)

    return total_timeout, retries


# ---------------------------------------------------------------------------------------------
# Alert access and routing

def field_value(alert, path):
    node = alert
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def rule_groups(alert):
    groups = field_value(alert, "rule.groups")
    if not isinstance(groups, list):
        return []
    return [group for group in groups if isinstance(group, str)]


def is_own_result(alert, settings):
    """Tell whether the alert was raised from this integration's own output, to avoid a loop."""
    if field_value(alert, "data.integration") == INTEGRATION_NAME:
        return True
    location = alert.get("location")
    if isinstance(location, str) and (location == INTEGRATION_NAME or location.endswith("->" + INTEGRATION_NAME)):
        return True
    skipped = set(settings["skip_groups"])
    return any(group in skipped for group in rule_groups(alert))


def is_sysmon_alert(alert):
    provider = field_value(alert, "data.win.system.providerName")
    channel = field_value(alert, "data.win.system.channel")
    if isinstance(provider, str) and provider.lower() == SYSMON_PROVIDER:
        return True
    if isinstance(channel, str) and channel.lower() == SYSMON_CHANNEL:
        return True
    return "sysmon" in rule_groups(alert)


def matching_table_entries(alert):
    """Return the FIELD_TABLE entries that apply to the alert."""
    entries = []
    sysmon_event_id = field_value(alert, "data.win.system.eventID")
    if isinstance(sysmon_event_id, int) and not isinstance(sysmon_event_id, bool):
        sysmon_event_id = str(sysmon_event_id)
    groups = rule_groups(alert)

    for entry in FIELD_TABLE:
        if "sysmon_event_id" in entry:
            if sysmon_event_id == entry["sysmon_event_id"] and is_sysmon_alert(alert):
                entries.append(entry)
        elif "syscheck_events" in entry:
            if is_file_integrity_alert(alert, entry["syscheck_events"]):
                entries.append(entry)
        elif "group" in entry:
            if entry["group"] in groups:
                entries.append(entry)
    return entries


def is_file_integrity_alert(alert, events):
    syscheck = alert.get("syscheck")
    if not isinstance(syscheck, dict):
        return False
    groups = rule_groups(alert)
    if any(group.startswith("syscheck_registry") for group in groups) or "value_name" in syscheck:
        return False
    event = syscheck.get("event")
    if isinstance(event, str):
        return event in events
    return any(("syscheck_entry_" + name) in groups for name in events)


# ---------------------------------------------------------------------------------------------
# Extraction and normalisation

def extract_iocs(alert, log):
    """Return the IoCs of the alert as dicts: kind, value (normalised), seen (as in the alert), field."""
    iocs = []
    seen_keys = set()

    for entry in matching_table_entries(alert):
        for field in entry["fields"]:
            kind, paths = field[0], field[1]
            if len(field) > 2:
                condition_path, condition_value = field[2]
                condition = field_value(alert, condition_path)
                if not isinstance(condition, str) or condition.lower() != condition_value:
                    continue

            path, raw = first_present(alert, paths)
            if raw is None:
                continue
            if not isinstance(raw, str):
                log.debug("field %s is not a string, skipped" % path)
                continue

            for ioc_kind, value, seen in normalise_field(kind, raw, log, path):
                key = (ioc_kind, value)
                if key in seen_keys:
                    continue
                seen_keys.add(key)
                iocs.append({"kind": ioc_kind, "value": value, "seen": seen, "field": path})
    return iocs


def first_present(alert, paths):
    for path in paths:
        value = field_value(alert, path)
        if value is not None:
            return path, value
    return paths[0], None


def normalise_field(kind, raw, log, path):
    """Yield (kind, normalised value, value as seen) for one alert field; invalid values are skipped."""
    if kind == "hashes":
        for algorithm, value, seen in parse_hash_list(raw):
            yield algorithm, value, seen
        return

    if kind.startswith("hash:"):
        algorithm = kind.split(":", 1)[1]
        value = normalise_hash(raw, algorithm)
        if value is not None:
            yield algorithm, value, raw
        elif raw.strip():
            log.debug("field %s is not a valid %s hash, skipped" % (path, algorithm))
        return

    if kind == "ip":
        value = normalise_ip(raw)
        if value is not None:
            yield "ip", value, raw
        return

    if kind == "domain":
        for ioc_kind, value in normalise_host(raw):
            yield ioc_kind, value, raw
        return

    if kind == "dns_results":
        for token in raw.split(";"):
            token = token.strip()
            if not token or " " in token:
                continue
            value = normalise_ip(token)
            if value is not None:
                yield "ip", value, token


def parse_hash_list(raw):
    """Parse "SHA1=..,MD5=..,SHA256=..,IMPHASH=.." in any order, subset and case, or one bare hash."""
    raw = raw.strip()
    if "=" not in raw:
        bare = raw.lower()
        for algorithm in ("sha256", "sha1", "md5"):
            value = normalise_hash(bare, algorithm)
            if value is not None:
                yield algorithm, value, raw
                return
        return

    for part in raw.split(","):
        if "=" not in part:
            continue
        name, _, value = part.partition("=")
        algorithm = name.strip().lower()
        if algorithm not in HASH_LENGTHS:
            continue
        normalised = normalise_hash(value, algorithm)
        if normalised is not None:
            yield algorithm, normalised, value.strip()


def normalise_hash(value, algorithm):
    value = value.strip().lower()
    if len(value) != HASH_LENGTHS[algorithm] or not HEX_DIGITS.issuperset(value):
        return None
    # An all-zero value is a placeholder, not the hash of any file.
    if value.count("0") == len(value):
        return None
    return value


def normalise_ip(raw):
    """Return the compressed form of a public unicast address, or None for anything else."""
    import ipaddress

    text = raw.strip().strip("[]")
    if "%" in text:
        text = text.split("%", 1)[0]
    if not text or text == "-":
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None

    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped

    # Each property is tested on its own: ipaddress reports multicast addresses such as
    # 239.255.255.250 as is_global.
    if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global):
        return None
    if address.version == 4 and str(address) == "255.255.255.255":
        return None
    if address.version == 6 and address.is_site_local:
        return None
    return str(address)


def normalise_host(raw):
    """Yield ("domain", name) for a public DNS name, or ("ip", address) when the name is an IP literal."""
    text = raw.strip()
    if not text or text == "-":
        return

    ip_value = normalise_ip(text)
    if ip_value is not None:
        yield "ip", ip_value
        return
    if looks_like_ip(text):
        return

    domain = normalise_domain(text)
    if domain is not None:
        yield "domain", domain


def looks_like_ip(text):
    return ":" in text or all(part.isdigit() for part in text.strip("[]").split("."))


def normalise_domain(text):
    name = text.strip().rstrip(".").lower()
    if not name or len(name) > 253:
        return None
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None

    labels = name.split(".")
    if len(labels) < 2:
        return None
    for label in labels:
        if not label or len(label) > 63 or label.startswith("-") or label.endswith("-"):
            return None
        if not all(character.isalnum() or character in "-_" for character in label):
            return None

    if name in SKIPPED_DOMAIN_NAMES or labels[0] in SKIPPED_FIRST_LABELS:
        return None
    if any(name.endswith(suffix) for suffix in SKIPPED_DOMAIN_SUFFIXES):
        return None
    if labels[-1].isdigit():
        return None
    if name in MULTI_LABEL_SUFFIXES:
        return None
    return name


def parent_domains(name):
    """Return the name and its parents, down to and including the registrable domain."""
    labels = name.split(".")
    registrable_length = 2
    for suffix_length in (3, 2):
        if len(labels) > suffix_length and ".".join(labels[-suffix_length:]) in MULTI_LABEL_SUFFIXES:
            registrable_length = suffix_length + 1
            break
    if len(labels) < registrable_length:
        return [name]
    return [".".join(labels[index:]) for index in range(0, len(labels) - registrable_length + 1)]


def lookup_values(iocs, settings):
    """Return the values to look up as {(kind, value): [ioc, ...]}, parents of domains included."""
    lookup_keys = {}
    for ioc in iocs:
        values = [ioc["value"]]
        if ioc["kind"] == "domain" and settings["parent_domains"]:
            values = parent_domains(ioc["value"])
        for value in values:
            lookup_keys.setdefault((ioc["kind"], value), []).append(ioc)
    return lookup_keys


# ---------------------------------------------------------------------------------------------
# Cache

class Cache:
    """Lookup results in SQLite, keyed by MISP scope, IoC kind and value, with separate TTLs.

    WAL mode lets concurrent runs read while one writes, and the connection's busy timeout makes a
    writer wait for a lock instead of failing. synchronous=NORMAL skips the fsync per commit: a
    crash may lose the latest rows, which only costs a repeated lookup. A cache error is logged and
    turns the cache off for the rest of the run, so the lookup goes on without it.
    """

    # INSERT OR REPLACE gives every stored row a new id above all others, so ids follow the order
    # of storing, and the ids from the newest down cover at most that many rows.
    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS lookups ("
        " id INTEGER PRIMARY KEY, scope TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,"
        " attributes TEXT NOT NULL, stored REAL NOT NULL, expires REAL NOT NULL,"
        " UNIQUE (scope, kind, value))"
    )

    def __init__(self, settings, log):
        self.log = log
        self.settings = settings
        self.connection = None
        self.scope = "%s|published=%d|warninglist=%d" % (
            settings["misp_url"]["url"], settings["published_only"], settings["enforce_warninglist"])
        if settings["cache_enabled"]:
            self.open()

    def open(self):
        import sqlite3

        path = os.path.join(self.settings["cache_dir"], "cache.sqlite3")
        try:
            if not os.path.isdir(self.settings["cache_dir"]):
                os.makedirs(self.settings["cache_dir"], 0o750)
            connection = sqlite3.connect(path, timeout=5.0, isolation_level=None)
            try:
                # The switch to WAL needs a moment of exclusive access. A run that finds the new
                # database busy leaves the switch to a later run; it is a no-op once done.
                connection.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as error:
                self.log.debug("cache %s not switched to WAL mode yet: %s" % (path, error))
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(self.SCHEMA)
            self.connection = connection
        except (sqlite3.Error, OSError) as error:
            self.log.error("cache %s unavailable, looking up without it: %s" % (path, error))
            self.connection = None

    def get(self, keys):
        """Return {(kind, value): attributes} for the keys with a live cache row."""
        if self.connection is None or not keys:
            return {}
        import sqlite3

        now = time.time()
        found = {}
        try:
            for kind, value in keys:
                row = self.connection.execute(
                    "SELECT attributes, expires FROM lookups WHERE scope = ? AND kind = ? AND value = ?",
                    (self.scope, kind, value)).fetchone()
                if row is not None and row[1] > now:
                    found[(kind, value)] = json.loads(row[0])
        except (sqlite3.Error, ValueError) as error:
            self.log.error("cache read failed, looking up without it: %s" % error)
            self.close()
            return {}
        return found

    def put(self, results):
        """Store {(kind, value): attributes}; an empty list is a miss."""
        if self.connection is None or not results:
            return
        import sqlite3

        now = time.time()
        rows = []
        for (kind, value), attributes in results.items():
            ttl = self.settings["cache_hit_ttl"] if attributes else self.settings["cache_miss_ttl"]
            rows.append((self.scope, kind, value, json.dumps(attributes, separators=(",", ":")), now, now + ttl))
        try:
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.executemany(
                "INSERT OR REPLACE INTO lookups (scope, kind, value, attributes, stored, expires)"
                " VALUES (?, ?, ?, ?, ?, ?)", rows)
            self.enforce_bound()
            self.connection.execute("COMMIT")
        except sqlite3.Error as error:
            self.log.error("cache write failed, results not cached: %s" % error)
            try:
                self.connection.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self.close()

    def enforce_bound(self):
        """Delete the oldest rows beyond cache_max_rows.

        COUNT(*) would read the whole table on every write (8 ms for 100,000 rows, measured on a
        2-core AMD EPYC VM), so the bound is kept by id instead: every row whose id is more than
        cache_max_rows below the newest is deleted.
        Expired rows are replaced when their value is looked up again, or deleted as the oldest.
        """
        newest = self.connection.execute("SELECT MAX(id) FROM lookups").fetchone()[0]
        if newest is not None:
            self.connection.execute("DELETE FROM lookups WHERE id <= ?", (newest - self.settings["cache_max_rows"],))

    def close(self):
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # closing must never turn a finished run into a failure
                pass
            self.connection = None


# ---------------------------------------------------------------------------------------------
# MISP

class MispClient:
    """POST requests to MISP with bounded time, retries with back-off, and TLS verified by default."""

    def __init__(self, settings, total_timeout, retries, log):
        self.settings = settings
        self.total_timeout = total_timeout
        self.retries = retries
        self.log = log

    def search_attributes(self, keys):
        """Run one restSearch for all keys; return (attributes, truncated)."""
        types = set()
        for kind, _ in keys:
            types.update(MISP_TYPES_BY_KIND[kind])
        payload = {
            "returnFormat": "json",
            "value": sorted(set(value for _, value in keys)),
            "type": sorted(types),
            "to_ids": 1,
            "deleted": 0,
            "includeContext": 1,
            "limit": self.settings["limit"],
            "page": 1,
        }
        if self.settings["enforce_warninglist"]:
            payload["enforceWarninglist"] = 1
        if self.settings["published_only"]:
            payload["published"] = 1

        body = self.post_json("/attributes/restSearch", payload)
        response = body.get("response") if isinstance(body, dict) else None
        attributes = response.get("Attribute") if isinstance(response, dict) else None
        if not isinstance(attributes, list):
            raise MispError(REASON_UNEXPECTED_RESPONSE,
                            "restSearch response has no response.Attribute list", 200)
        return attributes, len(attributes) >= self.settings["limit"]

    def post_json(self, path, payload):
        body = json.dumps(payload).encode("utf-8")
        deadline = time.monotonic() + self.total_timeout
        attempt = 0
        while True:
            try:
                return self.send_once(path, body, deadline)
            except MispError as error:
                if not error.retryable or attempt >= self.retries:
                    raise
                delay = min(0.25 * (2 ** attempt), 2.0)
                if time.monotonic() + delay >= deadline:
                    raise
                attempt += 1
                self.log.warning("MISP request %s failed (%s: %s), retry %d of %d in %.2f s"
                                 % (path, error.reason, error.detail, attempt, self.retries, delay))
                time.sleep(delay)

    def tls_context(self):
        import ssl

        if not self.settings["verify_tls"]:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        try:
            return ssl.create_default_context(cafile=self.settings["ca_file"])
        except (OSError, ssl.SSLError) as error:
            raise MispError(REASON_TLS_ERROR, "CA file %s could not be loaded: %s" % (self.settings["ca_file"], error))

    def send_once(self, path, body, deadline):
        import http.client
        import socket
        import ssl

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MispError(REASON_TIMEOUT, "no time left for the request within %.1f s" % self.total_timeout)

        target = self.settings["misp_url"]
        url_path = target["base_path"] + path
        connection = http.client.HTTPSConnection(
            target["host"], target["port"], timeout=min(self.settings["connect_timeout"], remaining),
            context=self.tls_context())
        headers = {
            "Authorization": self.settings["api_key"],
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Connection": "close",
        }
        try:
            connection.connect()
            # http.client drops connection.sock once a "Connection: close" response arrives, so
            # keep the socket to bound each read of the body.
            sock = connection.sock
            sock.settimeout(self.read_timeout(deadline))
            connection.request("POST", url_path, body=body, headers=headers)
            response = connection.getresponse()
            response_body = self.read_body(sock, response, deadline)
            return self.parse_response(response.status, response.getheader("Content-Type", ""), response_body, url_path)
        except ssl.SSLCertVerificationError as error:
            raise MispError(REASON_TLS_VERIFY_FAILED,
                            "certificate of %s:%d not trusted: %s; check ca_file and the server certificate names"
                            % (target["host"], target["port"], error.verify_message or error))
        except socket.timeout:
            raise MispError(REASON_TIMEOUT, "no response from %s:%d in time (connect %.1f s, read %.1f s)"
                            % (target["host"], target["port"], self.settings["connect_timeout"],
                               self.settings["read_timeout"]), retryable=True)
        except ssl.SSLError as error:
            raise MispError(REASON_TLS_ERROR, "TLS with %s:%d failed: %s" % (target["host"], target["port"], error))
        except (OSError, http.client.HTTPException) as error:
            raise MispError(REASON_CONNECTION_FAILED, "connection to %s:%d failed: %s"
                            % (target["host"], target["port"], error or type(error).__name__), retryable=True)
        finally:
            connection.close()

    def read_timeout(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            import socket
            raise socket.timeout("deadline reached")
        return min(self.settings["read_timeout"], remaining)

    def bound_next_read(self, sock, deadline):
        timeout = self.read_timeout(deadline)
        try:
            sock.settimeout(timeout)
        except OSError:
            # http.client may already have closed the socket, as seen with Python 3.13 after a
            # short error body. Reads then come from its buffer and need no bound.
            pass

    def read_body(self, sock, response, deadline):
        limit = self.settings["max_response_bytes"]
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise MispError(REASON_RESPONSE_TOO_LARGE, "response of %s bytes is above max_response_bytes %d"
                            % (declared, limit), response.status)

        chunks = []
        size = 0
        while True:
            self.bound_next_read(sock, deadline)
            chunk = response.read1(65536) if hasattr(response, "read1") else response.read(8192)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise MispError(REASON_RESPONSE_TOO_LARGE, "response is above max_response_bytes %d" % limit,
                                response.status)
            chunks.append(chunk)
        return b"".join(chunks)

    def parse_response(self, status, content_type, body, url_path):
        head = body[:512].lstrip().lower()
        is_html = "text/html" in content_type.lower() or head.startswith(b"<!doctype html") or head.startswith(b"<html")

        if status >= 500:
            hint = " (MISP is still loading)" if b"misp is loading" in body[:4096].lower() else ""
            raise MispError(REASON_SERVER_ERROR, "MISP responded with HTTP %d%s" % (status, hint), status, retryable=True)
        if 300 <= status < 400:
            raise MispError(REASON_REDIRECT, "MISP responded with HTTP %d, a redirect (to a login page?); check misp_url"
                            % status, status)
        if is_html:
            raise MispError(REASON_HTML_RESPONSE, "MISP responded with HTTP %d and an HTML page instead of JSON (a login"
                            " page? the key must belong to an API-enabled user, and misp_url must point at MISP)"
                            % status, status)
        if status == 429:
            raise MispError(REASON_RATE_LIMITED, "MISP responded with HTTP 429, rate limit of the auth key's role exceeded",
                            status)
        if status in (401, 403):
            raise self.forbidden_error(status, body)
        if status == 404:
            raise MispError(REASON_NOT_FOUND, "MISP responded with HTTP 404 for %s; check misp_url" % url_path, status)
        if status != 200:
            raise MispError(REASON_UNEXPECTED_STATUS, "MISP responded with HTTP %d" % status, status)

        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise MispError(REASON_INVALID_JSON, "MISP response is not valid JSON: %s" % error, status)

    def forbidden_error(self, status, body):
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            parsed = None
        message = ""
        if isinstance(parsed, dict):
            message = str(parsed.get("message") or parsed.get("name") or "")
            if parsed.get("saved") is False or "errors" in parsed:
                return MispError(REASON_VALIDATION_FAILED, "MISP rejected the request (HTTP %d): %s %s"
                                 % (status, message, json.dumps(parsed.get("errors"))), status)
        lowered = message.lower()
        if status == 401 or "authentication failed" in lowered or "auth key" in lowered or not message:
            return MispError(REASON_AUTH_FAILED, "MISP rejected the auth key (HTTP %d): %s; check api_key and that"
                             " the key is enabled, not expired and allowed from this address"
                             % (status, message or "no message"), status)
        return MispError(REASON_FORBIDDEN, "MISP denied the request (HTTP %d): %s" % (status, message), status)


# ---------------------------------------------------------------------------------------------
# Matching MISP's response against the IoCs

def normalise_attribute_half(kind, text):
    if kind == "ip":
        return normalise_ip_for_compare(text)
    return text.strip().rstrip(".").lower() if kind == "domain" else text.strip().lower()


def normalise_ip_for_compare(text):
    import ipaddress

    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def match_attributes(attributes, lookup_keys):
    """Return {(kind, value): [attribute summary, ...]} for every key in lookup_keys.

    MISP's response is checked, not trusted. An attribute counts only if it is to_ids and not
    deleted, and its value equals a looked-up value. For a composite type, the half that contains
    the IoC must equal it.
    """
    results = dict((key, []) for key in lookup_keys)
    seen = set()
    for attribute in attributes:
        if not isinstance(attribute, dict):
            continue
        attribute_type = attribute.get("type")
        value = attribute.get("value")
        if not isinstance(attribute_type, str) or not isinstance(value, str):
            continue
        if attribute.get("deleted") in (True, 1, "1") or attribute.get("to_ids") not in (True, 1, "1"):
            continue

        for kind, types in MISP_TYPES_BY_KIND.items():
            if attribute_type not in types:
                continue
            half = types[attribute_type]
            if half is None:
                candidate = value
            else:
                parts = value.split("|", 1)
                if len(parts) != 2:
                    continue
                candidate = parts[half]
            key = (kind, normalise_attribute_half(kind, candidate))
            if key not in results or (key, attribute.get("id")) in seen:
                continue
            seen.add((key, attribute.get("id")))
            results[key].append(summarise_attribute(attribute))
    return results


def tag_names(tags):
    names = []
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and isinstance(tag.get("name"), str) and tag["name"] not in names:
                names.append(tag["name"])
    return names


def summarise_attribute(attribute):
    """Keep the attribute and event fields that result messages carry."""
    event = attribute.get("Event") if isinstance(attribute.get("Event"), dict) else {}
    attribute_tags = [tag for tag in attribute.get("Tag") or [] if isinstance(tag, dict)]
    own_tags = tag_names([tag for tag in attribute_tags if not tag.get("inherited")])
    event_tags = tag_names(event.get("Tag")) + tag_names([tag for tag in attribute_tags if tag.get("inherited")])
    orgc = event.get("Orgc") if isinstance(event.get("Orgc"), dict) else {}

    threat_level_id = event.get("threat_level_id")
    return {
        "attribute_id": as_text(attribute.get("id")),
        "attribute_uuid": as_text(attribute.get("uuid")),
        "event_id": as_text(attribute.get("event_id") or event.get("id")),
        "event_uuid": as_text(event.get("uuid")),
        "event_info": as_text(event.get("info")),
        "threat_level_id": as_text(threat_level_id),
        "threat_level": THREAT_LEVELS.get(as_text(threat_level_id), ""),
        "published": event.get("published") in (True, 1, "1"),
        "org": as_text(orgc.get("name")),
        "category": as_text(attribute.get("category")),
        "type": as_text(attribute.get("type")),
        "value": as_text(attribute.get("value")),
        "to_ids": True,
        "comment": as_text(attribute.get("comment")),
        "tags": own_tags,
        "event_tags": sorted(set(event_tags), key=event_tags.index),
    }


def as_text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# ---------------------------------------------------------------------------------------------
# Messages to the manager

def source_of(alert):
    agent = alert.get("agent") if isinstance(alert.get("agent"), dict) else {}
    return {
        "alert_id": as_text(alert.get("id")),
        "rule_id": as_text(field_value(alert, "rule.id")),
        "rule_description": as_text(field_value(alert, "rule.description")),
        "agent_id": as_text(agent.get("id")),
        "agent_name": as_text(agent.get("name")),
        "agent_ip": as_text(agent.get("ip")),
    }


def queue_location(alert):
    """Return the queue location: "misp" for the manager, "[id] (name) ip->misp" for an agent.

    analysisd splits the header at unescaped ":" so, as Wazuh's own integrations do, "|" becomes "||"
    and ":" becomes "|:" in the agent part (an IPv6 agent address contains ":").
    """
    agent = alert.get("agent")
    if not isinstance(agent, dict) or as_text(agent.get("id")) in ("", "000"):
        return INTEGRATION_NAME
    agent_part = "[%s] (%s) %s" % (as_text(agent.get("id")), as_text(agent.get("name")),
                                   as_text(agent.get("ip")) or "any")
    return agent_part.replace("|", "||").replace(":", "|:") + "->" + INTEGRATION_NAME


def encode_message(location, payload):
    """Return the queue datagram, shrinking long fields so it stays within QUEUE_MESSAGE_MAX_BYTES."""
    message = ("1:%s:%s" % (location, json.dumps(payload, separators=(",", ":")))).encode("utf-8")
    if len(message) <= QUEUE_MESSAGE_MAX_BYTES:
        return message

    misp = payload["misp"]
    for key in ("tags", "event_tags"):
        if key in misp:
            misp[key] = misp[key][:10]
    for key, text in list(misp.items()):
        if isinstance(text, str) and len(text) > MESSAGE_TEXT_MAX_CHARS:
            misp[key] = text[:MESSAGE_TEXT_MAX_CHARS]
    source = misp.get("source", {})
    for key, text in list(source.items()):
        if len(text) > MESSAGE_TEXT_MAX_CHARS:
            source[key] = text[:MESSAGE_TEXT_MAX_CHARS]
    misp["truncated"] = True
    message = ("1:%s:%s" % (location, json.dumps(payload, separators=(",", ":")))).encode("utf-8")
    if len(message) <= QUEUE_MESSAGE_MAX_BYTES:
        return message
    return None


class Queue:
    """The manager's queue socket (AF_UNIX datagram)."""

    def __init__(self, path, log):
        self.path = path
        self.log = log
        self.socket = None

    def send(self, location, payload):
        import socket

        message = encode_message(location, payload)
        if message is None:
            self.log.error("message for location %s is above %d bytes even when shortened, not sent: %s"
                           % (location, QUEUE_MESSAGE_MAX_BYTES, json.dumps(payload)[:4096]))
            return False

        for attempt in (1, 2):
            try:
                if self.socket is None:
                    self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self.socket.settimeout(2.0)
                    self.socket.connect(self.path)
                self.socket.send(message)
                return True
            except OSError as error:
                self.close()
                if attempt == 1 and not isinstance(error, socket.timeout):
                    time.sleep(0.2)  # the manager may be restarting; try once more
                    continue
                self.log.error("queue socket %s unavailable (%s); message not delivered: %s"
                               % (self.path, error, message.decode("utf-8", "replace")))
                return False
        return False

    def close(self):
        if self.socket is not None:
            try:
                self.socket.close()
            except OSError:
                pass
            self.socket = None


def claim_error_report(path, reason, interval, log):
    """Return True when no error event with this reason was sent within the last interval seconds.

    The state file is shared by all runs and guarded by an exclusive flock, so two runs that fail at
    the same moment send one event between them.
    """
    import fcntl

    now = time.time()
    try:
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, 0o750)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        with os.fdopen(descriptor, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                state = json.loads(handle.read() or "{}")
            except ValueError:
                log.warning("state file %s is not valid JSON, starting it afresh" % path)
                state = {}
            if not isinstance(state, dict) or not isinstance(state.get("error_reports"), dict):
                state = {"error_reports": {}}

            last = state["error_reports"].get(reason)
            if isinstance(last, (int, float)) and 0 <= now - last < interval:
                return False
            state["error_reports"][reason] = now
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(state))
            handle.flush()
            return True
    except OSError as error:
        log.error("state file %s unusable (%s); sending the error event without rate limiting" % (path, error))
        return True


# ---------------------------------------------------------------------------------------------
# Main

def read_alert(path):
    """Return (alert, None) or (None, reason)."""
    if not path:
        return None, "no alert file argument; integratord passes it as the first argument"
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            alert = json.load(handle)
    except OSError as error:
        return None, "alert file %s could not be read: %s" % (path, error)
    except ValueError as error:
        return None, ("alert file %s is not JSON (%s); set <alert_format>json</alert_format> in the"
                      " <integration> block" % (path, error))
    if not isinstance(alert, dict):
        return None, "alert file %s does not hold a JSON object" % path
    return alert, None


def log_file_hint(config_path):
    """Return the log_file setting of a config file that failed validation, if it names a usable one."""
    try:
        with open(config_path, "r", encoding="utf-8") as handle:
            raw = json.load(handle)
        value = raw.get("log_file") if isinstance(raw, dict) else None
    except (OSError, ValueError):
        return None
    if isinstance(value, str) and value.startswith("/"):
        return value
    return None


# MISP types whose value covers the subdomains of the domain. A hostname names one host, so a
# hostname attribute matches only that exact name.
PARENT_MATCH_TYPES = frozenset(["domain", "domain|ip"])


def build_matches(iocs, settings, results):
    """Pair every IoC with the attributes found for it or a parent domain, one per attribute."""
    matches = []
    reported = set()
    for ioc in iocs:
        values = [ioc["value"]]
        if ioc["kind"] == "domain" and settings["parent_domains"]:
            values = parent_domains(ioc["value"])
        for value in values:
            for attribute in results.get((ioc["kind"], value), []):
                if attribute["attribute_id"] in reported:
                    continue
                if value != ioc["value"] and attribute["type"] not in PARENT_MATCH_TYPES:
                    continue
                reported.add(attribute["attribute_id"])
                matches.append((ioc, value, attribute))
    return matches


def result_payload(alert, ioc, looked_up, attribute):
    misp = dict(attribute)
    misp["ioc"] = ioc["seen"]
    misp["ioc_value"] = ioc["value"]
    misp["ioc_type"] = ioc["kind"]
    misp["ioc_field"] = ioc["field"]
    misp["matched_value"] = looked_up
    misp["source"] = source_of(alert)
    return {"integration": INTEGRATION_NAME, "misp": misp}


def report_misp_error(error, alert, settings, queue, log):
    status = " status=%s" % error.status if error.status else ""
    if not claim_error_report(settings["state_file"], error.reason, settings["error_interval"], log):
        log.error("MISP lookup failed: reason=%s%s: %s (error event already sent within %d s)"
                  % (error.reason, status, error.detail, settings["error_interval"]))
        return
    log.error("MISP lookup failed: reason=%s%s: %s" % (error.reason, status, error.detail))
    misp = {"error": error.reason, "error_detail": error.detail[:MESSAGE_TEXT_MAX_CHARS],
            "source": source_of(alert)}
    if error.status:
        misp["http_status"] = str(error.status)
    queue.send(INTEGRATION_NAME, {"integration": INTEGRATION_NAME, "misp": misp})


def run(argv, log):
    arguments = parse_arguments(argv)
    log.debug_enabled = arguments["debug"] == "debug"
    os.umask(0o027)

    alert, alert_problem = read_alert(arguments["alert_file"])
    if alert is not None and isinstance(alert.get("id"), (str, int)):
        log.alert_id = str(alert["id"])

    config_path = os.environ.get(CONFIG_PATH_ENV) or DEFAULT_CONFIG_PATH
    try:
        settings = load_settings(config_path)
    except ConfigError as error:
        log.path = log_file_hint(config_path) or DEFAULT_LOG_FILE
        log.error("%s; no lookup done" % error)
        return
    log.path = settings["log_file"]
    log.debug_enabled = log.debug_enabled or settings["debug"]

    if arguments["api_key"]:
        log.warning("the <integration> block passes an api_key, which is not used: the auth key comes from %s,"
                    " and integratord shows argv in the process list, so remove <api_key> from ossec.conf"
                    % config_path)
    if not settings["verify_tls"]:
        log.warning("TLS verification for %s is off (verify_tls false): the auth key and MISP's responses can be"
                    " read or forged on the network path; set verify_tls true and ca_file"
                    % settings["misp_url"]["url"])

    if alert is None:
        log.error(alert_problem)
        return
    if is_own_result(alert, settings):
        log.debug("alert comes from this integration's own results, skipped")
        return

    iocs = extract_iocs(alert, log)
    if not iocs:
        log.debug("no IoC to look up (rule %s, groups %s)"
                  % (as_text(field_value(alert, "rule.id")), ",".join(rule_groups(alert))))
        return
    lookup(alert, iocs, settings, arguments, log)


def lookup(alert, iocs, settings, arguments, log):
    lookup_keys = lookup_values(iocs, settings)
    cache = Cache(settings, log)
    queue = Queue(settings["queue_socket"], log)
    try:
        results = cache.get(list(lookup_keys))
        missing = [key for key in lookup_keys if key not in results]
        log.debug("IoCs %s; %d of %d values cached"
                  % (", ".join("%s=%s" % (ioc["kind"], ioc["value"]) for ioc in iocs),
                     len(lookup_keys) - len(missing), len(lookup_keys)))

        failure = None
        if missing:
            total_timeout, retries = effective_limits(settings, arguments, log)
            client = MispClient(settings, total_timeout, retries, log)
            try:
                attributes, truncated = client.search_attributes(missing)
            except MispError as error:
                failure = error
            else:
                fetched = match_attributes(attributes, missing)
                results.update(fetched)
                if truncated:
                    log.warning("restSearch returned %d attributes, the limit; values without a match are not"
                                " cached because the response may be cut off" % len(attributes))
                    fetched = dict((key, found) for key, found in fetched.items() if found)
                cache.put(fetched)

        matches = build_matches(iocs, settings, results)
        for ioc, looked_up, attribute in matches:
            log.info("MISP match: %s %s from %s matches event %s attribute %s (%s %s)"
                     % (ioc["kind"], ioc["value"], ioc["field"], attribute["event_id"], attribute["attribute_id"],
                        attribute["type"], attribute["value"]))
            queue.send(queue_location(alert), result_payload(alert, ioc, looked_up, attribute))
        if not matches and failure is None:
            log.debug("no MISP match for %d values" % len(lookup_keys))

        if failure is not None:
            report_misp_error(failure, alert, settings, queue, log)
    finally:
        queue.close()
        cache.close()


def log_internal_error(log, error):
    """Write one line for an unexpected exception: its type, message and the line that raised it."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    line = traceback.tb_lineno if traceback is not None else 0
    log.error("internal error %s at line %d: %s" % (type(error).__name__, line, error))


def main():
    log = Log(DEFAULT_LOG_FILE, False)
    try:
        run(sys.argv, log)
    except BaseException as error:  # integratord must always see exit status 0, whatever happened
        try:
            log_internal_error(log, error)
        except BaseException:
            pass
    sys.exit(0)


if __name__ == "__main__":
    main()
