"""An ASGI middleware that refuses request bodies over a size limit (413) before the app reads them."""
from __future__ import annotations

import json
from typing import Awaitable, Callable, List

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class BodySizeLimit:
    """Reject requests whose body exceeds ``max_bytes`` with 413, by header or while reading.

    The body is read fully (at most ``max_bytes``) before the app runs, so a too large upload is
    refused without the app seeing any of it, and chunked uploads without a length are caught too.
    """

    def __init__(self, app, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({'detail': f'request body larger than the limit of {self.max_bytes} bytes'}).encode()
        await send({'type': 'http.response.start', 'status': 413,
                    'headers': [(b'content-type', b'application/json'), (b'content-length', str(len(body)).encode()),
                                (b'connection', b'close')]})
        await send({'type': 'http.response.body', 'body': body})

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get('headers') or [])
        length = headers.get(b'content-length')
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: List[bytes] = []
        total, more = 0, True
        while more:
            message = await receive()
            if message['type'] == 'http.disconnect':
                return
            chunk = message.get('body', b'')
            total += len(chunk)
            if total > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get('more_body', False)
        body, replayed = b''.join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {'type': 'http.request', 'body': body, 'more_body': False}
            return await receive()

        await self.app(scope, replay, send)
