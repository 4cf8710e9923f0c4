import asyncio
import socket
import struct

from ari_app.media import MediaServer, rtp_payload, ulaw_to_pcm


def rtp(payload: bytes, *, pt: int = 0, csrc: int = 0, extension: bytes = b"", pad: int = 0):
    first = 0x80 | csrc | (0x10 if extension else 0) | (0x20 if pad else 0)
    header = struct.pack(">BBHII", first, pt, 1, 160, 1234) + bytes(4 * csrc)
    if extension:
        header += struct.pack(">HH", 0xBEDE, len(extension) // 4) + extension
    return header + payload + (bytes(pad - 1) + bytes([pad]) if pad else b"")


def test_ulaw_decodes_to_linear_pcm():
    assert struct.unpack("<4h", ulaw_to_pcm(bytes([0x00, 0x80, 0xFF, 0x7F]))) == (
        -32124,
        32124,
        0,
        0,
    )


def test_rtp_payload_skips_csrcs_extensions_and_padding():
    assert rtp_payload(rtp(b"abc")) == (0, b"abc")
    assert rtp_payload(rtp(b"abc", csrc=2)) == (0, b"abc")
    assert rtp_payload(rtp(b"abc", extension=bytes(8))) == (0, b"abc")
    assert rtp_payload(rtp(b"abc", pad=4, pt=8)) == (8, b"abc")
    assert rtp_payload(b"\x00" * 20) is None  # not version 2
    assert rtp_payload(b"\x80\x00") is None


async def test_each_stream_reaches_the_sink_of_its_source():
    server = MediaServer()
    host, port = await server.start("127.0.0.1", 0)
    heard: list[bytes] = []
    other: list[bytes] = []
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.bind(("127.0.0.1", 0))
        stranger.bind(("127.0.0.1", 0))
        server.register(sender.getsockname(), heard.append)
        server.register(("0.0.0.0", 9), other.append)  # any host, port 9
        sender.sendto(rtp(bytes([0xFF] * 160)), (host, port))
        sender.sendto(rtp(bytes([0xFF] * 160), pt=101), (host, port))  # a DTMF event
        stranger.sendto(rtp(bytes(160)), (host, port))
        for _ in range(100):
            if heard and server.dropped >= 2:
                break
            await asyncio.sleep(0.01)
        assert heard == [bytes([0xFF] * 160)]  # the payload, decoded by the listener
        assert other == [] and server.dropped == 2
        server.unregister(sender.getsockname())
        sender.sendto(rtp(bytes(160)), (host, port))
        for _ in range(100):
            if server.dropped == 3:
                break
            await asyncio.sleep(0.01)
        assert len(heard) == 1
    finally:
        sender.close()
        stranger.close()
        server.close()


def test_stream_stats_count_lost_late_silent_and_the_longest_gap():
    from ari_app.media import StreamStats

    stats = StreamStats()
    sound, silence = b"\x10" * 160, b"\xff" * 80 + b"\x7f" * 80
    assert stats.take(65534, sound, 10.0)
    assert stats.take(65535, silence, 10.02)
    assert stats.take(2, sound, 10.30)  # 0 and 1 lost (across the wrap)
    assert not stats.take(1, sound, 10.31)  # late: dropped
    assert not stats.take(2, sound, 10.32)  # a repeat: dropped
    assert stats.take(3, sound, 10.33)
    assert (stats.packets, stats.lost, stats.late, stats.silent) == (4, 2, 2, 1)
    assert round(stats.longest_gap, 2) == 0.28
    assert stats.summary() == "4 packets, 2 lost, 2 late, 1 silent, longest gap 280 ms"


async def test_a_late_packet_is_not_heard_and_unregister_gives_the_counts():
    server = MediaServer()
    host, port = await server.start("127.0.0.1", 0)
    heard: list[bytes] = []
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.bind(("127.0.0.1", 0))
        server.register(sender.getsockname(), heard.append)
        for sequence, payload in ((5, b"a"), (7, b"c"), (6, b"b"), (8, b"d")):
            packet = bytearray(rtp(payload))
            packet[2:4] = sequence.to_bytes(2, "big")
            sender.sendto(bytes(packet), (host, port))
        for _ in range(100):
            if len(heard) == 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert heard == [b"a", b"c", b"d"]  # b came after c: dropped, not heard out of order
        stats = server.unregister(sender.getsockname())
        assert stats is not None and (stats.packets, stats.lost, stats.late) == (3, 1, 1)
        assert server.unregister(sender.getsockname()) is None
    finally:
        sender.close()
        server.close()
