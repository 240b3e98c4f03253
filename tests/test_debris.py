"""Marking scraped debris in an article: captions, video teasers, datelines, credits (qa.debris)."""

from __future__ import annotations

from pathlib import Path

from qa.debris import find_debris
from qa.documents import load_file

REFERENCE = Path(__file__).parent.parent / "evals/corpus/cnn-2022-02-02-us-troops-eastern-europe.txt"


def test_reference_article_debris() -> None:
    doc = load_file(REFERENCE)[0][0]
    text = doc.text
    got = [(s.reason, text[s.start : s.end]) for s in doc.excluded]
    assert doc.excluded == find_debris(text)
    assert [reason for reason, _ in got] == [
        "photo caption",
        "video teaser",
        "dateline",
        "contributor credit",
    ]
    caption, teaser, dateline, credit = (t for _, t in got)
    assert caption.startswith("FILE - Russian tanks") and caption.endswith("(AP Photo, File)")
    assert teaser == "How does Russia's army compare with Ukraine's?\n02:25 - Source: CNN"
    assert dateline.startswith("CNN") and dateline.endswith("—")
    assert credit.startswith("CNN’s Jim Sciutto") and credit.endswith("contributed reporting.")
    for body in (
        "President Joe Biden has formally approved",
        "Stoltenberg said in a statement.",
        "More US troops could be deployed",
        "NATO Secretary General Jens Stoltenberg welcomed",
    ):
        at = text.index(body)
        assert not any(s.start < at + len(body) and at < s.end for s in doc.excluded), body


def test_debris_rules_are_conservative() -> None:
    text = (
        "WASHINGTON (AP) — President Biden spoke on Monday.\n\n"
        "A Reuters/Ipsos poll found that 40% approve.\n\n"
        "Reporters who contributed reporting to this story were thanked in the body.\n\n"
        "He saw the file - it was empty.\n\n"
        "The president arrives at 10:30 - officials said.\n\n"
        "Protesters gather outside. REUTERS/Kevin Lamarque\n\n"
        "Final paragraph of the article.\n"
    )
    spans = find_debris(text)
    assert [(s.reason, text[s.start : s.end]) for s in spans] == [
        ("dateline", "WASHINGTON (AP) —"),
        ("photo caption", "Protesters gather outside. REUTERS/Kevin Lamarque"),
    ]


def test_debris_credit_only_at_the_end() -> None:
    text = "Body text.\n\nMore body.\n\nReporting by Jane Doe; Editing by John Roe\n\n"
    [span] = find_debris(text)
    assert text[span.start : span.end] == "Reporting by Jane Doe; Editing by John Roe"
    assert find_debris("Reporting by Jane Doe appeared first.\n\nThen the story went on.") == []
    assert find_debris("Body.\n\nWriting by hand remains popular, she said.") == []
    assert find_debris("Body.\n\nOfficials said the agency contributed to the report on the crash.") == []
    assert len(find_debris("Body.\n\nThe AP's Jane Doe contributed to this report.\n")) == 1
