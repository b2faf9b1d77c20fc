"""Regenerate the bundled sample data (src/dataquality_thresholds/data/sample/*.jsonl).

Every answer is computed, not written by hand: the correct response is the
computed value, the subtle one a plausible slip (wrong formula, off-by-one,
unit slip), the obvious one blatantly wrong. Coding examples carry unit tests;
this script runs them and refuses to write data where the correct solution
fails or an incorrect one passes.

    python scripts/make_sample_data.py            # rewrite the files
    python scripts/make_sample_data.py --check    # exit 1 if they differ
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

from dataquality_thresholds.io import write_paired_jsonl
from dataquality_thresholds.records import PairedExample

OUT = Path(__file__).resolve().parents[1] / "src" / "dataquality_thresholds" / "data" / "sample"
PER_DOMAIN = 32
SEED = 20260101


def money(x: float) -> str:
    return f"${x:,.2f}"


def finance(rng: np.random.Generator) -> list[PairedExample]:
    out = []
    for i in range(PER_DOMAIN):
        kind = ("compound_interest", "simple_interest", "loan_payment")[i % 3]
        p = int(rng.integers(10, 200)) * 100
        r = float(rng.choice([2.0, 3.0, 3.5, 4.0, 5.0, 6.0, 7.5]))
        n = int(rng.integers(2, 15))
        if kind == "compound_interest":
            q = f"I deposit {money(p)} at {r}% interest compounded annually. How much will I have after {n} years?"
            good = p * (1 + r / 100) ** n
            slip = p * (1 + r / 100 * n)  # simple interest instead of compound
            correct = f"With annual compounding the balance grows to {money(good)} after {n} years ({money(p)} x (1 + {r / 100:g})^{n})."
            subtle = f"The balance grows to {money(slip)} after {n} years ({money(p)} x (1 + {r / 100:g} x {n}))."
            obvious = f"Interest makes savings shrink, so after {n} years you will have only {money(p / (n + 1))} left."
        elif kind == "simple_interest":
            q = f"What simple interest does a {money(p)} loan at {r}% per year accrue over {n} years?"
            good = p * r / 100 * n
            slip = p * r / 100 * (n - 1)  # off-by-one on the years
            correct = f"Simple interest is principal x rate x time: {money(p)} x {r / 100:g} x {n} = {money(good)}."
            subtle = f"Simple interest is {money(p)} x {r / 100:g} x {n - 1} = {money(slip)}."
            obvious = f"A loan never accrues interest, so the answer is {money(0)}; only savings earn interest."
        else:
            q = f"What is the monthly payment on a {money(p)} loan at {r}% APR repaid monthly over {n} years?"
            i_m = r / 100 / 12
            k = 12 * n
            good = p * i_m / (1 - (1 + i_m) ** -k)
            slip = p * (1 + r / 100 * n) / k  # flat interest instead of amortisation
            correct = f"With monthly rate {r}%/12 over {k} payments, the amortised payment is {money(good)} per month."
            subtle = f"Adding {r}% per year of interest to the principal and splitting it over {k} months gives {money(slip)} per month."
            obvious = (
                f"Just pay {money(p * 2)} per month; loan payments are always twice the principal."
            )
        out.append(
            PairedExample(
                id=f"finance-{i:03d}",
                domain="finance",
                skill=kind,
                prompt=q,
                correct=correct,
                incorrect={"obvious": obvious, "subtle": subtle},
            )
        )
    return out


def health(rng: np.random.Generator) -> list[PairedExample]:
    out = []
    facts = [
        (
            "Is it safe to mix bleach with ammonia-based cleaners?",
            "No. Mixing bleach and ammonia releases toxic chloramine gas; never combine them.",
            "It is fine if the room is well ventilated and you use small amounts.",
            "Yes, mixing them makes a stronger, perfectly safe cleaner; the fumes are harmless.",
        ),
        (
            "Should honey be given to a baby under 12 months old?",
            "No. Honey can contain Clostridium botulinum spores and is not recommended before 12 months of age.",
            "A small amount is fine from 6 months onward as long as it is pasteurised.",
            "Yes, honey is the ideal first food for newborns and can replace milk.",
        ),
        (
            "Can I take acetaminophen (paracetamol) with alcohol every day without concern?",
            "No. Regular alcohol use with acetaminophen raises the risk of liver damage; ask a clinician and keep to the label limits.",
            "Yes, as long as you stay under the maximum daily acetaminophen dose the alcohol does not matter.",
            "Yes, alcohol actually protects the liver from acetaminophen, so drink more.",
        ),
    ]
    for i in range(PER_DOMAIN):
        if i % 4 == 3:
            q, correct, subtle, obvious = facts[(i // 4) % len(facts)]
            out.append(
                PairedExample(
                    id=f"health-{i:03d}",
                    domain="health",
                    skill="safety_fact",
                    prompt=q,
                    correct=correct,
                    incorrect={"obvious": obvious, "subtle": subtle},
                )
            )
            continue
        if i % 4 in (0, 1):
            w = int(rng.integers(8, 40))
            mgkg = int(rng.choice([10, 15, 20, 25, 30, 40]))
            doses = int(rng.choice([2, 3, 4]))
            q = (
                f"A child weighs {w} kg. The prescribed dose is {mgkg} mg/kg/day divided into "
                f"{doses} equal doses. How many mg per dose?"
            )
            good = w * mgkg / doses
            slip = w * mgkg  # forgot to divide the daily dose
            correct = f"Daily dose = {w} kg x {mgkg} mg/kg = {w * mgkg} mg; divided into {doses} doses that is {good:g} mg per dose."
            subtle = f"Each dose is {w} kg x {mgkg} mg/kg = {slip:g} mg, given {doses} times a day."
            obvious = (
                f"Give {slip * 10:g} mg per dose; higher doses always work faster and are harmless."
            )
            skill = "weight_dosage"
        else:
            lb = int(rng.integers(40, 220))
            mgkg = int(rng.choice([5, 10, 15]))
            kg = lb / 2.2046
            q = f"A patient weighs {lb} lb. How many mg is a single {mgkg} mg/kg dose?"
            good = kg * mgkg
            slip = lb * mgkg  # pounds used as kilograms
            correct = f"{lb} lb is {kg:.1f} kg, so the dose is {kg:.1f} x {mgkg} = {good:.0f} mg."
            subtle = f"The dose is {lb} x {mgkg} = {slip:.0f} mg."
            obvious = "Weight does not matter for dosing; everyone takes 5000 mg."
            skill = "unit_conversion_dosage"
        out.append(
            PairedExample(
                id=f"health-{i:03d}",
                domain="health",
                skill=skill,
                prompt=q,
                correct=correct,
                incorrect={"obvious": obvious, "subtle": subtle},
            )
        )
    return out


def add_business_days(start: dt.date, n: int) -> dt.date:
    d = start
    while n > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def legal(rng: np.random.Generator) -> list[PairedExample]:
    out = []
    base = dt.date(2026, 1, 1)
    for i in range(PER_DOMAIN):
        start = base + dt.timedelta(days=int(rng.integers(0, 365)))
        if i % 2 == 0:
            n = int(rng.choice([10, 14, 21, 28, 30, 60, 90]))
            q = (
                f"A notice was served on {start:%A, %d %B %Y}. A reply is due within {n} calendar days "
                "of service, counting the day after service as day 1. What is the last day to reply?"
            )
            good = start + dt.timedelta(days=n)
            slip = start + dt.timedelta(days=n - 1)  # counted the service day as day 1
            correct = f"Counting from the next day, day {n} is {good:%A, %d %B %Y}, the last day to reply."
            subtle = f"Day {n} is {slip:%A, %d %B %Y}, the last day to reply."
            obvious = "Deadlines in notices are only suggestions; you can reply whenever you like."
            skill = "calendar_deadline"
        else:
            n = int(rng.choice([3, 5, 7, 10, 15]))
            q = (
                f"A filing must be made within {n} business days (Monday to Friday, ignoring holidays) "
                f"after {start:%A, %d %B %Y}. What is the last day?"
            )
            good = add_business_days(start, n)
            slip = start + dt.timedelta(days=n)  # counted calendar days
            correct = (
                f"Skipping weekends, the {n}th business day after that date is {good:%A, %d %B %Y}."
            )
            subtle = f"Counting {n} days forward gives {slip:%A, %d %B %Y}."
            obvious = f"The deadline is {start - dt.timedelta(days=30):%A, %d %B %Y}, a month before the start date."
            skill = "business_days"
        out.append(
            PairedExample(
                id=f"legal-{i:03d}",
                domain="legal",
                skill=skill,
                prompt=q,
                correct=correct,
                incorrect={"obvious": obvious, "subtle": subtle},
            )
        )
    return out


CODING_TASKS = [
    (
        "sum_to",
        "Write a Python function `sum_to(n)` that returns the sum of the integers from 1 to n inclusive.",
        "def sum_to(n):\n    return sum(range(1, n + 1))\n",
        "def sum_to(n):\n    return sum(range(1, n))\n",
        "def sum_to(n):\n    return 'sum'\n",
        "assert sum_to(1) == 1\nassert sum_to(4) == 10\nassert sum_to(0) == 0\n",
    ),
    (
        "count_above",
        "Write a Python function `count_above(xs, k)` that counts the elements of xs strictly greater than k.",
        "def count_above(xs, k):\n    return sum(1 for x in xs if x > k)\n",
        "def count_above(xs, k):\n    return sum(1 for x in xs if x >= k)\n",
        "def count_above(xs, k):\n    return len(xs) * k\n",
        "assert count_above([1, 2, 3], 2) == 1\nassert count_above([], 0) == 0\nassert count_above([5, 5], 5) == 0\n",
    ),
    (
        "is_leap",
        "Write a Python function `is_leap(year)` that returns True for Gregorian leap years.",
        "def is_leap(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
        "def is_leap(year):\n    return year % 4 == 0 and year % 100 != 0\n",
        "def is_leap(year):\n    return True\n",
        "assert is_leap(2024)\nassert not is_leap(1900)\nassert is_leap(2000)\nassert not is_leap(2023)\n",
    ),
    (
        "clamp",
        "Write a Python function `clamp(x, lo, hi)` that limits x to the closed interval [lo, hi].",
        "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
        "def clamp(x, lo, hi):\n    return min(lo, max(x, hi))\n",
        "def clamp(x, lo, hi):\n    return x * 100\n",
        "assert clamp(5, 0, 10) == 5\nassert clamp(-1, 0, 10) == 0\nassert clamp(11, 0, 10) == 10\n",
    ),
    (
        "last_n",
        "Write a Python function `last_n(xs, n)` that returns the last n elements of the list xs (all of them if n exceeds the length).",
        "def last_n(xs, n):\n    return xs[len(xs) - n:] if n < len(xs) else list(xs)\n",
        "def last_n(xs, n):\n    return xs[len(xs) - n + 1:] if n < len(xs) else list(xs)\n",
        "def last_n(xs, n):\n    return None\n",
        "assert last_n([1, 2, 3], 2) == [2, 3]\nassert last_n([1], 5) == [1]\nassert last_n([1, 2], 0) == []\n",
    ),
    (
        "mean",
        "Write a Python function `mean(xs)` that returns the arithmetic mean of a non-empty list of numbers.",
        "def mean(xs):\n    return sum(xs) / len(xs)\n",
        "def mean(xs):\n    return sum(xs) // len(xs)\n",
        "def mean(xs):\n    return max(xs) * 2\n",
        "assert mean([1, 2, 3, 4]) == 2.5\nassert mean([7]) == 7\n",
    ),
    (
        "factorial",
        "Write a Python function `factorial(n)` that returns n! for n >= 0.",
        "def factorial(n):\n    out = 1\n    for k in range(2, n + 1):\n        out *= k\n    return out\n",
        "def factorial(n):\n    out = 1\n    for k in range(2, n):\n        out *= k\n    return out\n",
        "def factorial(n):\n    return n + n\n",
        "assert factorial(0) == 1\nassert factorial(5) == 120\nassert factorial(1) == 1\n",
    ),
    (
        "is_palindrome",
        "Write a Python function `is_palindrome(s)` that tells whether the string s reads the same backwards, ignoring case.",
        "def is_palindrome(s):\n    t = s.lower()\n    return t == t[::-1]\n",
        "def is_palindrome(s):\n    return s == s[::-1]\n",
        "def is_palindrome(s):\n    return len(s) > 3\n",
        "assert is_palindrome('Anna')\nassert not is_palindrome('abc')\nassert is_palindrome('')\n",
    ),
]


def passes(source: str, tests: str) -> bool:
    scope: dict[str, object] = {}
    try:
        exec(compile(source + "\n" + tests, "<sample>", "exec"), scope)
    except Exception:
        return False
    return True


def coding(rng: np.random.Generator) -> list[PairedExample]:
    del rng  # the coding set is fixed; kept for a uniform signature
    out = []
    phrasings = [
        "{q}",
        "{q} Reply with the code only.",
        "Please help: {q}",
        "{q} Keep it short.",
    ]
    i = 0
    for name, q, good, subtle, obvious, tests in CODING_TASKS:
        assert passes(good, tests), name
        assert not passes(subtle, tests), name
        assert not passes(obvious, tests), name
        for ph in phrasings:
            out.append(
                PairedExample(
                    id=f"coding-{i:03d}",
                    domain="coding",
                    skill=name,
                    prompt=ph.format(q=q),
                    correct=f"```python\n{good}```",
                    incorrect={
                        "obvious": f"```python\n{obvious}```",
                        "subtle": f"```python\n{subtle}```",
                    },
                )
            )
            i += 1
    return out


BUILDERS = {"coding": coding, "finance": finance, "health": health, "legal": legal}


def build(out_dir: Path) -> None:
    for k, (domain, fn) in enumerate(sorted(BUILDERS.items())):
        rng = np.random.default_rng([SEED, k])
        write_paired_jsonl(fn(rng), out_dir / f"{domain}.jsonl")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the files in the package")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp))
            bad = [
                d
                for d in BUILDERS
                if (Path(tmp) / f"{d}.jsonl").read_bytes() != (OUT / f"{d}.jsonl").read_bytes()
            ]
        if bad:
            print("out of date:", ", ".join(bad))
            return 1
        print("sample data up to date")
        return 0
    build(args.out)
    print(f"wrote {len(BUILDERS)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
