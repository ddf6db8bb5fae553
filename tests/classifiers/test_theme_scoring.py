"""Scoring with the real bundled model, on sentences written for these tests."""

from __future__ import annotations

import pytest

from classifiers.classifier import get_classifier
from classifiers.text import TextItem
from silkwatch.config import load_settings
from silkwatch.errors import ModelLoadError

pytestmark = pytest.mark.slow

POSITIVES = {
    "smart_cities": (
        "Kuala Lumpur switches on an AI traffic brain",
        "The city platform reads feeds from hundreds of junction cameras and retimes the "
        "signals to cut congestion.",
    ),
    "sco_ecommerce": (
        "Kazakhstan and China open a cross-border e-commerce zone at Khorgos",
        "Online retailers will clear parcels for Central Asian buyers in a day under the "
        "new digital trade corridor.",
    ),
    "china_tech_regulation": (
        "Beijing's market regulator fines a food delivery platform for antitrust abuses",
        "SAMR said the company forced merchants into exclusive deals and must pay a "
        "penalty of several billion yuan.",
    ),
}
NEGATIVES = [
    ("Striker scores twice as the home side wins the cup final", "Fans celebrated late."),
    ("Heavy rain expected across the coast this weekend", "Forecasters warn of floods."),
    ("A new bakery opens on the high street", "It sells sourdough and pastries."),
]
NEAR_MISSES = {
    "smart_cities": (
        "Review: a smart speaker that dims your living room lights",
        "The gadget pairs with your phone and plays music on command.",
    ),
    "sco_ecommerce": (
        "SCO armies finish a joint anti-terror military drill",
        "Troops from member states practised storming a mountain camp.",
    ),
    "china_tech_regulation": (
        "US Federal Trade Commission sues an American social network over acquisitions",
        "The agency wants the Californian company to sell two apps it bought.",
    ),
}


@pytest.fixture(scope="module")
def classifier():
    return get_classifier(load_settings(None, environ={}))


def scores_for(classifier, title: str, summary: str) -> dict[str, object]:
    [result] = classifier.score([TextItem("t", title, summary)])
    return {s.theme: s for s in result.scores}


@pytest.mark.parametrize("theme", sorted(POSITIVES))
def test_a_clear_positive_matches_its_theme_only(classifier, theme):
    scores = scores_for(classifier, *POSITIVES[theme])
    assert scores[theme].matched, scores[theme]
    assert all(0.0 <= s.score <= 1.0 for s in scores.values())
    others = [name for name, s in scores.items() if s.matched and name != theme]
    assert others == []


@pytest.mark.parametrize("text", NEGATIVES, ids=lambda t: t[0][:20])
def test_everyday_news_matches_nothing(classifier, text):
    assert [n for n, s in scores_for(classifier, *text).items() if s.matched] == []


@pytest.mark.parametrize("theme", sorted(NEAR_MISSES))
def test_near_misses_do_not_match(classifier, theme):
    scores = scores_for(classifier, *NEAR_MISSES[theme])
    assert not scores[theme].matched, scores[theme]
    assert scores[theme].score < scores_for(classifier, *POSITIVES[theme])[theme].score


def test_a_match_keeps_its_evidence(classifier):
    evidence = scores_for(classifier, *POSITIVES["china_tech_regulation"])[
        "china_tech_regulation"
    ].evidence
    assert evidence["sentence"]  # the part of the item that matched
    assert (
        evidence["example"]
        in load_settings(None, environ={}).theme("china_tech_regulation").examples
    )
    assert "SAMR" in evidence["keywords"]


def test_a_theme_added_in_toml_is_scored_without_code(write_config):
    path = write_config(
        """
[classifier]
builtin_themes = false

[[themes]]
name = "ports"
label = "Chinese-financed ports"
description = "Chinese companies building, buying or running seaports abroad."
examples = [
  "A Chinese state shipping company takes a majority stake in a Mediterranean port.",
  "Chinese lenders finance a deep-water harbour and container terminal in East Africa.",
  "A Chinese operator wins a 30-year concession to run a Pakistani seaport.",
]
counter_examples = ["A cruise ship docked in the harbour for the summer festival."]
keywords = ["port", "terminal", "harbour"]
"""
    )
    settings = load_settings(path, environ={})
    clf = get_classifier(settings)
    assert clf.theme_names == ("ports",)
    [port, other] = clf.score(
        [
            TextItem("a", "Chinese firm buys control of a Greek container terminal", ""),
            TextItem("b", "Local choir wins a regional singing contest", ""),
        ]
    )
    assert port.scores[0].matched
    assert not other.scores[0].matched


def test_an_unloadable_model_names_its_path(write_config, tmp_path):
    missing = tmp_path / "no-such-model"
    path = write_config(f'[classifier]\nmodel = "{missing}"\n')
    with pytest.raises(ModelLoadError) as err:
        get_classifier(load_settings(path, environ={}))
    assert str(missing) in str(err.value)
