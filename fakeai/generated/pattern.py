"""Sample strings for the simple ``pattern`` shapes found in the OpenAI documents.

Supported: anchors, literals, escapes (``\\d \\w \\s`` and escaped punctuation), ``.``, character
classes with ranges and quantifiers ``* + ? {n} {n,} {n,m}``. Groups and alternation are not
(no OpenAI pattern uses them): :func:`compile_pattern` then returns ``None``.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable

Atom = tuple[str, int, int]  # (alphabet, min count, max count)

_ESCAPES = {"d": string.digits, "w": string.ascii_letters + string.digits + "_", "s": " "}
_SAFE = string.ascii_letters + string.digits
_OPEN_MAX = 1 << 20  # "unbounded": the length bounds cap it


def compile_pattern(pattern: str, min_len: int, max_len: int) -> Callable[[random.Random], str] | None:
    """A sampler whose outputs match ``pattern`` (``re.search``) within the length bounds, or ``None``."""
    atoms = _parse(pattern)
    if atoms is None:
        return None
    check = re.compile(pattern)
    low = sum(a[1] for a in atoms)
    high = sum(a[2] for a in atoms)
    if low > max_len or high < min_len:
        return None

    def sample(rng: random.Random) -> str:
        target = rng.randint(max(low, min_len), min(high, max_len, max(low, min_len) + 12))
        counts = [a[1] for a in atoms]
        extra = target - low
        open_atoms = [i for i, a in enumerate(atoms) if a[2] > a[1]]
        while extra > 0 and open_atoms:
            i = rng.choice(open_atoms)
            counts[i] += 1
            extra -= 1
            if counts[i] == atoms[i][2]:
                open_atoms.remove(i)
        return "".join("".join(rng.choices(a[0], k=n)) for a, n in zip(atoms, counts, strict=True))

    probe = random.Random(0)
    if not all(check.search(sample(probe)) for _ in range(8)):
        return None
    return sample


def _parse(pattern: str) -> list[Atom] | None:
    body = pattern.removeprefix("^").removesuffix("$")
    if pattern.endswith("\\$"):
        return None
    atoms: list[Atom] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "[":
            end = body.find("]", i + 2)
            if end < 0:
                return None
            alphabet = _char_class(body[i + 1 : end])
            i = end + 1
        elif char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            alphabet = _ESCAPES.get(nxt, nxt if not nxt.isalnum() else "")
            i += 2
        elif char == ".":
            alphabet, i = _SAFE, i + 1
        elif char in "()|*+?{}^$":
            return None
        else:
            alphabet, i = char, i + 1
        if not alphabet:
            return None
        low, high, i = _quantifier(body, i)
        if low < 0:
            return None
        atoms.append((alphabet, low, high))
    return atoms


def _char_class(spec: str) -> str:
    if spec.startswith("^"):
        return ""
    chars: list[str] = []
    i = 0
    while i < len(spec):
        char = spec[i]
        if char == "\\" and i + 1 < len(spec):
            chars.extend(_ESCAPES.get(spec[i + 1], spec[i + 1]))
            i += 2
        elif i + 2 < len(spec) and spec[i + 1] == "-":
            chars.extend(chr(c) for c in range(ord(char), ord(spec[i + 2]) + 1))
            i += 3
        else:
            chars.append(char)
            i += 1
    return "".join(dict.fromkeys(chars))


def _quantifier(body: str, i: int) -> tuple[int, int, int]:
    if i >= len(body):
        return 1, 1, i
    char = body[i]
    if char == "*":
        return 0, _OPEN_MAX, i + 1
    if char == "+":
        return 1, 1 + _OPEN_MAX, i + 1
    if char == "?":
        return 0, 1, i + 1
    if char == "{":
        match = re.match(r"\{(\d+)(,(\d*))?\}", body[i:])
        if not match:
            return -1, -1, i
        low = int(match.group(1))
        high = low if match.group(2) is None else int(match.group(3)) if match.group(3) else low + _OPEN_MAX
        return low, high, i + match.end()
    return 1, 1, i
