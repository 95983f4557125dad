"""Operation sets (rules/rewards/operations.py, SPEC §5)."""

from __future__ import annotations

import pytest

from config.platform.exceptions import UnknownOperation
from rules.rewards.operations import (
    SHARED_OPERATIONS,
    BaseLedgerOperation,
    ContentOperations,
    CoreOperations,
    operation_get,
    operation_set_get,
)


def test_a_set_lacking_a_shared_operation_fails_at_class_creation():
    with pytest.raises(TypeError, match="CREDIT_ADD"):

        class Incomplete(BaseLedgerOperation):
            DAILY_REWARD = 1
            SIGNUP_CREDIT = 3
            CREDIT_SPEND = -1


def test_a_set_with_every_shared_operation_may_add_its_own():
    class Games(BaseLedgerOperation):
        DAILY_REWARD = 2
        SIGNUP_CREDIT = 3
        CREDIT_SPEND = -1
        CREDIT_ADD = 10
        LEVEL_UP = 5

    assert Games.LEVEL_UP.default_amount == 5 and Games.LEVEL_UP.sign == 1


def test_default_amounts_must_be_integers():
    with pytest.raises(TypeError):

        class Floaty(BaseLedgerOperation):
            DAILY_REWARD = 1.5
            SIGNUP_CREDIT = 3
            CREDIT_SPEND = -1
            CREDIT_ADD = 10


def test_core_and_content_defaults():
    assert {op.name: op.default_amount for op in CoreOperations} == {
        "DAILY_REWARD": 1,
        "SIGNUP_CREDIT": 3,
        "CREDIT_SPEND": -1,
        "CREDIT_ADD": 10,
    }
    content = {op.name: op.default_amount for op in ContentOperations}
    assert content["CONTENT_CREATION"] == -5 and content["CONTENT_ACCESS"] == 0
    assert SHARED_OPERATIONS <= set(content)
    signs = {op.name: op.sign for op in ContentOperations}
    assert (signs["CREDIT_SPEND"], signs["CONTENT_ACCESS"], signs["CREDIT_ADD"]) == (-1, 0, 1)


def test_equal_amounts_do_not_alias():
    # DAILY_REWARD and a hypothetical other 1-credit operation must stay distinct members.
    class Twins(BaseLedgerOperation):
        DAILY_REWARD = 1
        SIGNUP_CREDIT = 1
        CREDIT_SPEND = -1
        CREDIT_ADD = 1

    assert len(list(Twins)) == 4
    assert Twins.DAILY_REWARD is not Twins.SIGNUP_CREDIT


def test_lookup_by_set_and_name():
    assert operation_set_get("content") is ContentOperations
    assert operation_get("core", "CREDIT_SPEND") is CoreOperations.CREDIT_SPEND
    with pytest.raises(UnknownOperation):
        operation_get("core", "CONTENT_CREATION")
    with pytest.raises(UnknownOperation):
        operation_set_get("nope")
