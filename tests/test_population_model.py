"""Random sequences of create / replace / delete against a fresh environment over HTTP, checked
step by step against a small model of the population rules:

* names are unique per environment, ignoring case (casefold) and surrounding spaces;
* at most one population is the default; ``default: true`` takes the flag from the others;
* the default population and the last population cannot be deleted.

The deployment's database and HTTP client live on the test session's event loop, so the state
machine runs in a worker thread and hands each request to that loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

T = TypeVar("T")

BASE_NAMES = ["Default", "Alpha", "Beta", "Straße", "STRASSE", "Ωmega", "δ"]


@st.composite
def names(draw: st.DrawFn) -> str:
    """A base name in a random casing, sometimes with surrounding spaces."""
    base = draw(st.sampled_from(BASE_NAMES))
    cased = draw(st.sampled_from([base, base.lower(), base.upper(), base.swapcase()]))
    return draw(st.sampled_from(["", " ", "  "])) + cased + draw(st.sampled_from(["", " "]))


def key(name: str) -> str:
    return name.strip().casefold()


@dataclass
class ModelPopulation:
    name: str
    default: bool


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    admin: httpx.AsyncClient
    license_id: str

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.run(self.admin.request(method, path, json=body))


class PopulationRules(RuleBasedStateMachine):
    harness: ClassVar[Harness]

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, ModelPopulation] = {}
        self.gone: list[str] = []
        response = self.harness.request(
            "POST",
            "/v1/environments",
            {
                "name": f"model-{uuid.uuid4().hex[:10]}",
                "type": "SANDBOX",
                "region": "NA",
                "license": {"id": self.harness.license_id},
            },
        )
        assert response.status_code == 201, response.text
        self.environment_id = response.json()["id"]
        self.path = f"/v1/environments/{self.environment_id}/populations"

    def teardown(self) -> None:
        self.harness.request("DELETE", f"/v1/environments/{self.environment_id}")

    # -- the model's predictions ----------------------------------------------------------------

    def name_taken(self, name: str, except_id: str | None = None) -> bool:
        return any(key(p.name) == key(name) for i, p in self.model.items() if i != except_id)

    def take_default(self, population_id: str) -> None:
        for other_id, other in self.model.items():
            other.default = other_id == population_id

    def ids(self) -> st.SearchStrategy[str]:
        """Live and deleted populations, in the order they were made: ids are random, so a
        sorted list would make replays draw different populations."""
        return st.sampled_from([*self.model, *self.gone])

    # -- rules ----------------------------------------------------------------------------------

    @initialize()
    def starts_with_the_bootstrap_default(self) -> None:
        (default,) = self.listed()
        assert (default["name"], default["default"]) == ("Default", True)
        self.model[default["id"]] = ModelPopulation("Default", True)

    @rule(name=names(), default=st.booleans())
    def create(self, name: str, default: bool) -> None:
        response = self.harness.request("POST", self.path, {"name": name, "default": default})
        if self.name_taken(name):
            self.expect_error(response, "UNIQUENESS_VIOLATION")
            return
        assert response.status_code == 201, response.text
        created = response.json()
        assert (created["name"], created["default"]) == (name.strip(), default)
        self.model[created["id"]] = ModelPopulation(name.strip(), False)
        if default:
            self.take_default(created["id"])

    @precondition(lambda self: self.model)
    @rule(data=st.data(), name=names(), default=st.booleans())
    def replace(self, data: st.DataObject, name: str, default: bool) -> None:
        population_id = data.draw(self.ids(), label="population")
        response = self.harness.request(
            "PUT", f"{self.path}/{population_id}", {"name": name, "default": default}
        )
        if population_id not in self.model:
            assert response.status_code == 404, response.text
        elif self.name_taken(name, except_id=population_id):
            self.expect_error(response, "UNIQUENESS_VIOLATION")
        else:
            assert response.status_code == 200, response.text
            assert (response.json()["name"], response.json()["default"]) == (name.strip(), default)
            self.model[population_id] = ModelPopulation(name.strip(), default)
            if default:
                self.take_default(population_id)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        population_id = data.draw(self.ids(), label="population")
        response = self.harness.request("DELETE", f"{self.path}/{population_id}")
        if population_id not in self.model:
            assert response.status_code == 404, response.text
        elif len(self.model) == 1 or self.model[population_id].default:
            self.expect_error(response, "CONSTRAINT_VIOLATION")
        else:
            assert response.status_code == 204, response.text
            del self.model[population_id]
            self.gone.append(population_id)

    # -- checks ---------------------------------------------------------------------------------

    def expect_error(self, response: httpx.Response, detail: str) -> None:
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == "INVALID_DATA", body
        assert [d["code"] for d in body["details"]] == [detail], body

    def listed(self) -> list[dict[str, Any]]:
        response = self.harness.request("GET", f"{self.path}?limit=1000")
        assert response.status_code == 200, response.text
        return list(response.json()["_embedded"]["populations"])

    @invariant()
    def the_list_equals_the_model(self) -> None:
        if not self.model:  # before the initialize rule has run
            return
        actual = {p["id"]: ModelPopulation(p["name"], p["default"]) for p in self.listed()}
        assert actual == self.model
        assert sum(p.default for p in actual.values()) <= 1


async def test_random_operations_follow_the_rules(admin, license_id):
    harness = Harness(asyncio.get_running_loop(), admin, license_id)
    machine = type("Machine", (PopulationRules,), {"harness": harness})
    machine_settings = settings(
        max_examples=25,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    await asyncio.to_thread(run_state_machine_as_test, machine, settings=machine_settings)
