from seas.metrics import attack_success_rate, bootstrap_ci, count_labels, distinct_n


def test_asr_excludes_unknown_and_is_none_when_empty():
    assert attack_success_rate(["unsafe", "safe", "unknown"]) == 0.5
    assert attack_success_rate([]) is None
    assert attack_success_rate(["unknown"]) is None


def test_counts_and_ci():
    assert count_labels(["safe", "unsafe", "unknown", "unsafe"]) == {"safe": 1, "unsafe": 2, "unknown": 1}
    lo, hi = bootstrap_ci([0.0] * 50 + [1.0] * 50)
    assert 0.3 < lo < 0.5 < hi < 0.7
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([1.0, 1.0]) == (1.0, 1.0)


def test_distinct_n():
    assert distinct_n(["a b a b"], 2) == 2 / 3
    assert distinct_n([""], 2) is None
