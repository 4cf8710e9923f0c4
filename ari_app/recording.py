"""Recording a queued caller's conversation with an agent: started when the agent
answers, paused and resumed from the API, stopped and stored with the contact."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import wave
from pathlib import Path

from ari_app.client import AriClient, AriError, AriNotFound
from ari_app.voice_port import VoicePort
from hotline.flows.port import Prompt

#: A canonical WAV header (RIFF, fmt and data chunk headers): a file no longer than
#: this holds no audio.
WAV_HEADER_BYTES = 44


def wav_seconds(path: Path | None) -> tuple[float, bool]:
    """How long a WAV file plays (0 when it is not here to read), and whether its
    header is written: Asterisk writes the length into the header when it closes the
    file, a moment after the recording is stopped; until then it says 0 frames while
    the audio is already there, and the length is counted from the file's size."""
    if path is None:
        return 0.0, True
    try:
        with wave.open(str(path)) as audio:
            frames = audio.getnframes()
            rate = float(audio.getframerate() or 1)
            frame_bytes = audio.getsampwidth() * audio.getnchannels() or 1
        size = path.stat().st_size
    except (OSError, EOFError, wave.Error):
        return 0.0, False  # not created yet, or its header not all there: waited for
    if frames > 0 or size <= WAV_HEADER_BYTES:
        return frames / rate, True
    return (size - WAV_HEADER_BYTES) / frame_bytes / rate, False


async def recorded_seconds(path: Path | None, wait: float = 2.0) -> float:
    """`wav_seconds` once the file's header is written; when `wait` is over first,
    the length its size gives (Asterisk has not closed it yet)."""
    deadline = time.monotonic() + wait
    while True:
        seconds, written = await asyncio.to_thread(wav_seconds, path)
        if written or time.monotonic() >= deadline:
            return seconds
        await asyncio.sleep(0.05)


class LiveRecordings:
    """Conversations being recorded, by contact, so the API can pause and resume them."""

    def __init__(self, ari: AriClient) -> None:
        self.ari = ari
        self.names: dict[str, str] = {}

    async def pause(self, contact_id: str) -> bool:
        return await self._pause(contact_id, "POST")

    async def resume(self, contact_id: str) -> bool:
        return await self._pause(contact_id, "DELETE")

    async def _pause(self, contact_id: str, method: str) -> bool:
        name = self.names.get(contact_id)
        if name is None:
            return False
        try:
            await self.ari.request(method, f"recordings/live/{name}/pause")
        except AriNotFound:
            return False
        return True


class ConversationRecorder:
    """One call's conversation recordings, logged against its contact."""

    def __init__(self, port: VoicePort, live: LiveRecordings, contact_id: str) -> None:
        self.port = port
        self.live = live
        self.contact_id = contact_id

    async def start(self, bridge: str, agent: str) -> str | None:
        """Record the conversation in `bridge` from now on: the recording's name, or
        None when Asterisk refused (logged, the conversation goes on unrecorded)."""
        name = f"call-{self.contact_id}-{uuid.uuid4().hex[:6]}"
        try:
            await self.port.ari.request(
                "POST",
                f"bridges/{bridge}/record",
                params={"name": name, "format": "wav", "ifExists": "fail"},
            )
        except AriError as error:
            await self.port.emit("recording.failed", {"name": name, "error": str(error)})
            return None
        self.live.names[self.contact_id] = name
        await self.port.emit("recording.started", {"name": name, "agent": agent})
        return name

    async def announce(self, bridge: str, language: str) -> None:
        """The recording notice, played into `bridge` (everyone in it hears it) when a
        recording starts mid-call: after a consultation, the colleague's queue records
        and the caller's did not (so the caller was not told when they queued)."""
        notice = [Prompt(key="recording_notice")]
        media = [uri for uri, _ in self.port.prompts.media(notice, language)]
        if not media:
            return
        params = [("media", uri) for uri in media] + [
            ("lang", language),
            ("playbackId", f"notice-{self.contact_id}-{uuid.uuid4().hex[:6]}"),
        ]
        with contextlib.suppress(AriError):  # (the call goes on; the recording too)
            await self.port.ari.request("POST", f"bridges/{bridge}/play", params=params)

    def adopt(self, name: str) -> None:
        """A recording a previous controller started (recovery): pausable again."""
        self.live.names[self.contact_id] = name

    async def save(self, name: str, agent: str, queue: str) -> None:
        """Stop the recording (so the file is complete) and store it with the contact."""
        self.live.names.pop(self.contact_id, None)
        with contextlib.suppress(AriError):
            await self.port.ari.request("POST", f"recordings/live/{name}/stop")
        recordings = self.port.recordings
        duration = await recorded_seconds(recordings.host_path(name))
        await self.port.emit(
            "recording.saved",
            recordings.event(
                name,
                duration,
                "recorded" if duration >= 1 else "empty",
                kind="conversation",
                agent=agent,
                queue=queue,
                caller=self.port.caller_id,
            ),
        )
