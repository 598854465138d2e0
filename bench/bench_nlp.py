"""Benchmark: duplicate-goal groups (ours) vs the original algorithm, same data, same similarity.

    .venv/bin/python bench/bench_nlp.py                      # 100k goals / 1,000 recipients
    .venv/bin/python bench/bench_nlp.py --minilm-sample 5000 # minilm on a subset, extrapolated

Synthetic goals with planted near-duplicates (platform_assets/nlp/synthetic.py). The original
(spaCy vectors, not available here) is re-implemented for its CONTROL FLOW only: batches of
500 goals in row order, pairs across batches never compared, greedy matching (a goal matched
once is skipped as a candidate afterwards). It uses the same vectors and threshold as ours, so
the recall difference isolates the algorithm. Recall = planted pairs whose two goals end up
connected (same group for ours; same component of reported matches for the original).
minilm at ~280 sentences/s on 2 cores makes 100k goals take minutes: `--minilm-sample N`
runs it on the first recipients totalling ~N goals and extrapolates the time linearly
(printed as such).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from platform_assets.nlp.assets import SimilarityConfig, SimilarityMethod, compute_recipient_groups
from platform_assets.nlp.eligibility import Goal
from platform_assets.nlp.grouping import connected_groups
from platform_assets.nlp.similarity import DEFAULT_THRESHOLDS, vectorize
from platform_assets.nlp.synthetic import synthetic_corpus

ORIGINAL_BATCH = 500


def recipient_vectors(texts: list[str], method: str):
    """The vectors the shipped similar_pairs scores (identical texts embedded once), for the original."""
    unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    return vectorize(list(unique), method)[inverse]


def ours(goals: list[Goal], config: SimilarityConfig) -> list[set[int]]:
    """What the asset runs per recipient: the shipped compute_recipient_groups."""
    return [set(g.goal_ids) for g in compute_recipient_groups(goals, config)]


def original(goals: list[Goal], vectors, threshold: float) -> list[tuple[int, int]]:
    """The original calculate_goal_similarity control flow (non-cluster mode), returning matches."""
    import scipy.sparse as sp

    matches, matched_ids = [], set()
    for i in range(0, len(goals), ORIGINAL_BATCH):
        batch = goals[i : i + ORIGINAL_BATCH]
        block = vectors[i : i + ORIGINAL_BATCH]
        sims = block @ block.T
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        for j, goal in enumerate(batch):
            row = sims[j].copy()
            row[j] = 0
            for k in np.flatnonzero(row > threshold):
                if j > k or batch[k].id in matched_ids:
                    continue
                matches.append((goal.id, batch[k].id))
                matched_ids.add(batch[k].id)
    return matches


def recall_of_components(components: list[set[int]], planted: set[tuple[int, int]]) -> float:
    where = {goal: n for n, comp in enumerate(components) for goal in comp}
    found = sum(1 for a, b in planted if a in where and where.get(a) == where.get(b))
    return found / len(planted) if planted else 1.0


def components_of_matches(goals: list[Goal], matches: list[tuple[int, int]]) -> list[set[int]]:
    from platform_assets.nlp.similarity import SimilarPairs

    index = {g.id: n for n, g in enumerate(goals)}
    pairs = SimilarPairs(
        np.array([index[a] for a, _ in matches], dtype=np.int64),
        np.array([index[b] for _, b in matches], dtype=np.int64),
        np.ones(len(matches)),
    )
    return [set(g.goal_ids) for g in connected_groups(goals, pairs)]


def bench_method(
    method: SimilarityMethod, by_recipient: dict[int, list[Goal]], planted: set[tuple[int, int]], threshold: float
):
    in_scope = {g.id for goals in by_recipient.values() for g in goals}
    planted = {p for p in planted if p[0] in in_scope}
    config = SimilarityConfig(method=method, threshold=threshold)
    t_vec = t_ours = t_orig = 0.0
    ours_components, original_components, group_count = [], [], 0
    for goals in by_recipient.values():
        t0 = time.perf_counter()
        groups = ours(goals, config)  # vectorize + all pairs + groups, as shipped
        t1 = time.perf_counter()
        vectors = recipient_vectors([g.name for g in goals], method)  # the same vectors, for the original
        t2 = time.perf_counter()
        matches = original(goals, vectors, threshold)
        t3 = time.perf_counter()
        t_ours, t_vec, t_orig = t_ours + t1 - t0, t_vec + t2 - t1, t_orig + t3 - t2
        ours_components += groups
        group_count += len(groups)
        original_components += components_of_matches(goals, matches)
    return {
        "goals": len(in_scope),
        "recipients": len(by_recipient),
        "planted_pairs": len(planted),
        "embed_s": t_vec,
        "ours_s": t_ours,
        "original_matching_s": t_orig,
        "groups": group_count,
        "recall_ours": recall_of_components(ours_components, planted),
        "recall_original": recall_of_components(original_components, planted),
    }


def print_result(method: str, threshold: float, r: dict, extrapolate_to: int | None = None) -> None:
    total = r["ours_s"]
    print(
        f"\n== {method} (threshold {threshold}) on {r['goals']:,} goals / {r['recipients']:,} recipients, "
        f"{r['planted_pairs']:,} planted pairs"
    )
    print(
        f"  time ours (shipped compute_recipient_groups: vectorize + all pairs + groups): {total:8.1f} s"
        f"   of which vectorizing alone takes ~{r['embed_s']:.1f} s"
    )
    print(f"  original matching on the same vectors (vectorizing excluded): {r['original_matching_s']:.1f} s")
    print(f"  throughput ours: {r['goals'] / total:,.0f} goals/s   groups: {r['groups']:,}")
    if extrapolate_to:
        print(
            f"  EXTRAPOLATED (linear) to {extrapolate_to:,} goals: {total * extrapolate_to / r['goals'] / 60:.1f} min"
        )
    print(
        f"  recall of planted duplicates: ours {r['recall_ours']:.3f}   original (batches of 500, greedy) "
        f"{r['recall_original']:.3f}   recall ratio ours/original "
        f"{r['recall_ours'] / max(r['recall_original'], 1e-9):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--goals", type=int, default=100_000)
    parser.add_argument("--recipients", type=int, default=1_000)
    parser.add_argument("--duplicate-fraction", type=float, default=0.05)
    parser.add_argument(
        "--minilm-sample",
        type=int,
        default=5_000,
        help="goals for the minilm run (0 = all); time is extrapolated to --goals",
    )
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    t0 = time.perf_counter()
    corpus = synthetic_corpus(args.goals, args.recipients, args.duplicate_fraction, seed=args.seed)
    by_recipient = {
        r: [Goal(g.id, g.name, g.grant_id, g.recipient_id) for g in goals]
        for r, goals in corpus.goals_by_recipient().items()
    }
    sizes = sorted(len(v) for v in by_recipient.values())
    positions = {g.id: n for goals in by_recipient.values() for n, g in enumerate(goals)}
    crossing = sum(
        1 for a, b in corpus.planted_pairs if positions[a] // ORIGINAL_BATCH != positions[b] // ORIGINAL_BATCH
    )
    print(
        f"corpus: {len(corpus.goals):,} goals, {len(by_recipient):,} recipients "
        f"(sizes median {sizes[len(sizes) // 2]}, "
        f"max {sizes[-1]:,}), {len(corpus.planted_pairs):,} planted pairs, {crossing:,} of them across a 500-batch "
        f"boundary; generated in {time.perf_counter() - t0:.1f} s"
    )

    threshold = DEFAULT_THRESHOLDS["tfidf"]
    print_result("tfidf", threshold, bench_method("tfidf", by_recipient, corpus.planted_pairs, threshold))

    if args.skip_minilm:
        return
    threshold = DEFAULT_THRESHOLDS["minilm"]
    subset, count = {}, 0
    for r, goals in by_recipient.items():
        if args.minilm_sample and count >= args.minilm_sample:
            break
        subset[r] = goals
        count += len(goals)
    from platform_assets.nlp.similarity import load_minilm

    t0 = time.perf_counter()
    load_minilm()  # one-off model load, reported separately from the per-goal time
    print(f"\nminilm model load (offline, packaged weights): {time.perf_counter() - t0:.1f} s")
    result = bench_method("minilm", subset, corpus.planted_pairs, threshold)
    print_result(
        "minilm", threshold, result, extrapolate_to=len(corpus.goals) if len(subset) < len(by_recipient) else None
    )


if __name__ == "__main__":
    main()
