"""A stand-in for Grafana's HTTP API, mounted as the transport of grafana-client's session.

It answers the few endpoints ``hosiery-admin grafana push`` uses as Grafana 11 does, and
records every request, so tests assert what the push sent. No Grafana runs in the tests.
"""

import io
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import niquests
from niquests.adapters import BaseAdapter


@dataclass
class Sent:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGrafana(BaseAdapter):
    """Folders and dashboards in memory; ``token`` (Bearer) or ``basic`` (user, password)."""

    token: str | None = "good-token"  # noqa: S105 - the fake's test credential
    basic: tuple[str, str] | None = None
    folders: dict[str, str] = field(default_factory=dict)
    """uid -> title"""
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    """uid -> the saved request body"""
    changed: set[str] = field(default_factory=set)
    """uids of dashboards edited in Grafana since: saving them needs overwrite (412)"""
    forbidden: bool = False
    unreachable: bool = False
    sent: list[Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def close(self) -> None:
        pass

    def send(self, request: niquests.PreparedRequest, **_: object) -> niquests.Response:  # type: ignore[override]
        if self.unreachable:
            raise niquests.ConnectionError("[Errno 111] Connection refused")
        body = request.body
        text = body.decode() if isinstance(body, bytes) else body
        parsed = json.loads(text) if text else None
        path = urlsplit(str(request.url)).path
        method = str(request.method)
        self.sent.append(Sent(method, path, dict(request.headers), parsed))
        status, answer = self._answer(method, path, dict(request.headers), parsed)
        return _response(request, status, answer)

    def _authorised(self, headers: dict[str, str]) -> bool:
        given = headers.get("Authorization", "")
        if self.token is not None and given == f"Bearer {self.token}":
            return True
        if self.basic is not None:
            import base64  # noqa: PLC0415 - only for basic auth

            expected = base64.b64encode(":".join(self.basic).encode()).decode()
            return given == f"Basic {expected}"
        return False

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if not self._authorised(headers):
            return 401, {"message": "Unauthorized"}
        if self.forbidden and method == "POST":
            return 403, {"message": "Permission denied"}
        if (method, path) == ("GET", "/api/folders"):
            return 200, [{"uid": u, "title": t} for u, t in self.folders.items()]
        if (method, path) == ("POST", "/api/folders"):
            self.folders[body["uid"]] = body["title"]
            return 200, {"uid": body["uid"], "title": body["title"]}
        if (method, path) == ("POST", "/api/dashboards/db"):
            uid = body["dashboard"]["uid"]
            if uid in self.changed and not body.get("overwrite"):
                return 412, {"message": "The dashboard has been changed by someone else"}
            folder = body.get("folderUid")
            if folder is not None and folder not in self.folders:
                return 400, {"message": "folder not found"}
            self.dashboards[uid] = body
            return 200, {"status": "success", "uid": uid, "url": f"/d/{uid}/x"}
        return 404, {"message": "Not found"}


def _response(request: niquests.PreparedRequest, status: int, answer: Any) -> niquests.Response:
    response = niquests.Response()
    response.status_code = status
    response._content = json.dumps(answer).encode()
    response.headers["Content-Type"] = "application/json"
    response.encoding = "utf-8"
    response.url = str(request.url)
    response.request = request
    response.raw = io.BytesIO(b"")  # type: ignore[assignment]
    response.reason = "OK" if status < 400 else "Error"
    return response
