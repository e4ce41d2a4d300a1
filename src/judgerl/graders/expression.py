"""A safe evaluator for a multi grader's ``calculate_output`` formula.

The formula is parsed with ``ast`` and walked over an allow-list: numbers, the sub-graders' names, the
operators ``+ - * / ^`` (``^`` is a power, as in OpenAI's formulas; ``**`` is accepted too), unary ``+``/``-``,
parentheses, and the functions ``min max abs floor ceil exp sqrt log``. Nothing is ever passed to ``eval``;
every number is a float, so a huge power overflows (an error) instead of building a huge integer.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "floor": lambda x: float(math.floor(x)),
    "ceil": lambda x: float(math.ceil(x)),
    "exp": math.exp,
    "sqrt": math.sqrt,
    "log": math.log,
}
_ARITY = {"abs": 1, "floor": 1, "ceil": 1, "exp": 1, "sqrt": 1, "log": 1}
_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,  # '^' (written '**' before parsing) or '**'
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
MAX_LENGTH = 2000


class FormulaError(ValueError):
    """A formula that does not parse or uses something outside the allow-list (a grader mistake)."""


class FormulaEvaluationError(ArithmeticError):
    """A formula that parses but cannot be computed for one row (division by zero, log of 0, overflow)."""


class Formula:
    """A parsed, checked formula over named variables."""

    def __init__(self, text: str, variables: set[str] | frozenset[str]) -> None:
        if len(text) > MAX_LENGTH:
            raise FormulaError(f"longer than {MAX_LENGTH} characters")
        try:
            # '^' is a power with a power's precedence: Python would parse it as xor, below + and -
            tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
        except SyntaxError as exc:
            raise FormulaError(f"does not parse ({exc.msg} at column {exc.offset})") from None
        self.text = text
        self.variables = frozenset(variables)
        self.used: set[str] = set()
        self._check(tree.body)
        self._tree = tree.body

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise FormulaError(f"only numbers are allowed as constants, not {node.value!r}")
        elif isinstance(node, ast.Name):
            if node.id not in self.variables:
                known = ", ".join(sorted(self.variables)) or "none"
                raise FormulaError(f"'{node.id}' is not a sub-grader name (sub-graders: {known})")
            self.used.add(node.id)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise FormulaError(f"operator '{ast.unparse(node)}' is not allowed (use + - * / ^)")
            self._check(node.left)
            self._check(node.right)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise FormulaError(f"operator in '{ast.unparse(node)}' is not allowed")
            self._check(node.operand)
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in FUNCTIONS or node.keywords:
                allowed = ", ".join(FUNCTIONS)
                raise FormulaError(f"call '{ast.unparse(node)}' is not allowed (functions: {allowed})")
            arity = _ARITY.get(name)
            if (arity is not None and len(node.args) != arity) or not node.args:
                expected = f"{arity} argument" if arity else "at least one argument"
                raise FormulaError(f"'{name}' takes {expected}")
            for argument in node.args:
                self._check(argument)
        else:
            raise FormulaError(f"'{ast.unparse(node)}' is not allowed (numbers, sub-grader names, + - * / ^, calls)")

    def evaluate(self, values: Mapping[str, float]) -> float:
        try:
            result = self._eval(self._tree, values)
        except ZeroDivisionError:
            raise FormulaEvaluationError("division by zero") from None
        except (OverflowError, ValueError, TypeError) as exc:
            raise FormulaEvaluationError(str(exc) or type(exc).__name__) from None
        if isinstance(result, complex) or not math.isfinite(result):
            raise FormulaEvaluationError(f"the result is not a finite real number ({result})")
        return float(result)

    def _eval(self, node: ast.AST, values: Mapping[str, float]) -> Any:
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, int | float)  # _check allowed numbers only
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(values[node.id])
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self._eval(node.left, values), self._eval(node.right, values))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._eval(node.operand, values))
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id](*(self._eval(argument, values) for argument in node.args))
