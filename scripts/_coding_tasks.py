"""Coding task families for scripts/make_domain_data.py (written for this project).

Each family is a small Python function parameterised by constants in its
description, so that many distinct prompts exist. For one parameter set a family
gives: the description, a correct solution, a blatantly wrong ("obvious")
solution, a plausible fallback subtle solution (used only when no AST mutant of
the correct one fails the tests), and test cases whose expected values are
computed here by independent means (not by running the solution).
"""

from __future__ import annotations

from math import gcd
from typing import Any

import numpy as np


def _ordinal(k: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(k, f"{k}th")


def _fizz_expected(n: int, a: int, b: int) -> str:
    words = ("Fizz" if n % a == 0 else "") + ("Buzz" if n % b == 0 else "")
    return words or str(n)


def _digit_sum(n: int, b: int) -> int:
    return sum(int(ch, 36) for ch in np.base_repr(n, base=b))


def _caesar(text: str, s: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    table = str.maketrans(letters, letters[s:] + letters[:s])
    return text.translate(table)


FAMILIES: list[dict[str, Any]] = [
    {
        "fn": "sum_multiples",
        "sig": "sum_multiples(n)",
        "params": lambda: [(k,) for k in range(2, 31)],
        "desc": lambda k: f"returns the sum of all positive multiples of {k} that are less than n",
        "correct": lambda k: f"def sum_multiples(n):\n    return sum(range({k}, n, {k}))\n",
        "obvious": lambda k: f"def sum_multiples(n):\n    return n * {k}\n",
        "subtle": lambda k: f"def sum_multiples(n):\n    return sum(range({k}, n + 1, {k}))\n",
        "cases": lambda k: [
            ((n,), sum(x for x in range(1, n) if x % k == 0)) for n in (0, 1, k, k + 1, 3 * k, 50)
        ],
    },
    {
        "fn": "count_above",
        "sig": "count_above(xs)",
        "params": lambda: [(t,) for t in range(-5, 26)],
        "desc": lambda t: f"counts how many numbers in the list xs are strictly greater than {t}",
        "correct": lambda t: (
            "def count_above(xs):\n    count = 0\n    for x in xs:\n"
            f"        if x > {t}:\n            count += 1\n    return count\n"
        ),
        "obvious": lambda t: "def count_above(xs):\n    return len(xs) + 1\n",
        "subtle": lambda t: f"def count_above(xs):\n    return sum(1 for x in xs if x >= {t})\n",
        "cases": lambda t: [
            ((xs,), len([x for x in xs if x > t]))
            for xs in ([], [t], [t - 1, t, t + 1, t + 5], [t + 2] * 3 + [t - 9])
        ],
    },
    {
        "fn": "clamp",
        "sig": "clamp(x)",
        "params": lambda: [(lo, lo + w) for lo in range(-10, 11) for w in (5, 10, 20, 50)],
        "desc": lambda lo, hi: f"limits the number x to the closed interval [{lo}, {hi}]",
        "correct": lambda lo, hi: (
            f"def clamp(x):\n    if x < {lo}:\n        return {lo}\n"
            f"    if x > {hi}:\n        return {hi}\n    return x\n"
        ),
        "obvious": lambda lo, hi: "def clamp(x):\n    return -x\n",
        "subtle": lambda lo, hi: f"def clamp(x):\n    return min({lo}, max(x, {hi}))\n",
        "cases": lambda lo, hi: [
            ((x,), sorted((lo, x, hi))[1]) for x in (lo - 3, lo, lo + 1, hi, hi + 7, (lo + hi) // 2)
        ],
    },
    {
        "fn": "powers",
        "sig": "powers(n)",
        "params": lambda: [(r,) for r in range(2, 13)],
        "desc": lambda r: (
            f"returns the list of the first n powers of {r}, starting with {r}**0 == 1"
        ),
        "correct": lambda r: f"def powers(n):\n    return [{r} ** i for i in range(n)]\n",
        "obvious": lambda r: f"def powers(n):\n    return [{r}] * n\n",
        "subtle": lambda r: f"def powers(n):\n    return [{r} ** i for i in range(1, n + 1)]\n",
        "cases": lambda r: [((n,), [int(r) ** i for i in range(n)]) for n in (0, 1, 4)],
    },
    {
        "fn": "caesar",
        "sig": "caesar(text)",
        "params": lambda: [(s,) for s in range(1, 26)],
        "desc": lambda s: (
            f"shifts every lowercase ASCII letter of text {s} places forward in the alphabet "
            "(wrapping from z to a) and leaves all other characters unchanged"
        ),
        "correct": lambda s: (
            "def caesar(text):\n    out = []\n    for ch in text:\n"
            "        if 'a' <= ch <= 'z':\n"
            f"            out.append(chr((ord(ch) - 97 + {s}) % 26 + 97))\n"
            "        else:\n            out.append(ch)\n    return ''.join(out)\n"
        ),
        "obvious": lambda s: "def caesar(text):\n    return text[::-1]\n",
        "subtle": lambda s: (
            "def caesar(text):\n"
            f"    return ''.join(chr((ord(c) - 97 + {s}) % 25 + 97) if c.islower() else c "
            "for c in text)\n"
        ),
        "cases": lambda s: [
            ((t,), _caesar(t, s)) for t in ("abc", "xyz", "hello, World!", "", "zebra")
        ],
    },
    {
        "fn": "chunks",
        "sig": "chunks(xs)",
        "params": lambda: [(k,) for k in range(2, 10)],
        "desc": lambda k: (
            f"splits the list xs into consecutive chunks of length {k} "
            "(the last chunk may be shorter) and returns the list of chunks"
        ),
        "correct": lambda k: (
            f"def chunks(xs):\n    return [xs[i:i + {k}] for i in range(0, len(xs), {k})]\n"
        ),
        "obvious": lambda k: "def chunks(xs):\n    return [xs, xs]\n",
        "subtle": lambda k: (
            f"def chunks(xs):\n    return [xs[i:i + {k}] for i in range(0, len(xs) - 1, {k})]\n"
        ),
        "cases": lambda k: [
            ((xs,), [list(xs[i * k : (i + 1) * k]) for i in range(-(-len(xs) // k))])
            for xs in ([], list(range(k)), list(range(2 * k + 1)), list(range(10)))
        ],
    },
    {
        "fn": "every_kth",
        "sig": "every_kth(xs)",
        "params": lambda: [(k, o) for k in range(2, 7) for o in range(4)],
        "desc": lambda k, o: (
            f"returns every {_ordinal(k)} element of the list xs, starting at index {o} "
            f"(the elements at indices {o}, {o + k}, {o + 2 * k}, ...)"
        ),
        "correct": lambda k, o: (
            f"def every_kth(xs):\n    return [xs[i] for i in range({o}, len(xs), {k})]\n"
        ),
        "obvious": lambda k, o: "def every_kth(xs):\n    return xs[::-1]\n",
        "subtle": lambda k, o: f"def every_kth(xs):\n    return xs[{o + 1}::{k}]\n",
        "cases": lambda k, o: [
            ((xs,), [x for j, x in enumerate(xs) if j >= o and (j - o) % k == 0])
            for xs in ([], list(range(20)), list(range(100, 113)))
        ],
    },
    {
        "fn": "rotate_left",
        "sig": "rotate_left(xs)",
        "params": lambda: [(k,) for k in range(1, 13)],
        "desc": lambda k: (
            f"returns a new list with the elements of xs rotated {k} places to the left "
            "(rotation wraps around; an empty list gives an empty list)"
        ),
        "correct": lambda k: (
            "def rotate_left(xs):\n    if not xs:\n        return []\n"
            f"    k = {k} % len(xs)\n    return xs[k:] + xs[:k]\n"
        ),
        "obvious": lambda k: "def rotate_left(xs):\n    return sorted(xs, reverse=True)\n",
        "subtle": lambda k: (
            "def rotate_left(xs):\n    if not xs:\n        return []\n"
            f"    k = {k} % len(xs)\n    return xs[-k:] + xs[:-k]\n"
        ),
        "cases": lambda k: [
            ((xs,), [xs[(j + k) % len(xs)] for j in range(len(xs))] if xs else [])
            for xs in ([], [3, 1, 2], [5, 9, 2, 7, 4, 8, 1], list(range(11, 0, -1)))
        ],
    },
    {
        "fn": "pad",
        "sig": "pad(n)",
        "params": lambda: [(w,) for w in range(3, 13)],
        "desc": lambda w: (
            f"returns the decimal digits of the non-negative integer n as a string, "
            f"padded on the left with zeros to at least {w} characters"
        ),
        "correct": lambda w: (
            f"def pad(n):\n    s = str(n)\n    while len(s) < {w}:\n        s = '0' + s\n    return s\n"
        ),
        "obvious": lambda w: f"def pad(n):\n    return str(n) * {w}\n",
        "subtle": lambda w: f"def pad(n):\n    return '0' * ({w} - len(str(n)) - 1) + str(n)\n",
        "cases": lambda w: [
            ((n,), format(n, f"0{w}d")) for n in (5, 0, 10 ** (w - 1), 10**w + 3, 12)
        ],
    },
    {
        "fn": "fizz",
        "sig": "fizz(n)",
        "params": lambda: [(a, b) for a in range(2, 9) for b in range(a + 1, 10) if gcd(a, b) == 1],
        "desc": lambda a, b: (
            f'returns "FizzBuzz" when the integer n is divisible by both {a} and {b}, '
            f'"Fizz" when only by {a}, "Buzz" when only by {b}, and otherwise str(n)'
        ),
        "correct": lambda a, b: (
            f"def fizz(n):\n    if n % {a} == 0 and n % {b} == 0:\n        return 'FizzBuzz'\n"
            f"    elif n % {a} == 0:\n        return 'Fizz'\n"
            f"    elif n % {b} == 0:\n        return 'Buzz'\n    return str(n)\n"
        ),
        "obvious": lambda a, b: "def fizz(n):\n    return 'Fizz'\n",
        "subtle": lambda a, b: (
            f"def fizz(n):\n    if n % {a} == 0:\n        return 'Fizz'\n"
            f"    elif n % {b} == 0:\n        return 'Buzz'\n    return str(n)\n"
        ),
        "cases": lambda a, b: [
            ((n,), _fizz_expected(n, a, b)) for n in (a * b, a, b, 1, a * b + 1, 2 * a * b)
        ],
    },
    {
        "fn": "digit_sum",
        "sig": "digit_sum(n)",
        "params": lambda: [(b,) for b in range(2, 17) if b != 10] + [(10,)],
        "desc": lambda b: (
            f"returns the sum of the digits of the non-negative integer n written in base {b}"
        ),
        "correct": lambda b: (
            f"def digit_sum(n):\n    total = 0\n    while n > 0:\n        total += n % {b}\n"
            f"        n //= {b}\n    return total\n"
        ),
        "obvious": lambda b: "def digit_sum(n):\n    return n\n",
        "subtle": lambda b: (
            f"def digit_sum(n):\n    total = 0\n    while n > {b}:\n        total += n % {b}\n"
            f"        n //= {b}\n    return total + n\n"
        ),
        "cases": lambda b: [((n,), _digit_sum(n, b)) for n in (0, 1, b, b * b - 1, 1000)],
    },
    {
        "fn": "sum_powers",
        "sig": "sum_powers(n)",
        "params": lambda: [(s, p) for s in (1, 2, 3) for p in range(1, 7)],
        "desc": lambda s, p: (
            f"returns the sum of i**{p} for every integer i from {s} to n inclusive (0 when n < {s})"
        ),
        "correct": lambda s, p: (
            f"def sum_powers(n):\n    total = 0\n    for i in range({s}, n + 1):\n"
            f"        total += i ** {p}\n    return total\n"
        ),
        "obvious": lambda s, p: f"def sum_powers(n):\n    return n ** {p} + 1\n",
        "subtle": lambda s, p: (
            f"def sum_powers(n):\n    return sum(i ** {p} for i in range({s}, n))\n"
        ),
        "cases": lambda s, p: [
            ((n,), int(sum(np.arange(s, n + 1, dtype=np.int64) ** p))) for n in (0, s, s + 1, 6, 10)
        ],
    },
    {
        "fn": "count_letter",
        "sig": "count_letter(text)",
        "params": lambda: [(c,) for c in "abcdefghijklmnopqrstuvwxyz"],
        "desc": lambda c: f"counts the occurrences of the letter {c!r} in text, ignoring case",
        "correct": lambda c: f"def count_letter(text):\n    return text.lower().count({c!r})\n",
        "obvious": lambda c: "def count_letter(text):\n    return len(text) + 1\n",
        "subtle": lambda c: f"def count_letter(text):\n    return text.count({c!r})\n",
        "cases": lambda c: [
            ((t,), sum(1 for ch in t if ch in (c, c.upper())))
            for t in ("", c * 3 + c.upper(), f"x{c.upper()}y{c}z", "0123 !?")
        ],
    },
    {
        "fn": "max_window",
        "sig": "max_window(xs)",
        "params": lambda: [(k,) for k in range(2, 8)],
        "desc": lambda k: (
            f"returns the largest sum of {k} consecutive elements of the list of "
            f"integers xs (which has at least {k} elements)"
        ),
        "correct": lambda k: (
            f"def max_window(xs):\n    best = None\n    for i in range(len(xs) - {k} + 1):\n"
            f"        total = sum(xs[i:i + {k}])\n"
            "        if best is None or total > best:\n            best = total\n    return best\n"
        ),
        "obvious": lambda k: "def max_window(xs):\n    return max(xs)\n",
        "subtle": lambda k: (
            f"def max_window(xs):\n    return max(sum(xs[i:i + {k}]) for i in range(len(xs) - {k}))\n"
        ),
        "cases": lambda k: [
            ((xs,), max(sum(xs[i : i + k]) for i in range(len(xs) - k + 1)))
            for xs in (
                [1] * k,
                [-5] * 4 + [9] * k,
                [3, -1, 4, -1, 5, -9, 2, 6, -5, 3][: max(k + 2, 6)] + [50] * k,
                [-3, -2, -7, -1, -8, -4, -6, -9, -5][: k + 3],
            )
        ],
    },
    {
        "fn": "discounted",
        "sig": "discounted(cents)",
        "params": lambda: [(pct,) for pct in range(5, 100, 5) if pct != 50],
        "desc": lambda pct: (
            f"returns a price in whole cents after a {pct}% discount, rounding down "
            "to a whole cent (cents is a non-negative integer)"
        ),
        "correct": lambda pct: f"def discounted(cents):\n    return cents * (100 - {pct}) // 100\n",
        "obvious": lambda pct: f"def discounted(cents):\n    return cents + {pct}\n",
        "subtle": lambda pct: f"def discounted(cents):\n    return cents * {pct} // 100\n",
        "cases": lambda pct: [
            ((c,), int(np.floor_divide(c * (100 - pct), 100))) for c in (1000, 999, 0, 12345, 7)
        ],
    },
    {
        "fn": "nth_term",
        "sig": "nth_term(n)",
        "params": lambda: [(a, d) for a in range(-5, 11) for d in range(2, 10) if a != d],
        "desc": lambda a, d: (
            f"returns the n-th term (n = 1 being the first) of the arithmetic sequence "
            f"that starts at {a} and increases by {d} each step"
        ),
        "correct": lambda a, d: f"def nth_term(n):\n    return {a} + (n - 1) * {d}\n",
        "obvious": lambda a, d: "def nth_term(n):\n    return 0\n",
        "subtle": lambda a, d: f"def nth_term(n):\n    return {a} + n * {d}\n",
        "cases": lambda a, d: [((n,), int(np.arange(a, a + d * n, d)[-1])) for n in (1, 2, 10)],
    },
    {
        "fn": "count_divisible",
        "sig": "count_divisible(n)",
        "params": lambda: [(k,) for k in range(2, 26)],
        "desc": lambda k: f"counts the integers from 1 to n inclusive that are divisible by {k}",
        "correct": lambda k: (
            "def count_divisible(n):\n    count = 0\n    for i in range(1, n + 1):\n"
            f"        if i % {k} == 0:\n            count += 1\n    return count\n"
        ),
        "obvious": lambda k: "def count_divisible(n):\n    return -1\n",
        "subtle": lambda k: f"def count_divisible(n):\n    return (n - 1) // {k}\n",
        "cases": lambda k: [((n,), n // k) for n in (0, 1, k, k + 1, 5 * k, 100)],
    },
]
