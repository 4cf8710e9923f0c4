"""An RTP sink for end-to-end tests: a loopback UDP socket a SIPp caller's SDP points
at, counting the PCMU packets Asterisk sends and whether they carry sound."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from tests.e2e.ports import free_port

PCMU = 0
#: mu-law bytes of (near) silence: 0xFF is +0, 0x7F is -0; 0xFE/0x7E are +-1 step.
SILENT = frozenset({0xFF, 0x7F, 0xFE, 0x7E})


@dataclass(frozen=True)
class Packet:
    at: float  # time.monotonic() on arrival
    payload_type: int
    audible: bool  # a PCMU payload with more than a few non-silent samples


class RtpSink:
    """Receives RTP on 127.0.0.1:`port` in a thread until `close`."""

    def __init__(self) -> None:
        self.port = free_port("udp", even=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.packets: list[Packet] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 12 or data[0] >> 6 != 2:
                continue  # not RTP version 2
            header = 12 + 4 * (data[0] & 0x0F)
            payload_type = data[1] & 0x7F
            payload = data[header:]
            loud = sum(1 for byte in payload if byte not in SILENT)
            audible = payload_type == PCMU and loud > len(payload) // 10
            self.packets.append(Packet(time.monotonic(), payload_type, audible))

    def audible_seconds(self, start: float = 0.0, end: float = float("inf")) -> float:
        """Seconds of audible PCMU (20 ms packets) that arrived between `start` and `end`."""
        return 0.02 * sum(1 for p in self.packets if p.audible and start <= p.at < end)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
