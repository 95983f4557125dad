"""Typed credit operations shared across applications (SPEC §5).

An operation set is an Enum derived from BaseLedgerOperation whose members are the default
signed amounts::

    class CoreOperations(BaseLedgerOperation):
        DAILY_REWARD = 1
        ...

Defining a set that lacks one of the shared operations raises TypeError when the class is
created, so a misconfigured application fails at import, not at the first spend.
"""

from __future__ import annotations

import itertools
from enum import Enum, EnumType

from config.platform.exceptions import UnknownOperation

SHARED_OPERATIONS = frozenset({"DAILY_REWARD", "SIGNUP_CREDIT", "CREDIT_SPEND", "CREDIT_ADD"})
_ids = itertools.count(1)


class _OperationSetType(EnumType):
    def __new__(mcls, name, bases, classdict, **kwargs):
        cls = super().__new__(mcls, name, bases, classdict, **kwargs)
        if any(isinstance(base, _OperationSetType) for base in bases):
            missing = SHARED_OPERATIONS - set(cls.__members__)
            if missing:
                raise TypeError(
                    f"Operation set {name} lacks the shared operation(s) {', '.join(sorted(missing))}"
                )
        return cls


class BaseLedgerOperation(Enum, metaclass=_OperationSetType):
    """Base of every operation set. Members are declared with their default signed amount;
    equal amounts do not alias each other (each member gets its own identity)."""

    default_amount: int

    def __new__(cls, amount: int):
        if type(amount) is not int:
            raise TypeError(f"{cls.__name__}: default amounts are integers, got {amount!r}")
        member = object.__new__(cls)
        member._value_ = next(_ids)
        member.default_amount = amount
        return member

    @property
    def sign(self) -> int:
        amount = self.default_amount
        return (amount > 0) - (amount < 0)


class CoreOperations(BaseLedgerOperation):
    DAILY_REWARD = 1
    SIGNUP_CREDIT = 3
    CREDIT_SPEND = -1
    CREDIT_ADD = 10


class ContentOperations(BaseLedgerOperation):
    """Example application set: a content platform where creating costs credits."""

    DAILY_REWARD = 1
    SIGNUP_CREDIT = 3
    CREDIT_SPEND = -1
    CREDIT_ADD = 10
    CONTENT_CREATION = -5
    CONTENT_ACCESS = 0


OPERATION_SETS: dict[str, type[BaseLedgerOperation]] = {
    "core": CoreOperations,
    "content": ContentOperations,
}


def operation_set_get(name: str) -> type[BaseLedgerOperation]:
    try:
        return OPERATION_SETS[name]
    except KeyError:
        raise UnknownOperation(
            f"Unknown operation set {name!r}; known sets: {', '.join(sorted(OPERATION_SETS))}."
        ) from None


def operation_get(set_name: str, operation: str) -> BaseLedgerOperation:
    op_set = operation_set_get(set_name)
    try:
        return op_set[operation]
    except KeyError:
        raise UnknownOperation(
            f"Operation {operation!r} is not in the program's operation set {set_name!r} "
            f"({', '.join(op_set.__members__)})."
        ) from None
