"""The heuristic pile's rule table: readable text compiled to an int32 array.

A rule reads ``condition & condition ... -> action``; a condition is ``feature`` (equals 1),
``!feature`` (equals 0), ``feature=v`` or ``feature!=v``. The first rule whose conditions
all hold fires. Rules are data, not code branches, so they can be edited in a scene file or
learned from training episodes.

The engine is world-agnostic: a world names its feature vector and its actions
(``simulator/worlds/maze/rules.py``, and the thermal and arena policies) and fills the
features in its policy kernels; :func:`first_rule` is the one matcher all of them use.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.core.errors import UserError

MAX_CONDITIONS = 4
RULE_WIDTH = 3 * MAX_CONDITIONS + 1  # (feature, negate, value) * 4 + action
OP_EQ, OP_NE = 0, 1

def _parse_condition(text: str, rule: str, features: tuple[str, ...]) -> tuple[int, int, int]:
    text = text.strip()
    if "!=" in text:
        name, value, op = *text.split("!=", 1), OP_NE
    elif "=" in text:
        name, value, op = *text.split("=", 1), OP_EQ
    elif text.startswith("!"):
        name, value, op = text[1:], "0", OP_EQ
    else:
        name, value, op = text, "1", OP_EQ
    name = name.strip()
    if name not in features:
        raise UserError(
            f"rule {rule!r}: unknown feature {name!r} (features: {', '.join(features)})"
        )
    try:
        number = int(value)
    except ValueError:
        raise UserError(f"rule {rule!r}: value {value.strip()!r} is not an integer") from None
    return features.index(name), op, number


def compile_rules(rules: tuple[str, ...] | list[str], features: tuple[str, ...],
                  actions: tuple[str, ...]) -> np.ndarray:
    """Compile rule text to a (R, RULE_WIDTH) int32 table; UserError names a bad rule.

    ``features`` and ``actions`` name the world's feature vector and action codes."""
    table = np.full((len(rules), RULE_WIDTH), -1, np.int32)
    for i, rule in enumerate(rules):
        lhs, arrow, action = rule.partition("->")
        action = action.strip()
        if not arrow or action not in actions:
            raise UserError(f"rule {rule!r}: must end in '-> <action>' ({', '.join(actions)})")
        conditions = [c for c in lhs.split("&") if c.strip()]
        if len(conditions) > MAX_CONDITIONS:
            raise UserError(f"rule {rule!r}: at most {MAX_CONDITIONS} conditions")
        for j, cond in enumerate(conditions):
            table[i, 3 * j : 3 * j + 3] = _parse_condition(cond, rule, features)
        table[i, -1] = actions.index(action)
    return table


@njit(cache=True)
def first_rule(rules, n_rules, features):
    """Index of the first of the first ``n_rules`` rules whose conditions all hold on
    ``features`` (F,) int, or -1. rules (R, RULE_WIDTH): up to MAX_CONDITIONS (feature,
    op, value) triples (feature -1: unused) and the action; the one matcher every world's
    heuristic pile uses."""
    for i in range(n_rules):
        ok = True
        for j in range(0, RULE_WIDTH - 1, 3):
            f = rules[i, j]
            if f < 0:
                continue
            equal = features[f] == rules[i, j + 2]
            if equal != (rules[i, j + 1] == OP_EQ):
                ok = False
                break
        if ok:
            return i
    return -1
