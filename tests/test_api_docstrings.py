"""Every public name of ``sim.api`` says what it is: the functions and classes in ``__all__``, and
the public properties and methods of the agent and sweep classes it exports."""

from __future__ import annotations

import inspect

import pytest

import sim.api as api

DOCUMENTED_MEMBERS = ("MSME", "Platform", "Shopper", "SweepResult")


@pytest.mark.parametrize("name", api.__all__)
def test_each_exported_name_has_a_docstring_of_its_own(name: str):
    obj = getattr(api, name)
    assert (obj.__doc__ or "").strip(), f"sim.api.{name} has no docstring"


@pytest.mark.parametrize("name", DOCUMENTED_MEMBERS)
def test_public_members_of_the_exported_agent_and_sweep_classes_have_docstrings(name: str):
    cls = getattr(api, name)
    missing = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, property):
            doc = value.__doc__
        elif inspect.isfunction(value) or isinstance(value, staticmethod | classmethod):
            doc = getattr(value, "__func__", value).__doc__  # its own, not an inherited one
        else:
            continue
        if not (doc or "").strip():
            missing.append(attr)
    assert not missing, f"{name}: no docstring on {missing}"
