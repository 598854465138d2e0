"""Benchmark: duplicate-goal groups as the asset computes them, against the original algorithm
and against this machine's limit, on synthetic goals with planted near-duplicates.

    .venv/bin/python bench/bench_nlp.py                       # all three parts, minilm (default)
    .venv/bin/python bench/bench_nlp.py --part skewed         # one recipient with 20,000 goals
    .venv/bin/python bench/bench_nlp.py --goals 20000 --recipients 200 --part full   # a subset

Parts:
1. full: 100k goals / 1,000 recipients (heavy-tailed sizes), end to end with a cold embedding
   cache, through the shipped `groups_with_cached_embeddings` (embedding shard in blob storage,
   scoring, guard, links, groups), vs the original algorithm on the same data: batches of 500
   goals in row order, pairs across batches never compared, greedy matching. The original
   (spaCy vectors, not available here) runs on the SAME vectors and threshold, so the recall
   difference is the algorithm's; embedding is the same model work for both and is timed once.
2. incremental: one goal of one recipient changed; that recipient recomputed with its cache
   (the asset skips the 999 unchanged recipients before any of this runs).
3. skewed: one recipient with 20,000 goals (embeddings cached): ours vs today's exact method
   (every pair above the threshold listed, then connected components) on the same vectors,
   groups compared for equality, and pairs/s against the limit measured in the same run: a
   dense float32 matrix product of the same shape at this machine's BLAS speed (minilm), the
   bare sparse products (tfidf).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from platform_assets.nlp.assets import (
    SimilarityConfig,
    SimilarityMethod,
    compute_recipient_groups,
    groups_with_cached_embeddings,
)
from platform_assets.nlp.eligibility import Goal
from platform_assets.nlp.embeddings import EmbeddingStats, load_minilm, usable_cpus
from platform_assets.nlp.grouping import connected_groups
from platform_assets.nlp.guard import facts_of, same_word
from platform_assets.nlp.linking import FLOAT_TOLERANCE, SimilarPairs
from platform_assets.nlp.similarity import text_vectors
from platform_assets.nlp.synthetic import synthetic_corpus
from resources.shared.blob import BlobStorage

ORIGINAL_BATCH = 500
SKEWED_GOAL_SECONDS = 5.0


def goals_by_recipient(n_goals: int, n_recipients: int, seed: int, sizes=None):
    corpus = synthetic_corpus(n_goals, n_recipients, 0.05, seed=seed, sizes=sizes)
    by_recipient = {
        r: [Goal(g.id, g.name, g.grant_id, g.recipient_id) for g in goals]
        for r, goals in corpus.goals_by_recipient().items()
    }
    return by_recipient, corpus.planted_pairs


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


def components_of_matches(goals: list[Goal], matches: list[tuple[int, int]]) -> list[set[int]]:
    index = {g.id: n for n, g in enumerate(goals)}
    pairs = SimilarPairs(
        np.array([index[a] for a, _ in matches], dtype=np.int64),
        np.array([index[b] for _, b in matches], dtype=np.int64),
        np.ones(len(matches)),
    )
    return [set(g.goal_ids) for g in connected_groups(goals, pairs)]


def recall_of_components(components: list[set[int]], planted: set[tuple[int, int]]) -> float:
    where = {goal: n for n, comp in enumerate(components) for goal in comp}
    found = sum(1 for a, b in planted if a in where and where.get(a) == where.get(b))
    return found / len(planted) if planted else 1.0


def full_run(args, config: SimilarityConfig) -> None:
    by_recipient, planted = goals_by_recipient(args.goals, args.recipients, args.seed)
    sizes = sorted(len(v) for v in by_recipient.values())
    print(
        f"\n== full: {sum(sizes):,} goals / {len(sizes):,} recipients (median {sizes[len(sizes) // 2]}, "
        f"max {sizes[-1]:,}), {len(planted):,} planted pairs; {config.method}, threshold "
        f"{config.effective_threshold}, guard {'on' if config.guard else 'off'}, {usable_cpus()} CPUs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        blob = BlobStorage(url=f"file://{tmp}/blob")
        stats, ours_components = EmbeddingStats(), []
        t0 = time.perf_counter()
        done, step = 0, max(1, sum(sizes) // 10)
        for recipient, goals in by_recipient.items():
            groups, s = groups_with_cached_embeddings(blob, recipient, goals, config)
            stats.embedded += s.embedded
            stats.seconds += s.seconds
            ours_components += [set(g.goal_ids) for g in groups]
            if (done + len(goals)) // step > done // step:
                print(f"    ... {done + len(goals):,} goals in {time.perf_counter() - t0:.0f} s", flush=True)
            done += len(goals)
        ours_s = time.perf_counter() - t0

        # the original on the same vectors (minilm: read back from the shards just written)
        from platform_assets.nlp.embedding_store import read_shard, shard_key
        from platform_assets.nlp.embeddings import model_version, text_key

        t_match, original_components = 0.0, []
        for recipient, goals in by_recipient.items():
            if config.method == "minilm":
                cache = read_shard(blob, shard_key(model_version(), recipient))
                vectors = np.stack([cache[text_key(g.name)] for g in goals])
            else:
                vectors = text_vectors([g.name for g in goals], "tfidf")
            t1 = time.perf_counter()
            original_components += components_of_matches(goals, original(goals, vectors, config.effective_threshold))
            t_match += time.perf_counter() - t1

        embed_s = stats.seconds
        print(f"  ours, end to end (cold embedding cache): {ours_s:8.1f} s   {sum(sizes) / ours_s:,.0f} goals/s")
        if stats.embedded:
            print(
                f"    of which embedding {stats.embedded:,} texts {embed_s:.1f} s ({stats.embedded / embed_s:,.0f} "
                f"texts/s), scoring + guard + groups + cache reads/writes {ours_s - embed_s:.1f} s"
            )
        original_s = embed_s + t_match
        print(
            f"  original (batches of 500, greedy), same vectors: {original_s:8.1f} s "
            f"(embedding {embed_s:.1f} s, the same work, + matching {t_match:.1f} s)"
        )
        ours_recall = recall_of_components(ours_components, planted)
        original_recall = recall_of_components(original_components, planted)
        print(
            f"  time ratio ours/original: {ours_s / max(original_s, 1e-9):.2f}   recall of planted duplicates: ours "
            f"{ours_recall:.3f}, original {original_recall:.3f} (x{ours_recall / max(original_recall, 1e-9):.2f})"
        )
        incremental(blob, by_recipient, config)


def incremental(blob: BlobStorage, by_recipient: dict[int, list[Goal]], config: SimilarityConfig) -> None:
    recipient = max(by_recipient, key=lambda r: len(by_recipient[r]) if len(by_recipient[r]) < 1000 else 0)
    goals = list(by_recipient[recipient])
    goals[0] = Goal(goals[0].id, goals[0].name + " Revised for the new grant year.", goals[0].grant_id, recipient)
    t0 = time.perf_counter()
    _, stats = groups_with_cached_embeddings(blob, recipient, goals, config)
    seconds = time.perf_counter() - t0
    print(
        f"\n== incremental: one goal of recipient {recipient} ({len(goals):,} goals) changed: recomputed in "
        f"{seconds:.2f} s, texts embedded {stats.embedded}, reused from its cache {stats.reused:,} "
        f"(the other {len(by_recipient) - 1:,} recipients are skipped by provenance, no compute)"
    )


def todays_exact_groups(vectors, threshold: float, n: int, cell_budget: int = 16_000_000) -> set[frozenset[int]]:
    """Today's exact method: list EVERY pair >= threshold block by block, then connected components."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    block = max(1, cell_budget // n)
    lefts, rights = [], []
    for start in range(0, n, block):
        sims = vectors[start : start + block] @ vectors[start:].T
        if sp.issparse(sims):
            coo = sims.tocoo()
            keep = coo.data >= threshold - FLOAT_TOLERANCE
            rows, cols = coo.row[keep], coo.col[keep]
        else:
            rows, cols = np.nonzero(sims >= threshold - FLOAT_TOLERANCE)
        upper = cols > rows
        lefts.append(rows[upper] + start)
        rights.append(cols[upper] + start)
    left, right = np.concatenate(lefts), np.concatenate(rights)
    graph = sp.coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    groups: dict[int, set[int]] = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(i)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


