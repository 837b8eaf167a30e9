"""The Store contract (tests/store_contract.py) on the in-memory FakeStore; the
integration tier runs the same cases on the real Store over etcd."""
import pytest

from tests.store_contract import CASES
from tests.unit.fakes import FakeStore


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.removeprefix("case_"))
def test_fake_store_keeps_the_contract(case):
    case(FakeStore())
