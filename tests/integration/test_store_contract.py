"""The Store contract (tests/store_contract.py) on the real Store over etcd;
the unit tier runs the same cases on the FakeStore the use-case tests use."""
import pytest

from tests.store_contract import CASES

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.removeprefix("case_"))
def test_store_keeps_the_contract(store, case):
    case(store)
