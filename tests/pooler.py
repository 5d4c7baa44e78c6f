"""A stand-in for a connection pooler that drops the startup packet's ``options``
(as PgBouncer does with `ignore_startup_parameters = options`): a TCP proxy that
answers SSLRequest with 'N', forwards the startup packet without its ``options``
parameter, then relays bytes both ways. Settings a client put in ``options``
never reach the server through it."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _startup(client: socket.socket) -> bytes:
    """The client's startup packet, after refusing SSL/GSS encryption."""
    while True:
        length = struct.unpack("!i", _read(client, 4))[0]
        body = _read(client, length - 4)
        code = struct.unpack("!i", body[:4])[0]
        if code in (_SSL_REQUEST, _GSS_REQUEST):
            client.sendall(b"N")
            continue
        return body


def _without_options(body: bytes) -> bytes:
    version, rest = body[:4], body[4:]
    fields = rest.split(b"\0")
    pairs = list(zip(fields[0::2], fields[1::2], strict=False))
    kept = [(k, v) for k, v in pairs if k and k != b"options"]
    packed = version + b"".join(k + b"\0" + v + b"\0" for k, v in kept) + b"\0"
    return struct.pack("!i", len(packed) + 4) + packed


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class OptionsDroppingProxy:
    """Listens on 127.0.0.1:``port`` and relays to ``target_port``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            packet = _without_options(_startup(client))
            server = socket.create_connection(("127.0.0.1", self.target_port))
            server.sendall(packet)
        except OSError:
            client.close()
            return
        threading.Thread(target=_pipe, args=(server, client), daemon=True).start()
        _pipe(client, server)

    def close(self) -> None:
        self.listener.close()
