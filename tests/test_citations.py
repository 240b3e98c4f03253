from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qa.citations import (
    canonical_number,
    expand_to_sentence,
    locate_quote,
    normalize,
    normalize_with_map,
    support,
    unsupported_premises,
    words,
)

PASSAGE = (
    "Kirby said the moves, which would happen in the coming days, were not permanent and emphasized, "
    "“These forces are not going to fight in Ukraine.” The US deployment to Poland consists of about 1,700 troops."
)


def test_normalize_maps_back_to_original_offsets() -> None:
    text = "A  “Quoted”\n\ttext — here"
    norm, index = normalize_with_map(text)
    assert norm == "a 'quoted' text - here"
    assert len(norm) == len(index)
    assert text[index[norm.index("quoted")]] == "Q"


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.characters(),
            st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x1f\x85\u00a0\u2028\u3000ßİﬁΣς“”‘’—–\"'")),
        ),
        max_size=60,
    )
)
def test_fast_normalize_equals_the_mapped_form(text: str) -> None:
    # normalize() skips the offset map for speed; quotes found with the map must match what it says.
    assert normalize(text) == normalize_with_map(text)[0]


def test_quote_with_straight_quotes_and_other_case_is_found() -> None:
    span = locate_quote('"these forces are NOT going to fight in Ukraine."', PASSAGE)
    assert span is not None
    assert PASSAGE[span[0] : span[1]] == "These forces are not going to fight in Ukraine"


def test_quote_with_extra_whitespace_is_found() -> None:
    span = locate_quote("about   1,700\ntroops", PASSAGE)
    assert span is not None and PASSAGE[span[0] : span[1]] == "about 1,700 troops"


def test_ellipsis_fragments_must_occur_in_order() -> None:
    span = locate_quote("the moves ... were not permanent", PASSAGE)
    assert span is not None
    assert PASSAGE[span[0] : span[1]].startswith("the moves") and PASSAGE[span[0] : span[1]].endswith("permanent")
    assert locate_quote("were not permanent ... the moves", PASSAGE) is None


def test_invented_or_altered_quotes_are_not_found() -> None:
    assert locate_quote("about 1,800 troops", PASSAGE) is None
    assert locate_quote("These forces will fight in Ukraine", PASSAGE) is None
    assert locate_quote("...", PASSAGE) is None
    assert locate_quote("", PASSAGE) is None


def test_expand_to_sentence() -> None:
    start = PASSAGE.index("1,700")
    s, e = expand_to_sentence(PASSAGE, start, start + 5)
    assert PASSAGE[s:e] == "The US deployment to Poland consists of about 1,700 troops."


def test_numbers_are_canonical() -> None:
    assert canonical_number("1,700") == "1700"
    assert canonical_number("five") == "5"
    assert "1700" in words("About 1,700 troops.")
    assert "us" in words("U.S. troops")


def test_support_requires_every_number() -> None:
    share, missing = support("About 1,800 troops are going [1].", [PASSAGE])
    assert missing == ["1800"]
    share, missing = support("About 1,700 troops are going [1].", [PASSAGE])
    assert missing == [] and share == 1.0


def test_support_counts_content_words_not_in_evidence() -> None:
    share, _ = support("The troops will parachute into Kyiv.", [PASSAGE])
    assert share < 0.5
    assert normalize(PASSAGE).count("kyiv") == 0


def test_premises_names_and_numbers_missing_from_passages() -> None:
    passages = [PASSAGE, "Biden approved 3,000 US troops to Poland, Germany and Romania."]
    assert unsupported_premises("Why did Biden send 5,000 troops to Lithuania?", passages) == ["5,000", "Lithuania"]
    assert unsupported_premises("How many troops are going to Poland?", passages) == []
    assert unsupported_premises("What will the Romanian deployment do?", passages) == []
    assert unsupported_premises("Did the U.S. send troops?", passages) == []


def test_stray_brackets_the_model_adds_around_a_quote_are_ignored() -> None:
    span = locate_quote("about 1,700 troops.”}", PASSAGE)
    assert span is not None and PASSAGE[span[0] : span[1]] == "about 1,700 troops"
