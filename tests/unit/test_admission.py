"""Which new machines the collector tracks: the registry's always, a bounded number more."""

import pytest

from collector.admission import Admission

REGISTRY = {("E0001", "M001"), ("E0001", "M002"), ("E0002", "M001")}


def registered(enterprise: str, machine: str) -> bool:
    return (enterprise, machine) in REGISTRY


def test_registered_machines_and_an_allowance_of_others() -> None:
    admission = Admission(max_machines=100, unregistered=2, registered=registered)
    assert [admission.admit(*key) for key in sorted(REGISTRY)] == [None, None, None]
    assert admission.admit("E0009", "M001") is None
    assert admission.admit("E0001", "M099") is None
    refused = admission.admit("E0001", "M100")
    assert refused is not None
    assert "not in the park registry" in refused
    assert "--unregistered-machines 2" in refused
    # Registered machines are still welcome.
    assert admission.admit("E0002", "M001") is None
    assert (admission.total, admission.unregistered) == (6, 2)


def test_never_more_than_max_machines() -> None:
    admission = Admission(max_machines=3, unregistered=0)
    assert [admission.admit("E0001", f"M00{i}") for i in range(3)] == [None] * 3
    refused = admission.admit("E0001", "M009")
    assert refused is not None
    assert "--max-machines 3" in refused


def test_machines_tracked_before_a_restart_count() -> None:
    tracked = [("E0001", "M001"), ("E0005", "M001"), ("E0005", "M002")]
    admission = Admission(max_machines=10, unregistered=2, registered=registered, tracked=tracked)
    assert (admission.total, admission.unregistered) == (3, 2)
    assert admission.admit("E0005", "M003") is not None


@pytest.mark.parametrize(("most", "others"), [(0, 0), (5, -1)])
def test_bounds_are_checked(most: int, others: int) -> None:
    with pytest.raises(ValueError, match="max_machines"):
        Admission(max_machines=most, unregistered=others)
