"""RFC 2833 key presses for SIPp, derived from the captures Debian's sip-tester ships.

Replaying one capture twice in a call repeats its RTP sequence numbers and timestamp,
and a receiver rightly drops the second key as a duplicate of the first. So each key
of a call is the shipped capture rewritten to continue one RTP stream: its sequence
numbers follow straight on from the previous key's, and its timestamp moves on by the
time that passed between the two keys.
"""

from __future__ import annotations

import struct
from pathlib import Path

SHIPPED = Path("/usr/share/sip-tester")
NAMES = {**{d: d for d in "0123456789"}, "*": "star", "#": "pound"}
ETHERNET = 14
PCAP_HEADER = 24
RECORD_HEADER = 16


def shipped_capture(digit: str) -> Path:
    path = SHIPPED / f"dtmf_2833_{NAMES[digit]}.pcap"
    if not path.exists():
        raise FileNotFoundError(f"{path}: install Debian's sip-tester")
    return path


#: Distinct sequence numbers in each shipped capture (its last packets repeat the end).
PACKETS_PER_KEY = 8
CLOCK_RATE = 8000
BASE_SEQUENCE = 1000
BASE_TIMESTAMP = 160_000


def keys_capture(presses: list[tuple[float, str]], position: int, workdir: Path) -> Path:
    """One capture for `presses`, each `(seconds after the call's first key, digit)`,
    the first being the `position`-th key (0-based) of the call.

    Keys pressed together are one capture, so one SIPp thread plays them and their
    packets leave in order. A capture per key starts a thread per key: on a stalled
    machine two of them overlap, one key's end packets arrive after the next key began,
    and Asterisk takes those late ends for the key pressed again (`*2#` heard as
    `*22#`)."""
    names = "-".join(NAMES[digit] for _, digit in presses)
    target = workdir / f"dtmf-{position:03d}-{names}.pcap"
    out = bytearray()
    first = presses[0][0]
    for index, (seconds, digit) in enumerate(presses):
        data = shipped_capture(digit).read_bytes()
        out += b"" if out else data[:PCAP_HEADER]
        start = _capture_start(data) - (seconds - first)
        out += _rewritten_records(data, position + index, seconds, start)
    target.write_bytes(bytes(out))
    return target


def _capture_start(data: bytes) -> float:
    """The capture time of a pcap's first record, in seconds."""
    seconds, micros = struct.unpack_from("<II", data, PCAP_HEADER)
    return seconds + micros / 1e6


def _rewritten_records(data: bytes, position: int, seconds: float, start: float) -> bytes:
    """A shipped capture's records as the `position`-th key, `seconds` after the first,
    their capture times moved so that `start` becomes zero."""
    # Each shipped capture has its own sequence and timestamp base: anchor them all.
    out = bytearray(data[PCAP_HEADER:])
    first_sequence: int | None = None
    offset = 0
    while offset < len(out):
        captured, micros = struct.unpack_from("<II", out, offset)
        moved = round((captured + micros / 1e6 - start) * 1e6)
        struct.pack_into("<II", out, offset, moved // 1_000_000, moved % 1_000_000)
        length = struct.unpack_from("<I", out, offset + 8)[0]
        packet = offset + RECORD_HEADER
        udp = packet + ETHERNET + (out[packet + ETHERNET] & 0x0F) * 4
        rtp = udp + 8
        sequence = struct.unpack_from(">H", out, rtp + 2)[0]
        first_sequence = sequence if first_sequence is None else first_sequence
        struct.pack_into(
            ">HI",
            out,
            rtp + 2,
            (BASE_SEQUENCE + PACKETS_PER_KEY * position + sequence - first_sequence) & 0xFFFF,
            (BASE_TIMESTAMP + round(seconds * CLOCK_RATE)) & 0xFFFFFFFF,
        )
        struct.pack_into(">H", out, udp + 6, 0)  # the payload changed: no UDP checksum
        offset = packet + length
    return bytes(out)
