"""Take the screenshots in docs/console.md: a live populace with a small directory, the
console's main pages in Debian's Chromium at 1280x800 (and one at phone size).

    PYTHONPATH=. .venv/bin/python docs/console/screenshots.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from tests.live import live_populace

HERE = Path(__file__).parent


def shoot(page: Page, url: str, heading: str, name: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading, level=1).wait_for()
    page.wait_for_timeout(300)  # the polite status message fades in
    page.screenshot(path=HERE / f"{name}.png", full_page=False)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, live_populace(Path(folder)) as live:
        env = live.environment_id
        populations = f"/v1/environments/{env}/populations"
        made = [
            live.admin.post(populations, json={"name": name, "description": text}).json()
            for name, text in (("Staff", "Employees"), ("Partners", "Suppliers' staff"))
        ]
        for n, given in enumerate(("Ada", "Grace", "Alan", "Edsger")):
            live.admin.post(
                f"/v1/environments/{env}/users",
                json={
                    "username": given.lower(),
                    "email": f"{given.lower()}@example.com",
                    "name": {"given": given},
                    "population": {"id": made[n % 2]["id"]},
                },
            )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"), headless=True
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{live.url}/console/")
            page.get_by_role("heading", name="Sign in to populace").wait_for()
            page.screenshot(path=HERE / "sign-in.png")
            form = page.get_by_role("form", name="Sign in", exact=True)
            form.get_by_label("Environment ID").fill(live.admin_environment_id)
            form.get_by_label("Client ID").fill(live.admin_app.id)
            form.get_by_label("Client secret").fill(live.admin_app.secret)
            form.get_by_label("Client secret").press("Enter")
            page.get_by_role("heading", name="Populations", level=1).wait_for()
            base = f"{live.url}/console/#/environments/{env}"
            shoot(page, f"{base}/populations", "Populations", "populations")
            shoot(page, f"{base}/users", "Users", "users")
            page.get_by_role("link", name="ada").click()
            page.get_by_role("heading", name="ada", level=1).wait_for()
            page.screenshot(path=HERE / "user.png", full_page=True)
            apps = f"/v1/environments/{env}/applications"
            worker = live.admin.post(
                apps,
                json={
                    "name": "CI worker",
                    "enabled": True,
                    "type": "WORKER",
                    "protocol": "OPENID_CONNECT",
                },
            ).json()
            roles = live.admin.get("/v1/roles").json()["_embedded"]["roles"]
            live.admin.post(
                f"{apps}/{worker['id']}/roleAssignments",
                json={
                    "role": {
                        "id": next(r["id"] for r in roles if r["name"] == "Environment Admin")
                    },
                    "scope": {"type": "ENVIRONMENT", "id": env},
                },
            )
            page.goto(f"{base}/applications/{worker['id']}")
            page.get_by_role("region", name="Credentials").wait_for()
            page.get_by_role("button", name="Show secret").click()
            page.wait_for_function(
                "() => !document.querySelector('output').textContent.startsWith('(')"
            )
            page.screenshot(path=HERE / "application.png", full_page=True)
            shoot(page, f"{live.url}/console/#/emulator", "Emulator", "emulator")
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.context.add_cookies(page.context.cookies())
            shoot(phone, f"{base}/populations", "Populations", "phone")
            browser.close()


if __name__ == "__main__":
    main()
