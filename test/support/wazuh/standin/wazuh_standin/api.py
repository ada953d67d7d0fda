"""Wazuh server API stand-in (wazuh-apid): HTTPS on the api.yaml port, JWT from basic auth.

Endpoints, in the real response envelope: POST /security/user/authenticate, GET /,
GET /manager/status, GET /manager/info, GET /manager/configuration/validation,
GET /manager/configuration (section, field), GET /manager/logs, PUT /manager/restart,
GET /agents, GET /groups, POST /groups, GET /groups/{id}/agents,
GET and PUT /groups/{id}/configuration, PUT /agents/{id}/group/{group}.
It binds 127.0.0.1 only (the real API binds 0.0.0.0 and ::). The real API validates with
GET /manager/configuration/validation, so PUT on that path returns 405 here too.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

from . import common, config, tools, xmlreader

TOKEN_SECONDS = 900
NODE = "node01"
API_LOG = os.path.join(common.HOME, "logs", "api.log")
USERS_FILE = os.path.join(common.STATE_DIR, "api-users.json")
SECRET_FILE = os.path.join(common.STATE_DIR, "jwt-secret")
AGENTS_FILE = os.path.join(common.STATE_DIR, "agents.json")
GROUP_NAME = re.compile(r"^[\w.\-]{1,128}$")
DEFAULT_AGENT_CONF = "<agent_config>\n\n  <!-- Shared agent configuration here -->\n\n</agent_config>\n"


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str, code: int | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.code = status, title, detail, code

    def body(self) -> dict:
        body = {"title": self.title, "detail": self.detail}
        if self.code is not None:
            body["error"] = self.code
        return body


def api_port() -> int:
    path = os.path.join(common.HOME, "api", "configuration", "api.yaml")
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                match = re.match(r"^port:\s*(\d+)\s*$", line)
                if match:
                    return int(match.group(1))
    except OSError:
        pass
    return 55000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _secret() -> bytes:
    with open(SECRET_FILE, encoding="ascii") as handle:
        return handle.read().strip().encode()


def make_token(user: str) -> str:
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {"iss": "wazuh", "aud": "Wazuh API REST", "nbf": now, "exp": now + TOKEN_SECONDS, "sub": user,
               "run_as": False, "rbac_roles": [1], "rbac_mode": "white"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(_secret(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def check_token(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise ApiError(401, "Unauthorized", "No authorization token provided")
    token = authorization[len("Bearer "):].strip()
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(_secret(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        claims = json.loads(_unb64(payload))
        valid = hmac.compare_digest(expected, _unb64(signature)) and claims["exp"] > time.time()
    except (ValueError, KeyError, json.JSONDecodeError):
        valid = False
    if not valid:
        raise ApiError(401, "Unauthorized", "Invalid token")
    return claims["sub"]


def check_password(user: str, password: str) -> bool:
    try:
        with open(USERS_FILE, encoding="utf-8") as handle:
            users = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return False
    entry = users.get(user)
    if not entry:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(entry["salt"]), 100_000).hex()
    return hmac.compare_digest(digest, entry["hash"])


def envelope(items: list, message: str, failed: list | None = None, total: int | None = None) -> dict:
    failed = failed or []
    return {
        "data": {
            "affected_items": items,
            "total_affected_items": len(items) if total is None else total,
            "total_failed_items": len(failed),
            "failed_items": failed,
        },
        "message": message,
        "error": _error_code(items, failed),
    }


def _error_code(items: list, failed: list) -> int:
    # The real API returns 0 when every item succeeded, 1 when all failed and 2 when some did.
    if not failed:
        return 0
    return 1 if not items else 2


# -- agents and groups -------------------------------------------------------------------------

def _iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(stamp))


def load_agents(version: str) -> list[dict]:
    hostname = socket.gethostname()
    now = time.time()
    manager = {
        "id": "000", "name": hostname, "ip": "127.0.0.1", "registerIP": "127.0.0.1", "status": "active",
        "status_code": 0, "node_name": NODE, "version": f"Wazuh v{version}", "manager": hostname,
        "dateAdd": _iso(now), "lastKeepAlive": "9999-12-31T23:59:59+00:00",
        "os": {"name": "Debian GNU/Linux", "platform": "debian", "version": "12", "uname": "Linux"},
        "group_config_status": "synced",
    }
    agents = [manager]
    try:
        with open(AGENTS_FILE, encoding="utf-8") as handle:
            seeded = json.load(handle)
    except (OSError, json.JSONDecodeError):
        seeded = []
    for seed in seeded:
        status = seed.get("status", "active")
        agents.append({
            "id": seed["id"], "name": seed["name"], "ip": seed.get("ip", "any"), "registerIP": seed.get("ip", "any"),
            "status": status, "status_code": 0, "node_name": NODE, "manager": hostname,
            "version": f"Wazuh v{version}", "group": seed.get("groups", ["default"]),
            "os": seed.get("os", {"name": "Microsoft Windows Server 2022", "platform": "windows", "version": "10.0.20348"}),
            "dateAdd": _iso(now - 3600), "lastKeepAlive": seed.get("lastKeepAlive", _iso(now)),
            "group_config_status": "synced",
        })
    return agents


def save_agent_groups(agent_id: str, groups: list[str]) -> None:
    with open(AGENTS_FILE, encoding="utf-8") as handle:
        seeded = json.load(handle)
    for seed in seeded:
        if seed["id"] == agent_id:
            seed["groups"] = groups
    with open(AGENTS_FILE, "w", encoding="utf-8") as handle:
        json.dump(seeded, handle, indent=2)


def group_names() -> list[str]:
    shared = os.path.join(common.HOME, "etc", "shared")
    return sorted(name for name in os.listdir(shared) if os.path.isdir(os.path.join(shared, name)))


def _file_md5(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.md5(handle.read()).hexdigest()[:8]
    except OSError:
        return ""


def _select(items: list[dict], query: dict) -> list[dict]:
    fields = [field for value in query.get("select", []) for field in value.split(",") if field]
    if not fields:
        return items
    keep = set(fields) | {"id"}
    return [{key: value for key, value in item.items() if key in keep} for item in items]


def _page(items: list, query: dict) -> list:
    offset = int(query.get("offset", ["0"])[0])
    limit = int(query.get("limit", ["500"])[0])
    return items[offset:offset + limit]


# -- handlers ----------------------------------------------------------------------------------

class Api:
    def __init__(self, manager) -> None:
        self.manager = manager

    def validation(self) -> tuple[bool, list[str]]:
        lines: list[str] = []
        ok = True
        for tool in ("wazuh-integratord", "wazuh-analysisd"):
            result = subprocess.run([os.path.join(common.HOME, "bin", tool), "-t"], capture_output=True, text=True)
            lines += [line for line in result.stderr.splitlines() if ": ERROR:" in line or ": CRITICAL:" in line]
            ok = ok and result.returncode == 0
        return ok, lines

    def validation_body(self) -> dict:
        ok, lines = self.validation()
        if ok:
            return envelope([{"name": NODE, "status": "OK"}], "Validation was successfully checked")
        error = {"code": 1908, "message": "Error validating configuration: " + " ".join(lines),
                 "remediation": "Please, fix the corrupted files"}
        return envelope([], "Validation could not be checked in any node", failed=[{"error": error, "id": [NODE]}])

    def handle(self, method: str, path: str, query: dict, body: bytes, headers) -> tuple[int, dict | str]:
        version = self.manager.version
        if path == "/security/user/authenticate" and method in ("POST", "GET"):
            return self.authenticate(headers, query)

        check_token(headers.get("Authorization"))

        if path == "/" and method == "GET":
            return 200, {"data": {"title": "Wazuh API REST", "api_version": version, "revision": common.revision(version),
                                  "license_name": "GPL 2.0",
                                  "license_url": "https://github.com/wazuh/wazuh/blob/master/LICENSE",
                                  "hostname": socket.gethostname(), "timestamp": _iso(time.time())}, "error": 0}

        if path == "/manager/status" and method == "GET":
            status = {daemon: "running" if tools.pid_of(daemon) else "stopped" for daemon in tools.DAEMONS}
            return 200, envelope([status], "Processes status was successfully read in specified node")

        if path == "/manager/info" and method == "GET":
            info = {"path": common.HOME, "version": f"v{version}", "type": "server", "max_agents": "unlimited",
                    "openssl_support": "yes", "tz_offset": "+0000", "tz_name": "UTC"}
            return 200, envelope([info], "Basic information was successfully read in specified node")

        if path == "/manager/configuration/validation" and method == "GET":
            return 200, self.validation_body()

        if path == "/manager/configuration" and method == "GET":
            return 200, self.configuration(query)

        if path == "/manager/logs" and method == "GET":
            return 200, self.logs(query)

        if path == "/manager/restart" and method == "PUT":
            body_ok = self.validation_body()
            if body_ok["error"]:
                return 200, body_ok
            subprocess.Popen([os.path.join(common.HOME, "bin", "wazuh-control"), "restart"], start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return 200, envelope([NODE], "Restart request sent to all specified nodes")

        if path == "/agents" and method == "GET":
            agents = load_agents(version)
            if "status" in query:
                statuses = set(",".join(query["status"]).split(","))
                agents = [agent for agent in agents if agent["status"] in statuses]
            if "group" in query:
                agents = [agent for agent in agents if query["group"][0] in agent.get("group", [])]
            total = len(agents)
            return 200, envelope(_select(_page(agents, query), query), "All selected agents information was returned", total=total)

        if path == "/groups" and method == "GET":
            agents = load_agents(version)
            items = []
            for name in group_names():
                conf = os.path.join(common.HOME, "etc", "shared", name, "agent.conf")
                items.append({"name": name, "count": sum(1 for agent in agents if name in agent.get("group", [])),
                              "mergedSum": _file_md5(os.path.join(common.HOME, "etc", "shared", name, "merged.mg")),
                              "configSum": _file_md5(conf)})
            return 200, envelope(items, "All selected groups information was returned")

        if path == "/groups" and method == "POST":
            return self.create_group(body)

        match = re.fullmatch(r"/groups/([^/]+)/agents", path)
        if match and method == "GET":
            group = self.existing_group(match.group(1))
            agents = [agent for agent in load_agents(version) if group in agent.get("group", [])]
            return 200, envelope(_select(agents, query), "All selected agents information was returned")

        match = re.fullmatch(r"/groups/([^/]+)/configuration", path)
        if match and method in ("GET", "PUT"):
            group = self.existing_group(match.group(1))
            conf = os.path.join(common.HOME, "etc", "shared", group, "agent.conf")
            if method == "GET":
                return 200, self.group_configuration(conf)
            return self.update_group_configuration(group, conf, body)

        match = re.fullmatch(r"/agents/(\d{3,})/group/([^/]+)", path)
        if match and method == "PUT":
            agent_id, group = match.group(1), self.existing_group(match.group(2))
            agent = next((item for item in load_agents(version) if item["id"] == agent_id and agent_id != "000"), None)
            if agent is None:
                raise ApiError(404, "Wazuh Error", f"Agent does not exist: {agent_id}", 1701)
            groups = agent.get("group", [])
            if group not in groups:
                save_agent_groups(agent_id, groups + [group])
            return 200, envelope([agent_id], f"All selected agents were assigned to {group}")

        known = path in ("/", "/manager/status", "/manager/info", "/manager/configuration/validation",
                         "/manager/configuration", "/manager/logs", "/manager/restart", "/agents", "/groups")
        if known:
            raise ApiError(405, "Method Not Allowed", "405: Method Not Allowed")
        raise ApiError(404, "Not Found", "404: Not Found")

    def authenticate(self, headers, query: dict) -> tuple[int, dict | str]:
        authorization = headers.get("Authorization") or ""
        user = password = ""
        if authorization.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(authorization[6:]).decode("utf-8").partition(":")
            except ValueError:
                pass
        if not user or not check_password(user, password):
            raise ApiError(401, "Unauthorized", "Invalid credentials")
        token = make_token(user)
        if query.get("raw", ["false"])[0] == "true":
            return 200, token
        return 200, {"data": {"token": token}, "error": 0}

    def existing_group(self, name: str) -> str:
        if name not in group_names():
            raise ApiError(404, "Wazuh Error", f"The group does not exist: {name}", 1710)
        return name

    def create_group(self, body: bytes) -> tuple[int, dict]:
        try:
            name = json.loads(body or b"{}").get("group_id", "")
        except json.JSONDecodeError:
            raise ApiError(400, "Bad Request", "Invalid JSON body") from None
        if not isinstance(name, str) or not GROUP_NAME.match(name) or name in (".", ".."):
            raise ApiError(400, "Wazuh Error", f"Invalid group ID: '{name}'. Use letters, digits, '-', '_' and '.'", 1722)
        if name in group_names():
            raise ApiError(400, "Wazuh Error", f"The group already exists: {name}", 1711)
        directory = os.path.join(common.HOME, "etc", "shared", name)
        os.makedirs(directory)
        uid, gid = common.wazuh_ids()
        os.chown(directory, uid, gid)
        os.chmod(directory, 0o770)
        conf = os.path.join(directory, "agent.conf")
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write(DEFAULT_AGENT_CONF)
        os.chown(conf, uid, gid)
        os.chmod(conf, 0o660)
        return 200, {"message": f"Group '{name}' created.", "error": 0}

    def group_configuration(self, conf: str) -> dict:
        with open(conf, encoding="utf-8", errors="replace") as handle:
            roots = xmlreader.parse(handle.read())
        items = [{"filters": dict(root.attributes), "config": {child.name: _to_json(child) for child in root.children}}
                 for root in roots if root.name == "agent_config"]
        return envelope(items, "Configuration was successfully read")

    def update_group_configuration(self, group: str, conf: str, body: bytes) -> tuple[int, dict]:
        temporary = f"{conf}.standin-new"
        with open(temporary, "wb") as handle:
            handle.write(body)
        problem = tools._agent_conf_problem(temporary)
        if problem:
            os.unlink(temporary)
            raise ApiError(400, "Wazuh Error", f"Wrong format in the agent configuration: {problem}", 1113)
        uid, gid = common.wazuh_ids()
        os.chown(temporary, uid, gid)
        os.chmod(temporary, 0o660)
        os.replace(temporary, conf)
        return 200, envelope([group], "Agent configuration was successfully updated")

    def configuration(self, query: dict) -> dict:
        roots = config.read_roots()
        section = query.get("section", [None])[0]
        requested_field = query.get("field", [None])[0]
        result: dict = {}
        for root in roots:
            for element in root.children:
                if section and element.name != section:
                    continue
                value = _to_json(element)
                if requested_field and isinstance(value, dict):
                    value = {requested_field: value.get(requested_field)}
                if element.name in result:
                    existing = result[element.name]
                    result[element.name] = (existing if isinstance(existing, list) else [existing]) + [value]
                else:
                    result[element.name] = [value] if element.name == "integration" else value
        return envelope([result], "Configuration was successfully read in specified node")

    def logs(self, query: dict) -> dict:
        tag = query.get("tag", [None])[0]
        level = query.get("level", [None])[0]
        items = []
        try:
            with open(common.OSSEC_LOG, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except OSError:
            lines = []
        for line in reversed(lines):
            match = re.match(r"^(\d{4})/(\d\d)/(\d\d) (\d\d:\d\d:\d\d) ([\w-]+): (\w+): (.*)$", line)
            if not match:
                continue
            item = {"timestamp": f"{match.group(1)}-{match.group(2)}-{match.group(3)}T{match.group(4)}Z",
                    "tag": match.group(5), "level": match.group(6).lower(), "description": f" {match.group(7)}"}
            if (tag and item["tag"] != tag) or (level and item["level"] != level):
                continue
            items.append(item)
        total = len(items)
        return envelope(_page(items, query), "Logs were successfully read", total=total)


def _to_json(element: xmlreader.Element):
    if not element.children:
        return element.text.strip()
    result: dict = {}
    for child in element.children:
        value = _to_json(child)
        if child.name in result:
            existing = result[child.name]
            result[child.name] = (existing if isinstance(existing, list) else [existing]) + [value]
        else:
            result[child.name] = value
    return result


def _request_user(authorization: str) -> str:
    """Return the user named by a request's credentials, for api.log only (nothing is verified here)."""
    try:
        if authorization.startswith("Basic "):
            return base64.b64decode(authorization[6:]).decode("utf-8").partition(":")[0]
        if authorization.startswith("Bearer "):
            return json.loads(_unb64(authorization[7:].split(".")[1])).get("sub", "")
    except (ValueError, IndexError, json.JSONDecodeError):
        pass
    return ""


