from hotline.speech.analysis import count, flags, sentiment
from hotline.speech.settings import SentimentPhrases

KEYWORDS = {
    "*": {"complaint": ["complaint", "불만"]},
    "billing": {"cancel": ["cancel", "해지"], "legal": ["lawyer"]},
    "support": {"escalate": ["manager"]},
}


def test_phrases_match_at_word_starts_ignoring_case():
    assert count("I want to CANCEL, cancelled twice", "cancel") == 2
    assert count("uncancel", "cancel") == 0
    assert count("불만이 있습니다", "불만") == 1  # a particle attached to the word
    assert count("my bill is wrong", "bill is") == 1
    assert count("anything", "  ") == 0


def test_flags_of_the_contacts_queues_and_of_all_queues():
    text = "This is a complaint: cancel it or I call my lawyer and your manager"
    assert flags(text, KEYWORDS, ["billing"]) == ["cancel", "complaint", "legal"]
    assert flags(text, KEYWORDS, ["support"]) == ["complaint", "escalate"]
    assert flags(text, KEYWORDS, []) == ["complaint"]
    assert flags("all good", KEYWORDS, ["billing"]) == []


def test_sentiment_is_the_balance_of_positive_and_negative_phrases():
    phrases = SentimentPhrases(positive=["thank", "great"], negative=["bad", "angry"])
    assert sentiment("thank you, great help", phrases) == 1.0
    assert sentiment("bad, angry, thank you", phrases) == -0.333
    assert sentiment("nothing either way", phrases) == 0.0
    assert sentiment("thank you", None) is None
    assert sentiment("thank you", SentimentPhrases()) is None
