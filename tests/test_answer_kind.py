"""Whether an answer is the kind of thing its question asks for (qa.answer_kind)."""

from __future__ import annotations

from qa.answer_kind import another_year, answer_type_mismatch, names_the_object, picked_alternative, place_given_back


def test_only_years_count_as_years() -> None:
    assert another_year("What was the density in 1970?", ["In 2000, it was 4,097.9."]) == ("1970", "2000")
    assert another_year("What was the density in 1970?", ["It was 4,097.9 for 1,990 people."]) is None
    assert another_year("What happened in the 1970s?", ["In 1975 it rained."]) is None
    # a count written without its comma is the sentence's count, not a year
    assert another_year("Where were the 1500 troops sent?", ["In 2022, 1,500 troops were sent."]) is None
    assert another_year("What happened then?", ["In 1975 it rained."]) is None


def test_an_answer_of_the_wrong_kind_is_named() -> None:
    assert answer_type_mismatch("How many troops go to Germany?", "Troops from Fort Bragg") is not None
    assert answer_type_mismatch("How many troops go to Germany?", "300 troops") is None
    # "How many times has Polonia won the cup?" → "twice" (SQuAD 2.0 dev): a count in a word
    assert answer_type_mismatch("How many times has Polonia won the cup?", "twice") is None
    assert answer_type_mismatch("How many times has Polonia won the cup?", "in the cup final") is not None
    assert answer_type_mismatch("When did Biden meet Austin?", "At the White House") is not None
    assert answer_type_mismatch("What is on the agenda?", "Friday") is not None
    assert answer_type_mismatch("Who will Rau meet?", "Antony Blinken") is None


def test_the_choice_an_answer_picks() -> None:
    cited = ["Juveniles luminesce more brightly than adults."]
    assert picked_alternative("Do adults or juveniles glow brighter?", "juveniles", cited) == "juveniles"
    assert picked_alternative("Do adults or juveniles glow brighter?", "adults and juveniles", cited) is None
    assert picked_alternative("Do larvae or eggs glow brighter?", "larvae", cited) is None  # not cited


def test_what_a_who_question_says_is_acted_on_is_not_who_acts() -> None:
    q = "Who commands the 82nd Airborne brigade being sent to Poland?"
    assert names_the_object(q, "82nd Airborne Division infantry brigade combat team") == "commands"
    assert names_the_object(q, "Col. Jane Doe") is None  # someone the question doesn't name
    # a new name the answer adds, not an extension of the question's own: someone who leads it
    assert names_the_object("Who led the Polish army?", "Polish army commander Jan Nowak") is None
    assert names_the_object("Who led the Polish army?", "the Polish army") == "led"
    assert names_the_object("Who told CNN that Kyiv welcomed it?", "Kyiv") is None  # one word only
    assert names_the_object("Who is the commander of the Polish army?", "Polish army") is None  # no verb after who


def test_where_in_a_place_is_not_answered_by_that_place() -> None:
    q = "Where exactly in Romania will the stryker squadron be stationed?"
    assert place_given_back(q, "Romania") == "Romania"
    assert place_given_back(q, "Mihail Kogalniceanu air base") is None
    assert place_given_back("Where in the United States is Fort Bragg?", "the United States") == "United States"
    assert place_given_back("Where in Australia is Victoria located?", "the south-east of Australia") is None
    assert place_given_back("Where will the stryker squadron be stationed?", "Romania") is None