def product_limit(vectors, n: int, cell_budget: int = 16_000_000) -> float:
    """Seconds of the bare block products of the upper triangle (no thresholding, no links)."""
    block = max(1, cell_budget // n)
    t0 = time.perf_counter()
    for start in range(0, n, block):
        vectors[start : start + block] @ vectors[start:].T
    return time.perf_counter() - t0


def dense_peak_gflops(repeat: int = 5) -> float:
    a = np.random.default_rng(0).random((2048, 384), dtype=np.float32)
    b = np.random.default_rng(1).random((16384, 384), dtype=np.float32)
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b.T
        best = max(best, 2 * a.shape[0] * b.shape[0] * a.shape[1] / (time.perf_counter() - t0) / 1e9)
    return best


def skewed(args, method: SimilarityMethod) -> None:
    n = args.skewed_goals
    by_recipient, _ = goals_by_recipient(n, 1, args.seed, sizes=[n])
    goals = next(iter(by_recipient.values()))
    texts = [g.name for g in goals]
    config = SimilarityConfig(method=method)
    threshold = config.effective_threshold
    print(f"\n== skewed: one recipient with {n:,} goals, {method} (threshold {threshold}), {usable_cpus()} CPUs")
    cache: dict = {}
    store, key = None, None
    if args.cache_dir and method == "minilm":  # keep the 20k embeddings between runs of the benchmark
        from platform_assets.nlp.embedding_store import read_shard, shard_key, write_shard
        from platform_assets.nlp.embeddings import model_version

        store, key = BlobStorage(url=f"file://{Path(args.cache_dir).resolve()}"), shard_key(model_version(), -n)
        cache = read_shard(store, key)
    t0 = time.perf_counter()
    unique = sorted(set(texts))
    vectors = text_vectors(unique, method, cache)
    print(
        f"  vectors of {len(unique):,} distinct texts ({'partly or fully from --cache-dir' if store else 'cold'}"
        f"; cached afterwards): {time.perf_counter() - t0:.1f} s"
    )
    if store is not None and key is not None:
        from platform_assets.nlp.embeddings import text_key

        write_shard(store, key, cache, {text_key(t) for t in unique})
    timings = []
    for _ in range(args.repeat):
        facts_of.cache_clear()  # per-text guard facts: cold, as for a recipient in a real run
        same_word.cache_clear()
        t0 = time.perf_counter()
        groups = compute_recipient_groups(goals, config, cache)
        timings.append(time.perf_counter() - t0)
    ours = float(np.median(timings))
    verdict = "met" if ours <= SKEWED_GOAL_SECONDS else "NOT met"
    print(
        f"  ours (scores + guard + links + groups, cached vectors): {ours:.2f} s median of {args.repeat} "
        f"[{min(timings):.2f}-{max(timings):.2f}]  -> goal <= {SKEWED_GOAL_SECONDS:.0f} s {verdict}; "
        f"{len(groups):,} groups"
    )
    t0 = time.perf_counter()
    unguarded = compute_recipient_groups(goals, SimilarityConfig(method=method, guard=False), cache)
    ours_unguarded = time.perf_counter() - t0
    index = {t: i for i, t in enumerate(unique)}
    rows = np.array([index[t] for t in texts])
    full = vectors[rows]
    t0 = time.perf_counter()
    exact = todays_exact_groups(full, threshold, n)
    exact_s = time.perf_counter() - t0
    position = {g.id: i for i, g in enumerate(goals)}
    same = exact == {frozenset(position[m.goal_id] for m in g.members) for g in unguarded}
    print(
        f"  today's exact method (every pair listed + components, no guard): {exact_s:.2f} s; ours without the "
        f"guard {ours_unguarded:.2f} s -> x{exact_s / ours_unguarded:.2f}; same groups: {same}"
    )
    if not same:
        raise SystemExit("groups differ from today's exact method")
    pairs = n * (n - 1) / 2
    bare = product_limit(full, n)
    print(f"  pairs scored: {pairs:,.0f}; ours {pairs / ours / 1e6:,.1f} M pairs/s")
    if method == "minilm":
        peak = dense_peak_gflops()
        limit = peak * 1e9 / (2 * full.shape[1])
        print(
            f"  limit: float32 matrix product at this machine's BLAS peak, measured now: {peak:.0f} GFLOP/s = "
            f"{limit / 1e6:,.0f} M pairs/s ({pairs / limit:.2f} s); the bare block products took {bare:.2f} s "
            f"({pairs / bare / 1e6:,.0f} M pairs/s); ours reaches {pairs / ours / limit:.0%} of the limit"
        )
    else:
        print(
            f"  limit: the bare sparse block products alone take {bare:.2f} s ({pairs / bare / 1e6:,.1f} M pairs/s); "
            f"ours reaches {bare / ours:.0%} of it"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["all", "full", "skewed"], default="all")
    parser.add_argument("--method", choices=["minilm", "tfidf"], default="minilm")
    parser.add_argument("--goals", type=int, default=100_000)
    parser.add_argument("--recipients", type=int, default=1_000)
    parser.add_argument("--skewed-goals", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cache-dir",
        help="skewed part: keep the embeddings of the 20k goals here between runs (embedding them takes minutes)",
    )
    args = parser.parse_args()
    random.seed(args.seed)
    print(
        f"load average at start: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min, {os.cpu_count()} CPUs)"
    )
    if args.method == "minilm":
        t0 = time.perf_counter()
        load_minilm()
        print(f"minilm model load (offline, packaged weights): {time.perf_counter() - t0:.1f} s")
    if args.part in ("all", "full"):
        full_run(args, SimilarityConfig(method=args.method))
    if args.part in ("all", "skewed"):
        skewed(args, args.method)


if __name__ == "__main__":
    main()
