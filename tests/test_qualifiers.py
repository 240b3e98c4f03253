"""Swapped qualifiers (qa.qualifiers): a sentence about another name's thing than the question's."""

from __future__ import annotations

from qa.qualifiers import swapped_in_answer, swapped_qualifiers, swapped_subject


def test_another_names_noun_is_a_swap() -> None:
    hits = swapped_qualifiers(
        "What is FMCG's economy characterized by?", ["Warsaw's economy is characterised by FMCG manufacturing."]
    )
    assert hits == [("FMCG", "economy", "Warsaw")]
    assert swapped_qualifiers(
        "What grew at the narrow point in the river under Spanish rule?",
        ["Under British rule, settlement grew at the narrow point in the river."],
    ) == [("Spanish", "rule", "British")]


def test_the_same_name_spelled_otherwise_or_nearby_is_not_a_swap() -> None:
    # accents and misspellings, demonyms, the name a few words before the noun, a sentence's first word
    assert swapped_qualifiers("Who was on Celeron's expedition?", ["Céloron's expedition had 200 men."]) == []
    assert swapped_qualifiers("How many US troops go?", ["About 1,700 American troops go."]) == []
    assert swapped_qualifiers("What did the Apple system assign?", ["The AppleTalk system assigned addresses."]) == []
    assert (
        swapped_qualifiers(
            "How many pages of the US document were published?",
            ["El Pais published five pages of a US government document and four pages of a NATO document."],
        )
        == []
    )
    assert swapped_qualifiers("When did the Warsaw uprising start?", ["Largely uprising began in 1944."]) == []


def test_a_question_asking_for_that_other_name_is_not_a_swap() -> None:
    q = "What is the name of the Egyptian papyrus on prime numbers?"
    text = ["Hints of prime numbers survive in the Rhind papyrus, from ancient Egyptians."]
    assert swapped_qualifiers(q, text) == [("Egyptian", "papyrus", "Rhind")]
    assert swapped_qualifiers(q, text, answer="the Rhind papyrus") == []


def test_verbs_and_adverbs_after_a_name_are_not_nouns() -> None:
    assert (
        swapped_qualifiers(
            "When was Warsaw ranked the 32nd most liveable city?", ["In 2012 the Economist Unit ranked Warsaw 32nd."]
        )
        == []
    )


def test_a_verb_after_the_name_is_not_its_noun() -> None:
    # Measured: "Which two countries does Latvia border?" cited to "Latvia borders Russia and Belarus" and a
    # sentence about "Ukraine's border" was refused as a swap.
    q = "Which two countries does Latvia border, as mentioned in the piece?"
    assert swapped_qualifiers(q, ["Russian troops massed along Ukraine's border."]) == []


def test_an_answer_that_ties_the_questions_noun_to_another_name() -> None:
    q = "What is the precise number of Russian troops massed on Ukraine's border?"
    assert swapped_in_answer(q, "3,000 US troops") == [("Russian", "troops", "US")]
    assert swapped_in_answer(q, "tens of thousands of Russian troops") == []
    assert swapped_in_answer(q, "Several troops") == []  # a capitalised first word is not a name
    # where the other name is what is asked for, or an explanation may contrast, nothing is flagged
    assert swapped_in_answer("What is the name of the Egyptian papyrus?", "the Rhind papyrus") == []
    assert swapped_in_answer("Which Egyptian papyrus names primes?", "the Rhind papyrus") == []
    why = "Why does Fresno only have UHF television stations?"
    assert swapped_in_answer(why, "To avoid interference with existing VHF television stations") == []
    assert swapped_in_answer("How many US troops go?", "About 1,700 American troops") == []


def test_another_name_doing_what_the_question_asks_of_its_name() -> None:
    q = "How much of Poland's national income does Srodmiescie produce?"
    warsaw = "Warsaw produces 12% of Poland's national income."
    assert swapped_subject(q, [warsaw]) == [("Srodmiescie", "produce", "Warsaw")]
    assert swapped_subject(q, ["Warsaw also produces 12% of Poland's national income."]) != []
    # the question's name anywhere in the cited text: it may say Warsaw does it for Srodmiescie
    assert swapped_subject(q, [warsaw, "Srodmiescie is Warsaw's centre."]) == []
    assert swapped_subject("How much of Poland's national income does Warsaw produce?", [warsaw]) == []
    # a possessive before the word makes it a noun: "Ukraine's border" is not what Ukraine does
    latvia = "Troops were amassed along Ukraine's border."
    assert swapped_subject("Which two countries does Latvia border?", [latvia]) == []
    # the other name is the answer's: the question asks which one does it
    assert swapped_subject("Which city does Poland produce most of its income in?", [warsaw], "Warsaw") == []
