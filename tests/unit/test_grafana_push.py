"""``hosiery-admin grafana push`` against a fake transport: the requests it makes, its errors."""

import os
from pathlib import Path

import orjson
import pytest

from admin.cli import main
from admin.grafana import folder_uid
from tests.support.fake_grafana import FakeGrafana

DASHBOARDS = Path(__file__).parents[2] / "dashboards" / "json"
URL = "http://grafana.example:3000"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HOSIERY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOSIERY_ADMIN_GRAFANA_TOKEN", "good-token")


def push(grafana: FakeGrafana, *more: str) -> int:
    argv = ["grafana", "push", "--grafana-url", URL, "--dashboards", str(DASHBOARDS), *more]
    return main(argv, grafana_adapter=grafana)


def test_folders_come_from_directories_and_dashboards_are_saved_into_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    grafana = FakeGrafana()
    assert push(grafana, "--overwrite") == 0
    # one folder per directory, created with a stable uid
    titles = sorted({path.parent.name for path in DASHBOARDS.rglob("*.json")})
    assert "Park" in titles
    assert grafana.folders == {folder_uid(title): title for title in titles}
    creates = [s for s in grafana.sent if (s.method, s.path) == ("POST", "/api/folders")]
    assert [s.body for s in creates] == [
        {"title": title, "uid": folder_uid(title)} for title in titles
    ]
    # every file, into its directory's folder, with overwrite, as a new dashboard (no id)
    files = sorted(DASHBOARDS.rglob("*.json"))
    saves = [s for s in grafana.sent if (s.method, s.path) == ("POST", "/api/dashboards/db")]
    assert len(saves) == len(files) >= 4
    for path in files:
        model = orjson.loads(path.read_bytes())
        body = grafana.dashboards[model["uid"]]
        assert body["folderUid"] == folder_uid(path.parent.name)
        assert body["overwrite"] is True
        assert body["dashboard"] == {**model, "id": None}
    # the token, and nothing before the folders are listed
    assert {s.headers["Authorization"] for s in grafana.sent} == {"Bearer good-token"}
    assert (grafana.sent[0].method, grafana.sent[0].path) == ("GET", "/api/folders")
    out = capsys.readouterr().out
    assert f"{len(files)} dashboards pushed to {URL}" in out


def test_pushing_again_reuses_the_folders_and_without_overwrite_keeps_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    titles = {path.parent.name for path in DASHBOARDS.rglob("*.json")} - {"Enterprises"}
    existing = {folder_uid(title): title for title in titles}
    grafana = FakeGrafana(folders={**existing, "abc123": "Enterprises"})
    grafana.changed.add("hosiery-park")
    assert push(grafana) == 2
    assert not [s for s in grafana.sent if s.path == "/api/folders" and s.method == "POST"]
    # a folder of the same title (made by hand or provisioning) is used as it is
    assert grafana.dashboards["hosiery-machine"]["folderUid"] == "abc123"
    assert all(body["overwrite"] is False for body in grafana.dashboards.values())
    err = capsys.readouterr().err
    assert err == (
        f"hosiery-admin: Grafana at {URL}: saving dashboard hosiery-park: the dashboard there was"
        " changed; --overwrite replaces it\n"
    )
    assert push(grafana, "--overwrite") == 0
    assert grafana.dashboards["hosiery-park"]["overwrite"] is True


def test_basic_auth_from_a_user_and_a_password_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSIERY_ADMIN_GRAFANA_TOKEN")
    secret = tmp_path / "grafana_password"
    secret.write_text("pw\n")
    monkeypatch.setenv("HOSIERY_ADMIN_GRAFANA_PASSWORD_FILE", str(secret))
    grafana = FakeGrafana(token=None, basic=("admin", "pw"))
    assert push(grafana, "--grafana-user", "admin") == 0
    assert len(grafana.dashboards) == len(list(DASHBOARDS.rglob("*.json")))
    assert all(s.headers["Authorization"].startswith("Basic ") for s in grafana.sent)


@pytest.mark.parametrize(
    ("grafana", "message"),
    [
        (
            FakeGrafana(token="other"),  # noqa: S106 - a wrong test credential
            "refused the credentials (401) while listing folders",
        ),
        (FakeGrafana(forbidden=True), "does not allow creating folder Collector (403)"),
        (FakeGrafana(unreachable=True), f"cannot reach Grafana at {URL} (listing folders)"),
    ],
)
def test_unreachable_or_unauthorised_is_one_clear_line(
    grafana: FakeGrafana, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(grafana) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert message in err
    assert not grafana.dashboards


def test_missing_credentials_or_dashboards_are_refused_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    grafana = FakeGrafana()
    argv = ["grafana", "push", "--grafana-url", URL, "--dashboards", str(tmp_path)]
    assert main(argv, grafana_adapter=grafana) == 2
    assert "no dashboards (*.json) below" in capsys.readouterr().err
    monkeypatch.delenv("HOSIERY_ADMIN_GRAFANA_TOKEN")
    assert push(grafana) == 2
    assert "set HOSIERY_ADMIN_GRAFANA_TOKEN" in capsys.readouterr().err
    assert not grafana.sent
