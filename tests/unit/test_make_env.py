"""scripts/make-env: creates .env with random secrets, or fills the empty ones of an existing
.env (as after ``cp .env.example .env``), keeping every value already set."""

import re
import shutil
import stat
import subprocess
from pathlib import Path

from stack.mosquitto import REPO_ROOT

SECRET = re.compile(r"(?m)^([A-Z_]*PASSWORD)=(.*)$")


def checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy2(REPO_ROOT / "scripts" / "make-env", tmp_path / "scripts" / "make-env")
    shutil.copy2(REPO_ROOT / ".env.example", tmp_path / ".env.example")
    return tmp_path


def make_env(root: Path) -> str:
    done = subprocess.run(
        [str(root / "scripts" / "make-env")], check=True, capture_output=True, text=True
    )
    return done.stdout


def secrets(path: Path) -> dict[str, str]:
    return dict(SECRET.findall(path.read_text()))


def test_without_env_it_writes_one_from_the_example_with_random_secrets(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    assert "new random password" in make_env(root)
    env = root / ".env"
    found = secrets(env)
    assert found.keys() == secrets(root / ".env.example").keys()
    assert all(len(value) >= 20 for value in found.values())
    assert len(set(found.values())) == len(found)
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    others = [line for line in env.read_text().splitlines() if not SECRET.match(line)]
    example = (root / ".env.example").read_text().splitlines()
    assert others == [line for line in example if not SECRET.match(line)]
    # no temporary file left
    assert sorted(p.name for p in root.iterdir() if p.is_file()) == [".env", ".env.example"]


def test_after_cp_it_fills_the_empty_secrets_and_keeps_the_rest(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    env = root / ".env"
    text = (root / ".env.example").read_text()
    chosen = next(iter(secrets(root / ".env.example")))
    env.write_text(text.replace(f"{chosen}=\n", f"{chosen}=mine\n") + "EXTRA=kept\n")
    assert "new random password" in make_env(root)
    found = secrets(env)
    assert found[chosen] == "mine"
    assert all(found.values())
    assert env.read_text().endswith("EXTRA=kept\n")
    before = env.read_text()
    assert "nothing changed" in make_env(root)
    assert env.read_text() == before
