"""A TCP proxy in front of a Redis unix socket that loses replies on purpose.

Each command is forwarded to the server; then, now and again, the reply is
thrown away and the connection closed (the server ran the command, the client
never hears so), or the connection is closed before the command is forwarded.
That is what a network blip does to a client, and why every write of the
store must be safe to resend.
"""
from __future__ import annotations

import random
import socket
import threading


class LossyProxy:
    def __init__(self, unix_path: str, *, drop_reply: float, drop_command: float, seed: int = 0):
        self.unix_path = unix_path
        self.drop_reply, self.drop_command = drop_reply, drop_command
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.replies_dropped = self.commands_dropped = self.forwarded = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.closed.set()
        self.listener.close()

    def _chance(self, p: float) -> bool:
        with self.lock:
            return self.random.random() < p

    def _count(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(self.unix_path)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, to_server: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if to_server and self._chance(self.drop_command):
                    self._count("commands_dropped")
                    break
                if not to_server and self._chance(self.drop_reply):
                    self._count("replies_dropped")
                    break
                sink.sendall(data)
                if to_server:
                    self._count("forwarded")
        except OSError:
            pass
        finally:
            hang_up(source, sink)


def hang_up(*sockets: socket.socket) -> None:
    """Close both ends of a forwarded connection, whatever state they are in."""
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
