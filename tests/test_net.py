"""Ports handed to child processes (paved._net)."""

from __future__ import annotations

from paved._net import free_port


def test_free_ports_are_never_an_outgoing_connections_local_port() -> None:
    """A port handed to a child to listen on stays free until it binds: it is picked below
    the ephemeral range, where no connect() and no bind(0) on the machine can take it."""
    import socket

    from paved._net import ephemeral_ports

    lo, _ = ephemeral_ports()
    ports = [free_port() for _ in range(50)]
    assert all(1024 <= p < lo for p in ports), ports
    assert len(set(ports)) > 40  # random, not a sequence two processes would share
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[0]))  # free when handed out
