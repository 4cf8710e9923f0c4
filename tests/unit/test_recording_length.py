"""A conversation's recording length is read once Asterisk has written the WAV header
(it does on closing the file, a moment after the stop request)."""

from __future__ import annotations

import asyncio
import struct
import wave
from pathlib import Path

from ari_app.recording import recorded_seconds, wav_seconds


def write_wav(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))


def unclosed(path: Path) -> None:
    """As Asterisk leaves a recording it has not closed yet: audio, header saying 0."""
    data = path.read_bytes()
    header = bytearray(data[:44])
    struct.pack_into("<I", header, 4, 36)  # RIFF size without the audio
    struct.pack_into("<I", header, 40, 0)  # data chunk: 0 bytes
    path.write_bytes(bytes(header) + data[44:])


def test_a_closed_file_an_empty_one_and_none(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", 2.5)
    assert wav_seconds(tmp_path / "a.wav") == (2.5, True)
    write_wav(tmp_path / "empty.wav", 0)
    assert wav_seconds(tmp_path / "empty.wav") == (0.0, True)
    assert wav_seconds(tmp_path / "missing.wav") == (0.0, False)  # waited for
    assert wav_seconds(None) == (0.0, True)


def test_an_unclosed_file_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    write_wav(path, 3)
    unclosed(path)
    assert wav_seconds(path) == (3.0, False)  # counted from its size meanwhile

    async def close_later() -> float:
        async def close() -> None:
            await asyncio.sleep(0.2)
            write_wav(tmp_path / "closed.wav", 3)
            (tmp_path / "closed.wav").replace(path)  # at once, as a header rewrite is

        closing = asyncio.create_task(close())
        seconds = await recorded_seconds(path, wait=5)
        await closing
        return seconds

    assert asyncio.run(close_later()) == 3.0
    unclosed(path)
    # Never closed within the wait: the length its size gives, not nothing.
    assert asyncio.run(recorded_seconds(path, wait=0.1)) == 3.0
