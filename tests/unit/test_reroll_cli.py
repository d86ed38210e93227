"""``python -m collector.reroll``: its command line, without a database (--print-only)."""

import pytest

from collector.reroll import main


@pytest.mark.parametrize("since", ["-4h", "-24h", "now-6h"])
def test_relative_times_as_its_help_offers_them(
    since: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--since", since, "--print-only"]) == 0
    statements = capsys.readouterr().out
    assert "SELECT" in statements
    assert "INTO" in statements


def test_a_time_that_is_no_time_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--since", "-4x", "--print-only"]) == 2
    assert "is not a time" in capsys.readouterr().err