def _log_request(user: str, address: str, method: str, path: str, status: int, seconds: float) -> None:
    line = (f"{time.strftime('%Y/%m/%d %H:%M:%S')} INFO: {user or 'unknown_user'} {address} \"{method} {path}\" "
            f"with parameters {{}} and body {{}} done in {seconds:.3f}s: {status}")
    try:
        with open(API_LOG, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError:
        pass


def start(manager):
    """Start the API in a thread; raises OSError when the port cannot be bound."""
    api = Api(manager)

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "Wazuh API"

        def _serve(self, method: str) -> None:
            started = time.time()
            parsed = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parsed.query)
            body = self._read_body()
            user = _request_user(self.headers.get("Authorization") or "")
            try:
                status, payload = api.handle(method, parsed.path.rstrip("/") or "/", query, body, self.headers)
            except ApiError as error:
                status, payload = error.status, error.body()
            except Exception as error:  # Return 500 like the real API and keep serving.
                common.write_ossec_log("wazuh-apid", "ERROR", f"Stand-in API failed on {method} {parsed.path}: {error!r}")
                status, payload = 500, {"title": "Internal Server Error", "detail": str(error)}
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            _log_request(user, self.client_address[0], method, parsed.path, status, time.time() - started)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, format: str, *arguments) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", api_port()), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ssl_directory = os.path.join(common.HOME, "api", "configuration", "ssl")
    context.load_cert_chain(os.path.join(ssl_directory, "server.crt"), os.path.join(ssl_directory, "server.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
