"""Human-labelled sentence pairs for calibrating and evaluating duplicate detection.

The data (`bench/data/stsb-train-headlines-images.tsv`, licence in `bench/data/README.md`) is the
`headlines` and `images` part of the STS Benchmark TRAIN split: 2,999 sentence pairs, each
scored 0-5 by several people. A pair counts as a duplicate when people scored it >= 4 ("mostly
equivalent, only unimportant details differ"). The pairs are split once, by a hash of their
text, into a calibration part (~60 %, where thresholds and guard rules are chosen) and a
held-out part (~40 %, only ever used to report); neither depends on any score we compute.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "stsb-train-headlines-images.tsv"
DUPLICATE_SCORE = 4.0
CALIBRATION_PERCENT = 60


@dataclass(frozen=True)
class LabelledPair:
    source: str
    a: str
    b: str
    score: float

    @property
    def duplicate(self) -> bool:
        return self.score >= DUPLICATE_SCORE

    @property
    def split(self) -> str:
        bucket = int(hashlib.sha256(f"{self.a}\t{self.b}".encode()).hexdigest(), 16) % 100
        return "calibration" if bucket < CALIBRATION_PERCENT else "held-out"


def labelled_pairs(split: str | None = None) -> list[LabelledPair]:
    with DATA.open(encoding="utf-8", newline="") as f:
        pairs = [
            LabelledPair(row["source"], row["sentence1"], row["sentence2"], float(row["score"]))
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]
    return [p for p in pairs if split is None or p.split == split]


def idf_reference_sentences() -> list[str]:
    """The reference corpus of the `tfidf` method's fixed IDF: the calibration sentences."""
    return sorted({s for p in labelled_pairs("calibration") for s in (p.a, p.b)})


if __name__ == "__main__":  # regenerate platform_assets/nlp/data/idf_reference.txt
    import sys

    target = Path(__file__).resolve().parents[1] / "platform_assets" / "nlp" / "data" / "idf_reference.txt"
    target.write_text("\n".join(idf_reference_sentences()) + "\n", encoding="utf-8")
    print(f"wrote {target} sha256 {hashlib.sha256(target.read_bytes()).hexdigest()}", file=sys.stderr)
