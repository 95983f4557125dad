"""Generate one Python function that evaluates many rules against one facts dict.

The function hoists each distinct field lookup (and each distinct prefix of a dotted path)
once per call, computes leaves shared by several rules once, inlines the common leaf shapes
as plain expressions and short-circuits with Python's own ``and``/``or``. Everything the
author wrote (field names, values) reaches the code as a named constant in the function's
namespace, never as source text, so no string in a rule can inject code; identifiers in the
source are generated here.

The generated code must mean exactly what ``operators.make_test`` means; any leaf shape not
inlined below calls its compiled test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .operators import LIST_TYPES, MISSING, NUMBER_TYPES, is_number, parse_datetime, step
from .trace import Render
from .tree import Leaf, Node

_ORDER_OPS = {
    "greater_than": ">",
    "greater_than_or_equal": ">=",
    "less_than": "<",
    "less_than_or_equal": "<=",
}
# Cost ranks for ordering children inside a group (cheap first; leaves have no side effects,
# so the order does not change the result).
_SHARED, _INLINE, _CALL, _GROUP = 0, 1, 2, 3


def _plain_text(value: Any) -> bool:
    """A string compared as text (not one that the operators treat as a timestamp)."""
    return isinstance(value, str) and parse_datetime(value) is None


class _Generator:
    def __init__(self) -> None:
        self.prelude: list[str] = []
        self.namespace: dict[str, Any] = {
            "__builtins__": {},
            "_M": MISSING,
            "_step": step,
            "_dict": dict,
            "_str": str,
            "_isinstance": isinstance,
            "_NUM": NUMBER_TYPES,
            "_LIST": LIST_TYPES,
        }
        self._consts: dict[int, str] = {}
        self._paths: dict[str, str] = {}
        self._flags: dict[tuple[str, str], str] = {}
        self._dicts: set[str] = set()
        self.shared: dict[str, str] = {}

    def const(self, obj: Any) -> str:
        name = self._consts.get(id(obj))
        if name is None:
            name = f"_c{len(self._consts)}"
            self._consts[id(obj)] = name
            self.namespace[name] = obj
        return name

    def lookup(self, path: str) -> str:
        """The local variable holding the value at ``path`` (emitted once)."""
        var = self._paths.get(path)
        if var is not None:
            return var
        parent_path, _, key = path.rpartition(".")
        parent = self.lookup(parent_path) if parent_path else "facts"
        var = f"_v{len(self._paths)}"
        key_name = self.const(key)
        is_dict = f"_d{parent}"
        if is_dict not in self._dicts:  # asked once per parent, however many keys it gives
            self._dicts.add(is_dict)
            self.prelude.append(f"{is_dict} = {parent}.__class__ is _dict")
        self.prelude.append(
            f"{var} = {parent}.get({key_name}, _M) if {is_dict} else _step({parent}, {key_name})"
        )
        self._paths[path] = var
        return var

    def flag(self, var: str, kind: str) -> str:
        name = self._flags.get((var, kind))
        if name is None:
            name = f"_{kind}{var[2:]}"
            test = {
                "n": f"{var}.__class__ in _NUM",
                # An exact str skips the call; a subclass of str still counts as text.
                "s": f"{var}.__class__ is _str or _isinstance({var}, _str)",
                "l": f"{var}.__class__ in _LIST",
                # A list or text: what ``contains`` looks inside (``in`` either way).
                "q": f"{var}.__class__ in _LIST or {var}.__class__ is _str"
                f" or _isinstance({var}, _str)",
            }[kind]
            self.prelude.append(f"{name} = {test}")
            self._flags[(var, kind)] = name
        return name

    def inline(self, leaf: Leaf) -> tuple[int, str]:
        op, value = leaf.operator, leaf.value
        v = self.lookup(leaf.field)
        if op == "exists":
            return _INLINE, f"({v} is not _M)"
        if op == "not_exists":
            return _INLINE, f"({v} is _M)"
        if op in ("equals", "not_equals"):
            if value is True or value is False:
                want = value if op == "equals" else not value
                return _INLINE, f"({v} is {'True' if want else 'False'})"
            if is_number(value):
                sign = "==" if op == "equals" else "!="
                return _INLINE, f"({self.flag(v, 'n')} and {v} {sign} {self.const(value)})"
            if _plain_text(value):
                if op == "equals":
                    return _INLINE, f"({v} == {self.const(value)})"
                return _INLINE, f"({self.flag(v, 's')} and {v} != {self.const(value)})"
        if op in _ORDER_OPS and is_number(value):
            return _INLINE, f"({self.flag(v, 'n')} and {v} {_ORDER_OPS[op]} {self.const(value)})"
        if (
            op == "between"
            and value.__class__ in LIST_TYPES
            and len(value) == 2
            and all(is_number(x) for x in value)
        ):
            low, high = self.const(value[0]), self.const(value[1])
            return _INLINE, f"({self.flag(v, 'n')} and {low} <= {v} <= {high})"
        if op in ("in", "not_in") and value.__class__ in LIST_TYPES and value:
            if all(_plain_text(x) for x in value):
                kind = "s"
            elif all(is_number(x) for x in value):
                kind = "n"
            else:
                kind = ""
            if kind:
                members = self.const(frozenset(value))
                sign = "in" if op == "in" else "not in"
                return _INLINE, f"({self.flag(v, kind)} and {v} {sign} {members})"
        if op in ("contains", "not_contains") and _plain_text(value):
            c = self.const(value)
            sign = "in" if op == "contains" else "not in"
            # In text a substring, in a list a member: the same ``in`` either way.
            return _INLINE, f"({self.flag(v, 'q')} and {c} {sign} {v})"
        if op in ("starts_with", "ends_with") and isinstance(value, str):
            method = "startswith" if op == "starts_with" else "endswith"
            return _INLINE, f"({self.flag(v, 's')} and {v}.{method}({self.const(value)}))"
        occurred = self.lookup("event.occurred_at") if op == "within_last_days" else "None"
        return _CALL, f"{self.const(leaf.test)}({v}, {occurred})"

    def expression(self, node: Node) -> tuple[int, str]:
        if isinstance(node, Leaf):
            shared = self.shared.get(node.key)
            return (_SHARED, shared) if shared else self.inline(node)
        parts = sorted((self.expression(child) for child in node.children), key=lambda p: p[0])
        if node.operator == "NOT":
            return _GROUP, f"(not {parts[0][1]})"
        if not parts:
            return _GROUP, "True" if node.operator == "AND" else "False"
        if len(parts) == 1:
            return parts[0]
        joiner = " and " if node.operator == "AND" else " or "
        return _GROUP, "(" + joiner.join(p[1] for p in parts) + ")"


def _leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    return [leaf for child in node.children for leaf in _leaves(child)]


def _skipping(node: Node, leaf_index: dict[str, int], slots: list[Leaf]) -> str:
    """Document order, no reordering: each leaf's slot ``_r<i>`` takes its recorded outcome
    ``B[k]`` as Python's ``and``/``or`` reach it, so the leaves that short-circuiting skips
    keep None."""
    if isinstance(node, Leaf):
        slots.append(node)
        return f"(_r{len(slots) - 1} := B[{leaf_index[node.key]}])"
    parts = [_skipping(child, leaf_index, slots) for child in node.children]
    if node.operator == "NOT":
        return f"(not {parts[0]})"
    if not parts:
        return "True" if node.operator == "AND" else "False"
    return "(" + (" and " if node.operator == "AND" else " or ").join(parts) + ")"


# Values that are already JSON as they are (to_json would return them unchanged).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _share_repeated(gen: _Generator, trees: Sequence[Node]) -> None:
    """A leaf used in several places costs one evaluation up front instead of one per use."""
    counts = Counter(leaf.key for tree in trees for leaf in _leaves(tree))
    first: dict[str, Leaf] = {}
    for tree in trees:
        for leaf in _leaves(tree):
            first.setdefault(leaf.key, leaf)
    for key, leaf in first.items():
        if counts[key] > 1:
            _, expr = gen.inline(leaf)
            name = f"_b{len(gen.shared)}"
            gen.prelude.append(f"{name} = {expr}")
            gen.shared[key] = name


def _own(tree: Node) -> tuple[list[Leaf], list[str]]:
    """The tree's distinct leaves (by key) and distinct fields, each in order of first
    appearance: the order of a rule's own recorded outcomes and values, which is the order
    CompiledRule.evaluate records them in for the rule alone."""
    keys: dict[str, Leaf] = {}
    fields: dict[str, None] = {}
    for leaf in _leaves(tree):
        keys.setdefault(leaf.key, leaf)
        fields.setdefault(leaf.field, None)
    return list(keys.values()), list(fields)


def _shape(tree: Node) -> tuple[int, int]:
    own_leaves, own_fields = _own(tree)
    return len(own_leaves), len(own_fields)


def _record(results: Sequence[str], values: Sequence[str]) -> str:
    """Source of one rule's compact stored trace, ``{"v2": (outcomes..., values...)}``
    (rules.engine.trace): one dict of one key and one tuple per rule, the least a record can
    cost (a dict's second key alone costs about a fifth of storing every trace)."""
    return '{"v2": (' + "".join(f"{x}, " for x in (*results, *values)) + ")}"


def _store_lines(
    number: int,
    tree: Node,
    leaf_index: dict[str, int],
    value_index: dict[str, int],
    gen: _Generator,
) -> list[str]:
    """``_store<number>(B, V)``: tree ``number``'s compact stored trace: its own leaf
    outcomes, then its own field values as JSON (rules.engine.trace)."""
    own_leaves, own_fields = _own(tree)
    results = [f"B[{leaf_index[leaf.key]}]" for leaf in own_leaves]
    lines = [f"def _store{number}(B, V):"]
    names = []
    for k, name in enumerate(own_fields):
        lines.append(f"    _a{k} = V[{value_index[gen.lookup(name)]}]")
        lines.append(f"    if _a{k}.__class__ not in _PLAIN: _a{k} = _j(_a{k})")
        names.append(f"_a{k}")
    lines.append(f"    return {_record(results, names)}")
    return lines


def _store_all_lines(
    trees: Sequence[Node],
    leaf_index: dict[str, int],
    value_index: dict[str, int],
    gen: _Generator,
) -> list[str]:
    """``_store_all(B, V)``: every tree's compact stored trace in one call, each value
    rendered once for all the rules that read it (what ``_store<n>`` gives for each)."""
    lines = ["def _store_all(B, V):"]
    for k in range(len(value_index)):
        lines.append(f"    _a{k} = V[{k}]")
        lines.append(f"    if _a{k}.__class__ not in _PLAIN: _a{k} = _j(_a{k})")
    entries = []
    for tree in trees:
        own_leaves, own_fields = _own(tree)
        results = [f"B[{leaf_index[leaf.key]}]" for leaf in own_leaves]
        names = [f"_a{value_index[gen.lookup(name)]}" for name in own_fields]
        entries.append(f"{_record(results, names)}, ")
    lines.append("    return (" + "".join(entries) + ")")
    return lines


def generate_traced(
    trees: Sequence[Node], to_json: Callable[[Any], Any], evaluation_type: type = tuple
) -> tuple[Callable[[Any], Any], list[Render], str]:
    """(function, renderers, source) for tracing many rules in one call.

    ``function(facts)`` evaluates every distinct leaf once (leaves are pure and never
    raise) and returns ``(matched, outcomes, values, renderers)``: a tuple of bools (one per
    tree), the outcome of every distinct leaf, the value of every field a leaf reads, and the
    renderers below. Nothing else is built per call. ``renderers[i](outcomes, values)`` turns those into tree i's trace, the
    list of per-leaf dicts that trace.evaluate_traced gives, only when someone reads it: it
    walks the tree's ``and``/``or`` in document order over the recorded outcomes, so a leaf
    that short-circuiting skips shows None.

    ``function.stored(facts)`` gives ``(evaluation, records)``: the same 4-tuple made an
    ``evaluation_type`` (a tuple subclass, made without a Python call) and every tree's
    compact stored trace, built from the function's locals.
    """
    gen = _Generator()
    gen.namespace["_j"] = to_json
    gen.namespace["_new"] = tuple.__new__
    gen.namespace["_E"] = evaluation_type
    gen.namespace["_PLAIN"] = _PLAIN
    leaf_index: dict[str, int] = {}
    for tree in trees:
        for leaf in _leaves(tree):
            if leaf.key not in leaf_index:
                name = f"_b{len(leaf_index)}"
                gen.prelude.append(f"{name} = {gen.inline(leaf)[1]}")
                gen.shared[leaf.key] = name
                leaf_index[leaf.key] = len(leaf_index)
    flags = [f"(True if {gen.expression(tree)[1]} else False)" for tree in trees]
    # The values tuple holds each field a leaf reads, once.
    value_index: dict[str, int] = {}
    for tree in trees:
        for leaf in _leaves(tree):
            value_index.setdefault(gen.lookup(leaf.field), len(value_index))
    outcomes = "".join(f"_b{k}, " for k in range(len(leaf_index)))
    values = "".join(f"{var}, " for var in value_index)
    lines = [
        "def _evaluate(facts):",
        *("    " + line for line in gen.prelude),
        "    return ("
        + "".join(f"{flag}, " for flag in flags)
        + f"), ({outcomes}), ({values}), _RENDERS",
    ]
    # The same evaluation returning every tree's stored trace too, built from the locals.
    lines.append("def _evaluate_stored(facts):")
    lines.extend("    " + line for line in gen.prelude)
    lines.append("    _fl = (" + "".join(f"{flag}, " for flag in flags) + ")")
    for var, k in value_index.items():
        lines.append(f"    _a{k} = {var}")
        lines.append(f"    if _a{k}.__class__ not in _PLAIN: _a{k} = _j(_a{k})")
    stored = []
    for tree in trees:
        own_leaves, own_fields = _own(tree)
        results = [f"_b{leaf_index[leaf.key]}" for leaf in own_leaves]
        names = [f"_a{value_index[gen.lookup(name)]}" for name in own_fields]
        stored.append(f"{_record(results, names)}, ")
    lines.append(
        f"    return _new(_E, (_fl, ({outcomes}), ({values}), _RENDERS)), (" + "".join(stored) + ")"
    )
    for number, tree in enumerate(trees):
        lines.extend(_store_lines(number, tree, leaf_index, value_index, gen))
        slots: list[Leaf] = []
        walk = _skipping(tree, leaf_index, slots)
        lines.append(f"def _render{number}(B, V):")
        if not slots:
            lines.append("    return []")
            continue
        lines.append("    " + " = ".join(f"_r{i}" for i in range(len(slots))) + " = None")
        lines.append(f"    {walk}")
        for k in sorted({value_index[gen.lookup(leaf.field)] for leaf in slots}):
            lines.append(f"    _a{k} = V[{k}]")
            lines.append(f"    if _a{k}.__class__ not in _PLAIN: _a{k} = _j(_a{k})")
        entries = [
            f'{{"path": {gen.const(leaf.path)}, "field": {gen.const(leaf.field)},'
            f' "operator": {gen.const(leaf.operator)}, "expected": {gen.const(leaf.value)},'
            f' "actual": _a{value_index[gen.lookup(leaf.field)]}, "result": _r{i}}}'
            for i, leaf in enumerate(slots)
        ]
        lines.append("    return [" + ", ".join(entries) + "]")
    lines.extend(_store_all_lines(trees, leaf_index, value_index, gen))
    source = "\n".join(lines)
    exec(compile(source, "<rules.engine.codegen>", "exec"), gen.namespace)
    renderers = [gen.namespace[f"_render{number}"] for number in range(len(trees))]
    for number, render in enumerate(renderers):
        # The compact stored form (trace.stored_trace) travels with its renderer.
        render.store = gen.namespace[f"_store{number}"]  # type: ignore[attr-defined]
        render.shape = _shape(trees[number])  # type: ignore[attr-defined]
        render.store_all = gen.namespace["_store_all"]  # type: ignore[attr-defined]
    gen.namespace["_RENDERS"] = tuple(renderers)
    gen.namespace["_evaluate"].stored = gen.namespace["_evaluate_stored"]
    return gen.namespace["_evaluate"], renderers, source


def generate(trees: Sequence[Node], *, single: bool = False) -> tuple[Callable[[Any], Any], str]:
    """(function, source). The function returns matching indices, or a bool when ``single``."""
    gen = _Generator()
    _share_repeated(gen, trees)
    bodies = [gen.expression(tree)[1] for tree in trees]
    if single:
        result = [f"    return True if {bodies[0]} else False"]
    else:
        # One ``if`` per rule: Python's and/or then only jump, never building a value, and
        # only the rules that match cost an append.
        result = [
            "    _out = []",
            *(f"    if {body}: _out.append({number})" for number, body in enumerate(bodies)),
            "    return _out",
        ]
    # Shared leaves come after the lookups they read: lookups are emitted as they are first
    # needed, so they precede every line that uses them.
    source = "\n".join(["def _evaluate(facts):", *("    " + line for line in gen.prelude), *result])
    exec(compile(source, "<rules.engine.codegen>", "exec"), gen.namespace)
    return gen.namespace["_evaluate"], source
