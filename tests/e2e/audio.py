"""Speech for SIPp callers: a phrase spoken by espeak-ng, as a PCMU RTP capture that
SIPp's play_pcap_audio sends (a voicemail needs a caller who talks).

The capture belongs to the same RTP stream as the call's keys (tests/e2e/dtmf.py):
same SSRC, sequence numbers and timestamps just before the first key's, so speech
followed by keys is one continuous stream to Asterisk.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from tests.e2e.dtmf import (
    BASE_SEQUENCE,
    BASE_TIMESTAMP,
    CLOCK_RATE,
    ETHERNET,
    PCAP_HEADER,
    RECORD_HEADER,
    shipped_capture,
)

#: 20 ms of 8 kHz PCMU per packet, as phones send it.
SAMPLES_PER_PACKET = 160
PCMU = 0


def spoken_ulaw(text: str, workdir: Path, voice: str = "en") -> bytes:
    """`text` spoken by espeak-ng (in `voice`: "ko" for Korean) as raw 8 kHz mu-law."""
    wav, raw = workdir / "speech.wav", workdir / "speech.ul"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, capture_output=True
    )
    subprocess.run(
        ["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(raw)],
        check=True,
        capture_output=True,
    )
    return raw.read_bytes()


def speech_capture(text: str, workdir: Path, voice: str = "en") -> tuple[Path, float]:
    """A capture of `text` for the start of a call (before any key); its length in s."""
    audio = spoken_ulaw(text, workdir, voice)
    template = shipped_capture("1").read_bytes()
    # Reuse the shipped capture's file header and Ethernet/IP/UDP headers and SSRC.
    first = PCAP_HEADER + RECORD_HEADER
    ip_len = (template[first + ETHERNET] & 0x0F) * 4
    headers = bytearray(template[first : first + ETHERNET + ip_len + 8])
    ssrc = struct.unpack_from(">I", template, first + ETHERNET + ip_len + 8 + 8)[0]
    chunks = [
        audio[i : i + SAMPLES_PER_PACKET].ljust(SAMPLES_PER_PACKET, b"\xff")
        for i in range(0, len(audio), SAMPLES_PER_PACKET)
    ]
    # End a little before the first key's sequence number and timestamp.
    sequence = BASE_SEQUENCE - len(chunks) - 10
    timestamp = BASE_TIMESTAMP - (len(chunks) + 50) * SAMPLES_PER_PACKET
    out = bytearray(template[:PCAP_HEADER])
    for n, chunk in enumerate(chunks):
        rtp = struct.pack(
            ">BBHII", 0x80, PCMU, sequence + n, timestamp + n * SAMPLES_PER_PACKET, ssrc
        )
        payload = rtp + chunk
        packet = bytearray(headers)
        struct.pack_into(">H", packet, ETHERNET + 2, ip_len + 8 + len(payload))  # IP length
        struct.pack_into(">HH", packet, ETHERNET + ip_len + 4, 8 + len(payload), 0)  # UDP
        packet += payload
        micros = n * 20_000
        out += struct.pack(
            "<IIII", 1 + micros // 1_000_000, micros % 1_000_000, len(packet), len(packet)
        )
        out += packet
    target = workdir / "speech.pcap"
    target.write_bytes(bytes(out))
    return target, len(chunks) * SAMPLES_PER_PACKET / CLOCK_RATE
