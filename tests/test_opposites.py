"""A cited sentence that says the opposite of what the question asks about (qa.opposites)."""

from __future__ import annotations

from qa.opposites import says_the_opposite


def test_an_antonym_next_to_the_questions_other_terms_is_the_opposite() -> None:
    # Both measured on held-out SQuAD samples, where the answer was shown.
    least = "What was the UK's least popular TV service in 2015?"
    assert says_the_opposite(least, ["Freeview was the UK's most popular digital TV service until 2015."]) == [
        ("least", "most")
    ]
    small = "Only small portions of the Amazon forest are a result of what?"
    text = "Large portions of the Amazon rainforest are probably the result of centuries of human management."
    assert says_the_opposite(small, [text]) == [("small", "large")]


def test_a_negating_prefix_makes_the_opposite_either_way() -> None:
    sync = "How are the packets forwarded synchronously?"
    assert says_the_opposite(sync, ["Packets are forwarded asynchronously using FIFO buffering."]) == [
        ("synchronously", "asynchronously")
    ]
    assert says_the_opposite("Which channel was unpopular with viewers?", ["The channel was popular with viewers."])


def test_the_same_word_a_far_antonym_a_name_or_a_yes_no_question_is_not_the_opposite() -> None:
    # the question's own word is there too (or one that starts with it: "eastern" for "east")
    assert not says_the_opposite("What is the most popular service?", ["The most popular, not the least popular."])
    assert not says_the_opposite("Where did water east of the basin flow?", ["On the eastern side water flowed west."])
    # an antonym about something else ("small probability" for "large numbers")
    q = "What algorithm tests the primality of large numbers?"
    assert not says_the_opposite(q, ["The Miller–Rabin test is fast but has a small probability of error."])
    # "Middle East" is a name, not a direction
    assert not says_the_opposite("How long would the Middle East invasion last?", ["The West would be harmed."])
    # a "no" may rest on the very opposite
    assert not says_the_opposite("Is Freeview the least popular service?", ["Freeview is the most popular service."])


def test_a_prefix_negates_only_adjectives_and_adverbs() -> None:
    # "amassed" is not the opposite of "massed", nor "discovered" of "covered" (measured: a test question
    # about troops "massed" near Ukraine, cited to "Russia has amassed troops near Ukraine's border").
    assert not says_the_opposite(
        "How many troops are massed near Ukraine?", ["Russia has amassed troops near Ukraine."]
    )
    assert not says_the_opposite("What area was covered by ice?", ["The area discovered by the ice survey."])
