"""The online sessions of one model: each has an id and its state in the model
(``rnnkit.serve.online.SessionState``), survives a dropped connection for ``idle_seconds``
(a client reconnects with ``?session=ID`` and goes on where it was), and their number is
capped: opening one more closes the session idle longest, with a close code and a reason.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from rnnkit.serve.online import SessionState

#: WebSocket close code of a session closed to make room for a new one (4000-4999 are
#: the application's own).
EVICTED = 4000


@dataclass
class Session:
    id: str
    state: SessionState = field(default_factory=SessionState)
    socket: Any = None  # the WebSocket it is connected on, or None
    last_used: float = field(default_factory=time.monotonic)


class Sessions:
    def __init__(self, cap: int, idle_seconds: float) -> None:
        self.cap, self.idle_seconds = cap, idle_seconds
        self.open: dict[str, Session] = {}

    def attach(self, session_id: str | None, socket: Any) -> tuple[Session, bool, list[Session]]:
        """The session ``session_id`` (if it is still held) or a new one, now on ``socket``
        -> (session, whether it was resumed, sessions closed to make room)."""
        self._expire()
        session = self.open.get(session_id) if session_id else None
        evicted = []
        if session is None:
            while len(self.open) >= self.cap:
                evicted.append(self._close(min(self.open.values(), key=lambda s: s.last_used)))
            session = Session(secrets.token_urlsafe(12))
            self.open[session.id] = session
            resumed = False
        else:
            resumed = True
        session.socket, session.last_used = socket, time.monotonic()
        return session, resumed, evicted

    def detach(self, session: Session) -> None:
        """The connection is gone; the session waits ``idle_seconds`` to be resumed."""
        if self.open.get(session.id) is session:
            session.socket, session.last_used = None, time.monotonic()

    def end(self, session: Session) -> None:
        self._close(session)

    def used(self, session: Session) -> None:
        session.last_used = time.monotonic()

    def _expire(self) -> None:
        now = time.monotonic()
        for session in list(self.open.values()):
            if session.socket is None and now - session.last_used > self.idle_seconds:
                self._close(session)

    def _close(self, session: Session) -> Session:
        self.open.pop(session.id, None)
        return session
