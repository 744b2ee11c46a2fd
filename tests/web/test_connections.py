"""The real server stays reachable while a thousand idle and slow (slowloris) connections are open."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest

from tests import helpers

IDLE = 1000
SLOW = 100


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(True)
    return s


def _closed_by_peer(s: socket.socket) -> bool:
    """True when the server has closed ``s`` (EOF or reset)."""
    s.settimeout(0.2)
    try:
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def _get(base: str, path: str = "/healthz") -> int:
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return r.status


@pytest.fixture
def server(tmp_path):
    data = helpers.copy_mini(tmp_path / "geodata")
    with helpers.Server(tmp_path / "inst", data, CHANNEL_TIMEOUT="3", REQUEST_TIMEOUT="4") as srv:
        yield srv


def test_idle_and_slowloris_connections_neither_lock_others_out_nor_stay_for_ever(server):
    with helpers.HoggedConnections(server.port, IDLE, SLOW) as hog:
        # everyone else is still served, while all 1,100 connections are open
        assert [_get(server.base) for _ in range(20)] == [200] * 20
        assert _get(server.base, "/api/v1/layers") == 200
        # silent connections go after CHANNEL_TIMEOUT, trickling ones after REQUEST_TIMEOUT
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(_closed_by_peer(s) for s in hog.idle[:50] + hog.slow[:50]):
                break
            time.sleep(1)
        assert all(_closed_by_peer(s) for s in hog.idle[:50]), "idle connections were not closed"
        assert all(_closed_by_peer(s) for s in hog.slow[:50]), "slowloris connections were not cut off"
        assert _get(server.base) == 200
        assert server.proc.poll() is None


def test_a_normal_slow_upload_within_the_limit_still_arrives(server):
    body = b'{"lon": 98.2745, "lat": 39.7862}'
    s = _connect(server.port)
    try:
        s.sendall(b"POST /api/v1/locate/point HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        for k in range(0, len(body), 8):  # a slow client, but done well within REQUEST_TIMEOUT
            s.sendall(body[k:k + 8])
            time.sleep(0.3)
        s.settimeout(10)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    finally:
        s.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
