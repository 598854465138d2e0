"""Synthetic TTA-style goals with planted near-duplicates (demo data, tests, benchmark).

Goals are built from slots (verb, focus area, approach, purpose), so distinct goals share a
lot of vocabulary, like real ones ("hard negatives"). A planted duplicate is a copy of an
earlier goal of the same recipient, put on another of its grants and lightly edited the way
people re-type goals: case, punctuation, a typo, a dropped lead-in, extra spaces. Copies are
appended after the recipient's other goals, so in recipients with more than 500 goals they
land in a later batch than their original, which is where the original service went blind.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

LEADS = ["The recipient will", "Recipient will", "The program will", "Grantee will", ""]
VERBS = [
    "improve",
    "strengthen",
    "develop",
    "implement",
    "establish",
    "enhance",
    "build",
    "expand",
    "refine",
    "sustain",
    "monitor",
    "increase",
]
AREAS = [
    "family engagement",
    "school readiness",
    "health and safety practices",
    "fiscal management",
    "ERSEA processes",
    "coaching systems",
    "curriculum fidelity",
    "data systems",
    "staff wellness",
    "transportation safety",
    "nutrition services",
    "mental health consultation",
    "teacher-child interactions",
    "governance and board training",
    "community partnerships",
    "disability services",
    "dual language learning",
    "facility maintenance",
    "emergency preparedness",
    "child screening procedures",
    "home visiting practices",
    "workforce recruitment",
    "professional development plans",
    "ongoing monitoring",
    "attendance tracking",
    "infant and toddler care",
    "transition to kindergarten",
    "oral health services",
    "parent leadership",
    "financial reporting",
]
APPROACHES = [
    "through practice-based coaching",
    "using a data-driven approach",
    "by updating written policies",
    "with quarterly self-assessments",
    "through staff training",
    "by partnering with local agencies",
    "with a new tracking system",
    "through peer learning communities",
    "by revising procedures",
    "using evidence-based practices",
    "with family input",
    "through regular leadership review",
    "by hiring additional staff",
    "with targeted technical assistance",
    "through a corrective action plan",
]
PURPOSES = [
    "to support children's school readiness",
    "to ensure compliance with the Head Start Program Performance Standards",
    "to keep children safe",
    "to improve outcomes for families",
    "to reduce staff turnover",
    "to increase enrollment",
    "to meet community needs",
    "to strengthen program quality",
    "to promote healthy development",
    "to close achievement gaps",
    "to sustain improvements over time",
    "to respond to monitoring findings",
]


def goal_text(rng: random.Random) -> str:
    parts = [rng.choice(LEADS), rng.choice(VERBS), rng.choice(AREAS), rng.choice(APPROACHES), rng.choice(PURPOSES)]
    text = " ".join(p for p in parts if p)
    return text[0].upper() + text[1:] + "."


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) > 5 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    k = rng.randrange(1, len(w) - 2)
    words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
    return " ".join(words)


def _drop_lead(text: str, rng: random.Random) -> str:
    for lead in LEADS[:-1]:
        if text.startswith(lead + " "):
            rest = text[len(lead) + 1 :]
            return rest[0].upper() + rest[1:]
    return rng.choice(LEADS[:-1]) + " " + text[0].lower() + text[1:]


PERTURBATIONS = {
    "exact": lambda t, r: t,
    "case": lambda t, r: t.lower() if r.random() < 0.5 else t.upper(),
    "punctuation": lambda t, r: re.sub(r"[.,]", "", t) + r.choice(["", ";", " ."]),
    "typo": _typo,
    "lead": _drop_lead,
    "spaces": lambda t, r: "  ".join(t.split(" ")) + "  ",
}


def near_duplicate(text: str, rng: random.Random) -> str:
    names = rng.sample(sorted(PERTURBATIONS), k=rng.choice([1, 1, 2]))
    for name in names:
        text = PERTURBATIONS[name](text, rng)
    return text


@dataclass
class SyntheticGoal:
    id: int
    name: str
    grant_id: int
    recipient_id: int


@dataclass
class SyntheticCorpus:
    recipients: dict[int, str] = field(default_factory=dict)
    grants: dict[int, int] = field(default_factory=dict)  # grant id -> recipient id
    goals: list[SyntheticGoal] = field(default_factory=list)
    planted_pairs: set[tuple[int, int]] = field(default_factory=set)  # (original id, copy id)

    def goals_by_recipient(self) -> dict[int, list[SyntheticGoal]]:
        out: dict[int, list[SyntheticGoal]] = {}
        for g in self.goals:
            out.setdefault(g.recipient_id, []).append(g)
        return out


def recipient_sizes(n_goals: int, n_recipients: int, rng: random.Random) -> list[int]:
    """Heavy-tailed sizes (a few recipients with thousands of goals), summing to n_goals."""
    weights = [rng.paretovariate(1.2) for _ in range(n_recipients)]
    scale = (n_goals - 2 * n_recipients) / sum(weights)
    sizes = [2 + int(w * scale) for w in weights]
    sizes[sizes.index(max(sizes))] += n_goals - sum(sizes)
    return sizes


def synthetic_corpus(
    n_goals: int,
    n_recipients: int,
    duplicate_fraction: float = 0.05,
    seed: int = 7,
    first_recipient_id: int = 1,
    sizes: list[int] | None = None,
) -> SyntheticCorpus:
    rng = random.Random(seed)
    corpus = SyntheticCorpus()
    sizes = sizes or recipient_sizes(n_goals, n_recipients, rng)
    goal_id, grant_id = 1, 1
    for offset, size in enumerate(sizes):
        recipient_id = first_recipient_id + offset
        corpus.recipients[recipient_id] = f"Recipient {recipient_id} Early Learning"
        grant_ids = list(range(grant_id, grant_id + max(2, size // 200)))
        grant_id += len(grant_ids)
        for g in grant_ids:
            corpus.grants[g] = recipient_id
        n_copies = int(size * duplicate_fraction) if size >= 4 else 0
        originals: list[SyntheticGoal] = []
        seen: set[str] = set()
        while len(originals) < size - n_copies:
            text = goal_text(rng)
            if text in seen:
                continue
            seen.add(text)
            originals.append(SyntheticGoal(goal_id, text, rng.choice(grant_ids), recipient_id))
            goal_id += 1
        copies = []
        for source in rng.sample(originals, k=min(n_copies, len(originals))):
            other_grants = [g for g in grant_ids if g != source.grant_id]
            copies.append(
                SyntheticGoal(goal_id, near_duplicate(source.name, rng), rng.choice(other_grants), recipient_id)
            )
            corpus.planted_pairs.add((source.id, goal_id))
            goal_id += 1
        corpus.goals.extend(originals + copies)
    return corpus
