from collector.logs import RateLimit


def test_rate_limit_allows_a_burst_then_counts_what_it_suppressed() -> None:
    limit = RateLimit(burst=2, period=60)
    assert limit.allow("malformed_json", 0.0) == (True, 0)
    assert limit.allow("malformed_json", 1.0) == (True, 0)
    assert limit.allow("malformed_json", 2.0) == (False, 0)
    assert limit.allow("malformed_json", 3.0) == (False, 0)
    assert limit.allow("oversized", 3.0) == (True, 0)
    assert limit.allow("malformed_json", 61.0) == (True, 2)
    assert limit.allow("malformed_json", 62.0) == (True, 0)
