"""Stand-in for the Wazuh manager's queue socket in tests.

Binds an AF_UNIX datagram socket at the path given as the only argument and prints one JSON line
per datagram on stdout: {"data": "<datagram as UTF-8 text>", "bytes": <length>}. The first line,
{"ready": true}, means that the socket exists. Node has no AF_UNIX datagram sockets,
which is why this is a Python helper.
"""

import json
import os
import signal
import socket
import sys

# Wazuh's analysisd reads datagrams of up to OS_MAXSTR (65536) bytes. The listener reads more, so a
# test receives an oversized message whole instead of silently cut.
RECEIVE_BUFFER_BYTES = 262144


def main():
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)

    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    server.bind(path)
    os.chmod(path, 0o660)
    signal.signal(signal.SIGTERM, lambda *_: (os.path.exists(path) and os.unlink(path), sys.exit(0)))

    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    while True:
        datagram = server.recv(RECEIVE_BUFFER_BYTES)
        line = {"data": datagram.decode("utf-8", "replace"), "bytes": len(datagram)}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
