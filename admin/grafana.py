"""``hosiery-admin grafana push``: the generated dashboards into an existing Grafana.

A deployment of its own provisions the dashboards from files (docs/deployment.md); this is for a
Grafana that someone else runs. It goes through the HTTP API with ``grafana-client``: each
directory under the dashboards' root is a folder (created when missing, under a stable uid),
each JSON file a dashboard saved into it. The dashboards read the datasource with the uid
``hosiery-influxdb``, which that Grafana needs.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from admin.errors import GrafanaPushError

T = TypeVar("T")

if TYPE_CHECKING:
    from grafana_client.api import GrafanaApi
    from niquests.adapters import BaseAdapter


@dataclass(frozen=True)
class DashboardFile:
    """One dashboard to push: its folder's title ("" for General), file and model."""

    folder: str
    path: Path
    model: dict[str, Any]


def folder_uid(title: str) -> str:
    """The uid a pushed folder gets: stable, so pushing again finds it."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"hosiery-{slug}"[:40]


def read_dashboards(root: Path) -> list[DashboardFile]:
    """Every ``*.json`` below ``root``; its directory (relative to ``root``) is its folder."""
    if not root.is_dir():
        raise GrafanaPushError(f"{root} is not a directory of dashboards")
    found: list[DashboardFile] = []
    for path in sorted(root.rglob("*.json")):
        folder = "/".join(path.relative_to(root).parent.parts)
        try:
            model = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise GrafanaPushError(f"cannot read {path}: {exc.strerror}") from None
        except orjson.JSONDecodeError as exc:
            raise GrafanaPushError(f"{path} is not JSON: {exc}") from None
        if not isinstance(model, dict) or not isinstance(model.get("uid"), str):
            raise GrafanaPushError(f"{path} is not a Grafana dashboard with a uid")
        found.append(DashboardFile(folder, path, model))
    if not found:
        raise GrafanaPushError(f"no dashboards (*.json) below {root}")
    return found


@dataclass(frozen=True)
class GrafanaTarget:
    """Where and as whom to push: a token, or a user and password (basic auth)."""

    url: str
    token: str | None = None
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0


def connect(target: GrafanaTarget, adapter: "BaseAdapter | None" = None) -> "GrafanaApi":
    """A client for ``target``; ``adapter`` (tests) replaces the HTTP transport."""
    try:
        from grafana_client.api import GrafanaApi  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise GrafanaPushError(
            "grafana push needs the grafana extra: pip install 'hosiery-monitor[grafana]'"
        ) from None
    credential: str | tuple[str, str] | None = target.token
    if target.user is not None:
        if target.token is not None:
            raise GrafanaPushError("give a Grafana token or a user and password, not both")
        if target.password is None:
            raise GrafanaPushError("set HOSIERY_ADMIN_GRAFANA_PASSWORD for --grafana-user")
        credential = (target.user, target.password)
    if credential is None:
        raise GrafanaPushError(
            "set HOSIERY_ADMIN_GRAFANA_TOKEN (a service account token), or give --grafana-user "
            "and HOSIERY_ADMIN_GRAFANA_PASSWORD"
        )
    if not re.match(r"^https?://[^/\s]+", target.url):
        raise GrafanaPushError(f"--grafana-url: {target.url!r} is not http(s)://HOST:PORT")
    api: GrafanaApi = GrafanaApi.from_url(target.url, credential=credential, timeout=target.timeout)
    if adapter is not None:
        api.client.s.mount("http://", adapter)
        api.client.s.mount("https://", adapter)
    return api


def _explain(target: GrafanaTarget, exc: Exception, doing: str) -> GrafanaPushError:
    from grafana_client.client import (  # noqa: PLC0415 - an optional extra
        GrafanaClientError,
        GrafanaTimeoutError,
        GrafanaUnauthorizedError,
    )

    where = f"Grafana at {target.url}"
    if isinstance(exc, GrafanaUnauthorizedError):
        return GrafanaPushError(f"{where} refused the credentials (401) while {doing}")
    if isinstance(exc, GrafanaTimeoutError):
        return GrafanaPushError(f"{where} did not answer within {target.timeout:g}s ({doing})")
    if isinstance(exc, GrafanaClientError) and exc.status_code == 403:
        return GrafanaPushError(
            f"{where} does not allow {doing} (403): the account needs the Editor role"
        )
    if isinstance(exc, GrafanaClientError) and exc.status_code == 412:
        return GrafanaPushError(
            f"{where}: {doing}: the dashboard there was changed; --overwrite replaces it"
        )
    if isinstance(exc, OSError):  # niquests' connection errors
        reason = " ".join(str(exc).split())[:200]
        return GrafanaPushError(f"cannot reach {where} ({doing}): {reason}")
    message = " ".join(str(exc).split())[:200]
    return GrafanaPushError(f"{where} failed {doing}: {message}")


def _call(target: GrafanaTarget, doing: str, call: Callable[[], T]) -> T:
    from grafana_client.client import GrafanaException  # noqa: PLC0415 - an optional extra

    try:
        return call()
    except (GrafanaException, OSError, ValueError) as exc:
        raise _explain(target, exc, doing) from None


def push_dashboards(
    api: "GrafanaApi",
    target: GrafanaTarget,
    dashboards: list[DashboardFile],
    *,
    overwrite: bool,
) -> list[str]:
    """Create the missing folders, save every dashboard; one line per thing done."""
    done: list[str] = []
    folders = _call(target, "listing folders", api.folder.get_all_folders)
    by_uid = {f.get("uid"): f for f in folders if isinstance(f, dict)}
    by_title = {f.get("title"): f for f in folders if isinstance(f, dict)}
    uids: dict[str, str | None] = {"": None}
    for title in sorted({d.folder for d in dashboards} - {""}):
        uid = folder_uid(title)
        if uid not in by_uid and title in by_title:
            uid = str(by_title[title]["uid"])  # made by hand or by provisioning: use it
        elif uid not in by_uid:
            _call(
                target,
                f"creating folder {title}",
                partial(api.folder.create_folder, title, uid=uid),
            )
            done.append(f"folder {title} created ({uid})")
        uids[title] = uid
    for dashboard in dashboards:
        model = {**dashboard.model, "id": None}
        body: dict[str, Any] = {
            "dashboard": model,
            "overwrite": overwrite,
            "message": "hosiery-admin grafana push",
        }
        if uids[dashboard.folder] is not None:
            body["folderUid"] = uids[dashboard.folder]
        answer = _call(
            target,
            f"saving dashboard {model['uid']}",
            partial(api.dashboard.update_dashboard, body),
        )
        url = answer.get("url", "") if isinstance(answer, dict) else ""
        where = dashboard.folder or "General"
        done.append(f"dashboard {model.get('title', model['uid'])} saved in {where} {url}".strip())
    return done
