"""Comparing a question's and an answer's words by stem (qa.terms)."""

from __future__ import annotations

from qa.terms import denies_what_is_asked, is_yes_no, new_facts, relation_coverage, says_not, unbacked


def test_new_facts_coverage_and_what_is_unbacked() -> None:
    assert new_facts("Kirby said 300 go.", "Who said it?") == (["kirby", "300"], ["go"])
    assert relation_coverage("Who commands the brigade?", ["The brigade is at Fort Bragg."]) == 0.5
    assert unbacked("Hanks leads it.", "Who leads it?", ["Milley leads it."], 0.5) == ["hanks"]


def test_yes_no_questions_and_choices() -> None:
    assert is_yes_no("Will these US troops fight in Ukraine?")
    assert not is_yes_no("Do adults or juveniles luminesce more brightly?")  # asks which
    assert is_yes_no("Can packets be routed or not?")  # "or not" offers no choice
    assert not is_yes_no("Who leads the brigade?")


def test_what_a_sentence_denies() -> None:
    assert says_not("The troops were separate from the 8,500 on alert.")
    assert not says_not("It may be done with or without routers.")  # takes both sides
    assert denies_what_is_asked("Are the deployments permanent?", "Kirby said the moves were not permanent.")
    # a negation denies only its own clause
    assert not denies_what_is_asked("Did the troops arrive?", "The troops, not the ships, arrived.")
