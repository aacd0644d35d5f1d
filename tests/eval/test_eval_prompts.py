"""Prompt templates and class-name cleaning."""

from __future__ import annotations

from openclap.eval.datasets import list_datasets
from openclap.eval.prompts import (
    DEFAULT_TEMPLATES,
    TEMPLATES,
    clean_class_name,
    prompt_class_names,
    templates_for,
)


def test_clean_class_name() -> None:
    assert clean_class_name("chirping_birds") == "chirping birds"
    assert clean_class_name("Dog") == "dog"
    assert clean_class_name("Accelerating_and_revving_and_vroom") == "accelerating and revving and vroom"
    assert clean_class_name("ANG", "crema-d") == "anger"
    assert clean_class_name("3", "libricount") == "three people"
    assert clean_class_name("0", "libricount") == "no one"
    assert clean_class_name("TV_show") == "TV show"


def test_templates_cover_classification_datasets() -> None:
    for name in list_datasets():
        if name not in ("audiocaps", "clotho", "csv"):
            assert name in TEMPLATES, name
    for templates in TEMPLATES.values():
        assert all(t.count("{}") == 1 for t in templates)
    assert templates_for("unknown") == DEFAULT_TEMPLATES


def test_prompt_names_stay_unique() -> None:
    assert prompt_class_names(["Dog", "dog"]) == ["dog (Dog)", "dog (dog)"]
