"""A test phone's media as a Python RTP endpoint that plays its own tone and tells the
tones it hears apart: who hears whom, measured (monitoring, conferences).

A SIP peer (a SIPp caller or phone) puts this endpoint's port in its SDP; Asterisk
sends the call's audio here, and, from the first packet on, the endpoint sends its
tone back to where that came from (Asterisk's RTP is symmetric: it sends from the port
it receives on). Each 20 ms packet heard is measured at every tone of interest
(Goertzel): a tone counts as heard in a packet when its amplitude passes a threshold.
Tones are whole cycles per packet (multiples of 50 Hz), so the measure does not
depend on where a packet starts.
"""

from __future__ import annotations

import math
import random
import socket
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from tests.e2e.ports import free_port

SAMPLES = 160  # 20 ms at 8 kHz
RATE = 8000
PCMU = 0
#: The amplitude a tone is sent at, and the least that counts as heard (of 32767).
AMPLITUDE = 6000
HEARD = 1200


def _ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    sample = ((mantissa << 3) + 0x84) << exponent
    sample -= 0x84
    return -sample if sign else sample


def _ulaw_encode(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), 32635) + 0x84
    exponent = 7
    for bit in range(7, -1, -1):
        if sample & (0x80 << bit):
            exponent = bit
            break
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


DECODE = [_ulaw_decode(b) for b in range(256)]


def tone_payload(frequency: int) -> bytes:
    """One 20 ms packet of a tone (whole cycles: the next packet continues it)."""
    if (frequency * SAMPLES) % RATE:
        raise ValueError(f"{frequency} Hz is not whole cycles in 20 ms (use multiples of 50)")
    return bytes(
        _ulaw_encode(int(AMPLITUDE * math.sin(2 * math.pi * frequency * n / RATE)))
        for n in range(SAMPLES)
    )


def amplitude(samples: list[int], frequency: int) -> float:
    """The amplitude of `frequency` in the samples (Goertzel)."""
    k = 2 * math.cos(2 * math.pi * frequency / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / len(samples)


@dataclass(frozen=True)
class Heard:
    at: float  # time.monotonic() on arrival
    tones: frozenset[int]  # the frequencies of interest loud enough in it


class TonePhone:
    """RTP on 127.0.0.1:`port`: sends `frequency` once Asterisk has sent it something,
    and notes which of `listen_for` it hears in each packet, until `close`."""

    def __init__(self, frequency: int, listen_for: Iterable[int]) -> None:
        self.frequency = frequency
        self.listen_for = tuple(listen_for)
        self.port = free_port("udp", even=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.heard: list[Heard] = []
        #: When each packet of this phone's tone went out (time.monotonic()).
        self.sent_at: list[float] = []
        self.remote: tuple[str, int] | None = None
        self.sending = threading.Event()
        self.sending.set()
        self._payload = tone_payload(frequency)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._receive, daemon=True),
            threading.Thread(target=self._send, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 12 or data[0] >> 6 != 2 or data[1] & 0x7F != PCMU:
                continue
            self.remote = source
            samples = [DECODE[b] for b in data[12 + 4 * (data[0] & 0x0F) :]]
            if not samples:
                continue
            tones = frozenset(f for f in self.listen_for if amplitude(samples, f) >= HEARD)
            self.heard.append(Heard(time.monotonic(), tones))

    def _send(self) -> None:
        ssrc = random.getrandbits(32)
        sequence, stamp = random.getrandbits(16), random.getrandbits(32)
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at += 0.02
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()  # late (a loaded machine): no burst
            remote = self.remote
            if remote is None or not self.sending.is_set():
                continue
            header = struct.pack(">BBHII", 0x80, PCMU, sequence & 0xFFFF, stamp & 0xFFFFFFFF, ssrc)
            try:
                self.sock.sendto(header + self._payload, remote)
            except OSError:
                return
            self.sent_at.append(time.monotonic())
            sequence, stamp = sequence + 1, stamp + SAMPLES

    def share(self, frequency: int, start: float, end: float) -> float:
        """The share (0..1) of the packets heard between `start` and `end` that carry
        `frequency`; 0 when none arrived."""
        window = [h for h in self.heard if start <= h.at < end]
        if not window:
            return 0.0
        return sum(1 for h in window if frequency in h.tones) / len(window)

    def wait_hearing(self, frequency: int, share: float, timeout: float = 10.0) -> float:
        """Until `frequency` is in `share` of the last half second's packets (media
        through a loaded box's browser and bridges starts late); how long it took."""
        started = time.monotonic()
        while (now := time.monotonic()) < started + timeout:
            if self.share(frequency, now - 0.5, now) >= share:
                return now - started
            time.sleep(0.05)
        raise AssertionError(f"{frequency} Hz not heard in {timeout:g} s")

    def sent(self, start: float, end: float) -> int:
        """How many packets of this phone's tone went out between `start` and `end` (a
        loaded machine runs its sender late: fewer than one per 20 ms)."""
        return sum(1 for at in self.sent_at if start <= at < end)

    def packets(self, start: float, end: float) -> int:
        return sum(1 for h in self.heard if start <= h.at < end)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self.sock.close()
