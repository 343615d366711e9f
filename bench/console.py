"""The console's page load (bench/README.md, "Console"): with 10,000 populations in an
environment, the time from asking for the Populations page (a navigation inside the console)
to its first page of rows drawn, in Debian's headless Chromium over loopback; the median of
``--reps`` loads. As a ratio, the same page with one population, measured in the same run.
Target: under 100 ms with 10,000 populations (the list is paged: never the whole list).

    PYTHONPATH=. .venv/bin/python bench/console.py [--populations 10000] [--reps 15]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright
from tests.live import Live, live_populace


async def _fill(live: Live, environment_id: str, count: int) -> None:
    """``count`` populations through the API, 16 requests at a time."""
    auth, url = live.admin.auth, f"{live.url}/v1/environments/{environment_id}/populations"
    async with httpx.AsyncClient(auth=auth, timeout=60) as client:
        names = iter(range(count))

        async def worker() -> None:
            for n in names:
                response = await client.post(url, json={"name": f"population-{n:06d}"})
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(16)))


def _environment(live: Live) -> str:
    organization = live.admin.get("/v1/organizations").json()["_embedded"]["organizations"][0]
    licenses = live.admin.get(f"/v1/organizations/{organization['id']}/licenses").json()
    created = live.admin.post(
        "/v1/environments",
        json={
            "name": "bench",
            "type": "SANDBOX",
            "region": "NA",
            "license": {"id": licenses["_embedded"]["licenses"][0]["id"]},
        },
    )
    created.raise_for_status()
    return str(created.json()["id"])


def _load_ms(page: Page, live: Live, environment_id: str) -> float:
    """One navigation to the Populations page: away first, then back, timed in the page."""
    page.goto(f"{live.url}/console/#/emulator")
    page.get_by_role("heading", name="Emulator", level=1).wait_for()
    elapsed: float = page.evaluate(
        """(target) => new Promise((done) => {
            const started = performance.now();
            const seen = new MutationObserver(() => {
                const heading = document.querySelector('main h1');
                if (heading && heading.textContent === 'Populations'
                    && document.querySelector('main tbody tr')) {
                    seen.disconnect();
                    done(performance.now() - started);
                }
            });
            seen.observe(document.getElementById('main'), {childList: true, subtree: true});
            location.hash = target;
        })""",
        f"#/environments/{environment_id}/populations",
    )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--populations", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=15)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, live_populace(Path(folder)) as live:
        small, big = live.environment_id, _environment(live)
        asyncio.run(_fill(live, big, options.populations - 1))  # and the default one
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"), headless=True
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{live.url}/console/")
            page.get_by_label("Environment ID").fill(live.admin_environment_id)
            page.get_by_label("Client ID").fill(live.admin_app.id)
            page.get_by_label("Client secret").fill(live.admin_app.secret)
            page.get_by_label("Client secret").press("Enter")
            page.get_by_role("heading", name="Populations", level=1).wait_for()
            runs: dict[str, list[float]] = {"1": [], str(options.populations): []}
            for _ in range(options.reps):  # interleaved: both see the same machine load
                runs["1"].append(_load_ms(page, live, small))
                runs[str(options.populations)].append(_load_ms(page, live, big))
            browser.close()
    one, many = (statistics.median(values) for values in runs.values())
    print(f"Populations page, 1 population:      median {one:7.1f} ms")
    print(f"Populations page, {options.populations:,} populations: median {many:7.1f} ms")
    print(f"ratio {many / one:.2f}x; target < 100 ms: {'met' if many < 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
