"""Prompt templates: the ``.txt`` files of ``prompts/`` (installed as the package data ``qa.prompts``)."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_prompt(name: str) -> str:
    """The template ``prompts/<name>.txt``."""
    return resources.files("qa.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")


def fill(template: str, **values: str) -> str:
    """Fill ``{name}`` placeholders; raises KeyError naming a placeholder without a value."""
    return template.format(**values)
