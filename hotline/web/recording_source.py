"""Where a recording's bytes come from: this box's disk, or the node that made it.

A recording is made by the Asterisk node that had the call and saved on that box (the
`file` of `recording.saved`). On a single box every recording is local. In a cluster a
desk, contact page or API call may reach any web process, so each contact names its
node (`contacts.asterisk_node`: the call worker's name, `host/asterisk-instance`) and
`routing.nodes` gives each node's web address; a recording that is not on this box is
fetched from its node's `GET /api/nodes/recordings/{contact_id}/{name}` with the API
token (the same `secrets.yaml` on every box) and streamed through. That endpoint serves
its own disk only (no fetch onward, no loop) and takes the API token only; the access is
logged once, by the node the user asked (`recording.accessed`, with who).

Fetched rather than shared storage: nothing to mount and keep mounted on every box (an
NFS server is one more box to fail), a recording is read where it was written, and a
node that is down says so: `503 recording ... is on node host-b/default, which did not
answer: ...` instead of a file that looks missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from hotline.errors import error_text

#: Seconds a node has to start answering a fetch.
FETCH_TIMEOUT = 10.0
#: Bytes copied at a time while streaming a fetched recording through.
CHUNK = 64 * 1024


class RecordingUnavailable(Exception):
    """The recording cannot be served: `status` 404 (not there) or 503 (its node)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Found:
    """An open recording: a file on this box, or a node's answer being streamed."""

    name: str
    path: Path | None = None
    upstream: aiohttp.ClientResponse | None = None

    async def respond(self, request: web.Request, headers: Mapping[str, str]) -> web.StreamResponse:
        """Send it (`headers`: the disposition and caching the caller wants)."""
        if self.path is not None:
            return web.FileResponse(self.path, headers=dict(headers))
        assert self.upstream is not None
        response = web.StreamResponse(headers=dict(headers))
        response.content_type = self.upstream.content_type or "audio/wav"
        if self.upstream.content_length is not None:
            response.content_length = self.upstream.content_length
        await response.prepare(request)
        async for chunk in self.upstream.content.iter_chunked(CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response


def on_disk(file: str) -> bool:
    """A single box: every stored recording file is on this disk."""
    return Path(file).is_file()


def under(folder: Path | None) -> Callable[[str], bool]:
    """A cluster node: only the files in its own recordings folder are on its disk
    (None: none, a web process with no Asterisk)."""
    root = None if folder is None else folder.resolve()

    def here(file: str) -> bool:
        path = Path(file)
        return root is not None and path.resolve().is_relative_to(root) and path.is_file()

    return here


class RecordingSource:
    """Opens a contact's recording here or on its node (module docstring)."""

    def __init__(
        self,
        node: str | None = None,
        nodes: Mapping[str, str] | None = None,
        token: str | None = None,
        *,
        timeout: float = FETCH_TIMEOUT,
        is_here: Callable[[str], bool] = on_disk,
    ) -> None:
        """`node`: this box's call worker name (None: a web process with no Asterisk);
        `nodes`: each node's web address (routing.nodes); `token`: the API token;
        `is_here`: whether a stored file is on this box's disk."""
        self.node = node
        self.nodes = {name: url.rstrip("/") for name, url in (nodes or {}).items()}
        self.token = token
        self.timeout = timeout
        self.is_here = is_here

    def url(self, node: str, contact_id: str, name: str) -> str:
        base = self.nodes[node]
        return f"{base}/api/nodes/recordings/{quote(contact_id, safe='')}/{quote(name, safe='')}"

    @contextlib.asynccontextmanager
    async def open(
        self, contact_id: str, name: str, file: str | None, node: str | None
    ) -> AsyncIterator[Found]:
        """The recording `name` of the contact, whose log stored it as `file` on
        `node`: RecordingUnavailable (404, 503) says why it cannot be had."""
        missing = f"contact {contact_id} has no recording {name}"
        if file is None:
            raise RecordingUnavailable(404, missing)
        if self.is_here(file):
            yield Found(name, path=Path(file))
            return
        if node is None or node == self.node:
            raise RecordingUnavailable(404, missing)  # made here, and gone since
        if node not in self.nodes or not self.token:
            raise RecordingUnavailable(
                503,
                f"recording {name} is on node {node}, whose web address is not in routing.nodes",
            )
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout, sock_read=self.timeout
        )
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                upstream = await session.get(self.url(node, contact_id, name), headers=headers)
            except (aiohttp.ClientError, TimeoutError) as error:
                why = error_text(error)
                raise RecordingUnavailable(
                    503, f"recording {name} is on node {node}, which did not answer: {why}"
                ) from None
            async with upstream:
                if upstream.status == 404:
                    raise RecordingUnavailable(404, f"{missing} (not on node {node} either)")
                if upstream.status != 200:
                    said = await _error_of(upstream)
                    raise RecordingUnavailable(
                        503,
                        f"recording {name} is on node {node}, which answered "
                        f"{upstream.status}: {said}",
                    )
                yield Found(name, upstream=upstream)


async def _error_of(response: aiohttp.ClientResponse) -> str:
    """What a node said with its error (its JSON `error`, else its text, short)."""
    with contextlib.suppress(Exception):
        body: Any = await response.json(content_type=None)
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])
    with contextlib.suppress(Exception):
        return (await response.text())[:200]
    return response.reason or ""
