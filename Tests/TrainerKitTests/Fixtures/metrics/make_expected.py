#!/usr/bin/env python3
"""Writes expected.json: the reference values for TranslationMetricsTests.swift.

BLEU and chrF come from sacreBLEU (`pip install sacrebleu`) with its default settings, exactly as
`sacrebleu.metrics.BLEU()` / `CHRF()` compute them; CER and WER come from the small Levenshtein
below, written independently of the Swift code. Run from anywhere:

    python3 make_expected.py

Text files are UTF-8, one segment per line, each line ending in "\\n"; lines are split on "\\n"
only (not `str.splitlines()`, which also splits on U+0085, U+2028, ...), and the Swift test reads
them the same way.
"""

import json
import os

import sacrebleu
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

HERE = os.path.dirname(os.path.abspath(__file__))

# Hypothesis/reference file pairs checked at corpus level.
CORPORA = {
    "main": ("hypotheses.txt", "references.txt"),
    "low_overlap": ("low_overlap_hypotheses.txt", "low_overlap_references.txt"),
}

# Small corpora with a property worth pinning (each is hypotheses, references).
CASES = {
    "identical": (["The cat sat on the mat.", "Il gatto è sul tappeto, 3.5 volte."],
                  ["The cat sat on the mat.", "Il gatto è sul tappeto, 3.5 volte."]),
    # 4 hypothesis tokens against 8 reference tokens, all matching: BP = exp(1 - 8/4) = e^-1.
    "brevity_penalty": (["the cat sat down"], ["the cat sat down on the red mat"]),
    # Hypothesis longer than the reference: BP = 1.
    "long_hypothesis": (["the cat sat down on the red mat today"], ["the cat sat down"]),
    # Fewer than 4 tokens in the whole corpus: no 4-grams, so BLEU is 0 although everything matches.
    "no_four_grams": (["a b c"], ["a b c"]),
    # Some unigram matches but no higher-order ones: "exp" smoothing gives 100 / (2^k * total).
    "exp_smoothing": (["the dog ran far away from home", "a b c d e"], ["the cat ran to the house", "a x c y e"]),
    # Nothing matches at all: BLEU 0 early exit, chrF 0.
    "no_matches": (["xyz"], ["abc"]),
    # All hypotheses empty.
    "empty_hypotheses": (["", ""], ["a reference", "another one"]),
    # Trailing "-\n": BLEU strips trailing whitespace before the 13a tokenizer joins "-\n".
    "hyphen_newline": (["well-\nknown fact-\n", "line\nbreak here"], ["well-known fact-", "line break here"]),
    # Canonically equivalent but different code points (precomposed vs e + U+0301) do not match.
    "decomposed_accent": (["caff\u00e8 perch\u00e9"], ["caffe\u0300 perche\u0301"]),
    # Short references: orders above the reference length give hyp count 0 in chrF.
    "short_reference": (["abcdefgh", "xy"], ["ab", "xyz"]),
}

# Strings whose 13a tokenization the Swift test checks verbatim.
TOKENIZER_EXAMPLES = [
    "Hello, world!",
    "It costs 3.5 euros, not 1,000 dollars.",
    "1,000.50 and 3.5. and ,5 and 5, and .5",
    "a..b ... x.,y 1.2.3 1..2",
    "10-20 x-1 1-x -- 1--2 a-b well-known",
    "e.g. U.S.A. Ph.D. p.m.",
    "\"quoted\" 'single' don't l'uomo",
    "(hi) [x] {y} <z> a/b 50% $3.50 #tag @user a&b a|b ~c ^d _e `f` a=b a+b a*b a:b a;b a?b",
    "Tom &amp; Jerry &quot;x&quot; &lt;5 &gt;2 &amp;lt; &apos;",
    "The <skipped> word",
    "well-\nknown line\nbreak",
    "Tabs\tand  double  spaces, nbsp\u00a0here, line\u2028sep, \u3000ideographic ",
    "   leading and trailing   ",
    "",
    "Perché? È così. Città, più.",
    "Caffe\u0301. naïve, crème brûlée.",
    "Full-width \uff11\uff12.\uff13 and Arabic-Indic \u0663.\u0665 digits",
    "I love pizza 🍕, pasta 🍝!",
    "«Non lo so», disse. — Davvero?",
    "x\u0085y\u001cz",
]


def read_lines(name):
    with open(os.path.join(HERE, name), encoding="utf-8", newline="") as f:
        text = f.read()
    assert text.endswith("\n"), f"{name} must end with a newline"
    return text[:-1].split("\n")


def levenshtein(a, b):
    """Unit-cost edit distance between two sequences (full matrix; independent of the Swift code)."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            substitution = rows[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, substitution)
    return rows[len(a)][len(b)]


def error_rate(hypotheses, references, split):
    """Σ distance / Σ reference length, over code points (`split=list`) or words (`str.split`)."""
    distance = sum(levenshtein(split(h), split(r)) for h, r in zip(hypotheses, references))
    length = sum(len(split(r)) for r in references)
    return distance / length


def metrics(hypotheses, references):
    assert len(hypotheses) == len(references)
    bleu = BLEU().corpus_score(hypotheses, [references])
    chrf = CHRF().corpus_score(hypotheses, [references])
    return {
        "hypotheses": hypotheses,
        "references": references,
        "bleu": bleu.score,
        "bleu_precisions": list(bleu.precisions),
        "bleu_brevity_penalty": bleu.bp,
        "bleu_hypothesis_length": bleu.sys_len,
        "bleu_reference_length": bleu.ref_len,
        "bleu_matches": list(bleu.counts),
        "bleu_totals": list(bleu.totals),
        "bleu_string": str(bleu),
        "chrf": chrf.score,
        "chrf_string": str(chrf),
        "cer": error_rate(hypotheses, references, list),
        "wer": error_rate(hypotheses, references, str.split),
    }


def main():
    corpora = {}
    for key, (hypothesis_file, reference_file) in CORPORA.items():
        values = metrics(read_lines(hypothesis_file), read_lines(reference_file))
        del values["hypotheses"], values["references"]
        corpora[key] = {"hypotheses_file": hypothesis_file, "references_file": reference_file, **values}
    cases = {key: metrics(list(h), list(r)) for key, (h, r) in CASES.items()}
    tokenizer = Tokenizer13a()
    bleu, chrf = BLEU(), CHRF()
    bleu.corpus_score(["x"], [["x"]])  # the signature needs the number of references
    chrf.corpus_score(["x"], [["x"]])
    expected = {
        "sacrebleu_version": sacrebleu.__version__,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "corpora": corpora,
        "cases": cases,
        "tokenizer_13a": [{"input": s, "output": tokenizer(s)} for s in TOKENIZER_EXAMPLES],
    }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=True)
        f.write("\n")
    for key, values in {**corpora, **cases}.items():
        print(f"{key:18} {values['bleu_string']}  chrF {values['chrf']:.4f}  "
              f"CER {values['cer']:.4f}  WER {values['wer']:.4f}")


if __name__ == "__main__":
    main()
