"""Builds the project's own small English spaCy pipeline, with no download.

No pretrained spaCy model can be fetched on the machines this runs on, so the
pipeline is made from code: a blank English tokenizer, spaCy's lookup
lemmatizer with the tables from the ``spacy-lookups-data`` package, and an
attribute ruler that mends lemmas the lookup table gets wrong and folds common
misspellings of the clinic's vocabulary onto the right word. ``config.yml``
loads the result through ``SpacyNLP`` by path.

Run it with ``python -m clinic_nlu.spacy_pipeline <output dir>`` (``make spacy``
does this into ``.spacy/en_clinic``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, Iterable, List

import spacy
from spacy.language import Language

# The lookup table maps "does" to "doe" (the deer); visitors mean the verb.
LEMMA_FIXES: Dict[str, str] = {
    "does": "do",
    "doesn't": "do",
    "doesnt": "do",
}

# Misspellings seen in how people type the clinic's key words, folded onto the
# lemma of the right word so that word-level features still match.
MISSPELLINGS: Dict[str, Iterable[str]] = {
    "acupuncture": [
        "accupuncture",
        "acupunture",
        "accupunture",
        "acupunctre",
        "acupuncure",
        "acupunctur",
        "accupuncter",
        "acupunkture",
        "acupuncuture",
    ],
    "acupuncturist": ["accupuncturist", "acupunturist", "acupuncurist"],
    "needle": [
        "neeedle",
        "neddle",
        "needel",
        "neelde",
        "nedle",
        "needls",
        "neeedles",
        "needels",
        "neddles",
        "nedles",
        "needlles",
        "neeldes",
        "needleing",
        "needeling",
        "neddling",
        "nedling",
        "neeedling",
        "needlin",
    ],
    "massage": ["massge", "masage", "massag", "message therapy"],
    "trigger": ["triger", "trigerr", "tigger", "trgger"],
    "session": ["sesion", "sessoin", "sesions", "sessons", "seesion"],
    "painful": ["painfull", "painfulll", "paniful"],
    "hurt": ["hurts", "hurst", "hrt", "hurtt"],
    "physiotherapist": ["physiotherapist", "physio therapist", "fisio"],
    "sore": ["sor", "soar"],
    "twitch": ["twich", "twitchs", "twiches", "twtich"],
    "bruise": ["bruse", "bruize", "brusing", "bruseing"],
    "safe": ["saf", "sfe"],
}


def lemma_patterns() -> List[dict]:
    """Attribute-ruler patterns that set the lemma of known words and typos."""
    patterns = []
    for word, lemma in LEMMA_FIXES.items():
        patterns.append({"patterns": [[{"LOWER": word}]], "attrs": {"LEMMA": lemma}})
    for lemma, typos in MISSPELLINGS.items():
        for typo in typos:
            if " " in typo:
                continue  # single-token rules only: a multi-token match would merge tokens
            patterns.append({"patterns": [[{"LOWER": typo}]], "attrs": {"LEMMA": lemma}})
    return patterns


def build_pipeline() -> Language:
    """Returns the initialised pipeline: tokenizer, lookup lemmatizer, lemma fixes."""
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    ruler = nlp.add_pipe("attribute_ruler", after="lemmatizer")
    nlp.initialize()  # loads the lookup tables from spacy-lookups-data
    ruler.add_patterns(lemma_patterns())
    nlp.meta["name"] = "en_clinic"
    nlp.meta["version"] = "1.0.0"
    nlp.meta["description"] = "Blank English + lookup lemmatizer + lemma fixes, built by clinic_nlu/spacy_pipeline.py"
    return nlp


def main(argv: List[str]) -> int:
    """Builds the pipeline into the folder named on the command line."""
    if len(argv) != 2:
        print("usage: python -m clinic_nlu.spacy_pipeline <output dir>", file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    build_pipeline().to_disk(out)
    print(f"spaCy pipeline written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
