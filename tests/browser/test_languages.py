"""The inbox in its reader's language, in Chromium: German, and Arabic right to left, each
with a notification arriving live in its words; the language picker; axe-core's checks in
both languages and both colour schemes; and the screenshots of docs/BROWSER.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone, translation

from notifications import services
from notifications.i18n import languages
from notifications.models import Notification
from tests.browser.conftest import expect, log_in, wait_live
from tests.browser.pages import log_in_to, serve
from tests.browser.test_screenshots import _shoot
from tests.e2e.conftest import ROOT, Server
from tests.recipes import recipe

pytestmark = pytest.mark.django_db(transaction=True)

DOCS = ROOT / "docs"
AXE = ROOT / "tests" / "clients" / "node_modules" / "axe-core" / "axe.min.js"
# Every violation of the rules axe-core runs by default (WCAG A and AA, and best practices).
AXE_RUN = """async () => {
  const { violations } = await axe.run(document, { resultTypes: ["violations"] });
  return violations.map((v) => [v.id, v.nodes.map((n) => `${n.html}: ${n.failureSummary}`)]);
}"""

choose = sync_to_async(languages.store)
chosen = sync_to_async(languages.chosen)


def title_in(language: str, kind: str, **params: Any) -> str:
    """The title of a templated ``kind`` as a reader of ``language`` reads it."""
    kinds: Any = settings.NOTIFICATIONS["KINDS"]
    template = kinds[kind]["title"]
    with translation.override(language):
        title = str(template).format(**params)
    with translation.override("en"):
        assert title != str(template).format(**params), f"{kind}: no {language} title"
    return title


@sync_to_async
def store_aged(user: Any, age: timedelta, read: bool = False, **fields: Any) -> None:
    """Store a notification as if sent ``age`` ago."""
    (stored,) = services.notify(user, **fields)
    now = timezone.now()
    Notification.objects.filter(pk=stored.pk).update(
        created_at=now - age, read_at=now if read else None
    )


async def side(page: Any, selector: str) -> str:
    """The half of the window the centre of ``selector``'s (first) box is in."""
    box = await page.locator(selector).first.bounding_box()
    return "left" if box["x"] + box["width"] / 2 < page.viewport_size["width"] / 2 else "right"


async def test_the_inbox_in_german_with_a_notification_arriving_live(
    server: Server, user: Any, new_context: Any, publish_to: Any
) -> None:
    await choose(user.pk, "de")
    await store_aged(user, timedelta(hours=3), kind="info", title="Willkommen")
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await expect(page.locator("html")).to_have_attribute("dir", "ltr")
    await expect(page.get_by_role("heading", name="Posteingang")).to_be_visible()
    await expect(page.locator("#list .item time")).to_have_text("vor 3 Stunden")
    await expect(page.locator("#list .item .kind")).to_have_text("Info")

    await publish_to(server)(user, kind="order.shipped", params={"number": 1042})

    title = title_in("de", "order.shipped", number=1042)
    toast = page.locator("#toasts .toast", has_text=title)
    await expect(toast).to_be_visible()
    await expect(toast.get_by_role("button", name="Schließen")).to_be_visible()
    item = page.locator("#list .item", has_text=title)
    await expect(item.locator("time")).to_have_text("jetzt")
    await expect(item.locator(".kind")).to_have_text("Bestellung")
    await expect(
        item.get_by_role("button", name=f"„{title}“ als gelesen markieren")
    ).to_be_visible()
    await expect(page.locator("#summary")).to_have_text("2 ungelesen")
    bell = page.locator("#bell")
    await expect(bell).to_have_attribute("aria-label", "Benachrichtigungen, 2 ungelesen")
    # Left to right: the toasts and the bell stand on the right.
    assert await side(page, "#toasts .toast") == "right"
    assert await side(page, "#bell") == "right"


async def test_the_inbox_in_arabic_right_to_left_with_a_notification_arriving_live(
    server: Server, user: Any, new_context: Any, publish_to: Any
) -> None:
    await choose(user.pk, "ar")
    await store_aged(user, timedelta(hours=3), kind="info", title="مرحبًا")
    page = await log_in(await new_context(), server, user.username)
    await wait_live(page)
    await expect(page.locator("html")).to_have_attribute("lang", "ar")
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await expect(page.locator("#list .item time")).to_have_text("قبل 3 ساعات")

    await publish_to(server)(user, kind="order.shipped", params={"number": 1042})

    title = title_in("ar", "order.shipped", number=1042)
    toast = page.locator("#toasts .toast", has_text=title)
    await expect(toast).to_be_visible()
    await expect(toast.get_by_role("button", name="إغلاق")).to_be_visible()
    item = page.locator("#list .item", has_text=title)
    await expect(item.locator("time")).to_have_text("الآن")
    await expect(item.locator(".kind")).to_have_text("طلب")
    await expect(page.locator("#summary")).to_have_text("إشعاران غير مقروءين")  # the dual
    await expect(page.locator("#badge")).to_have_text("2")
    await expect(page.locator("#bell")).to_have_attribute(
        "aria-label", "الإشعارات، غير المقروءة: 2"
    )

    # Mirrored: the toasts and the bell on the left, the badge on the bell's left shoulder,
    # an unread notification's bar on its right edge.
    assert await side(page, "#toasts .toast") == "left"
    assert await side(page, "#bell") == "left"
    bell = await page.locator("#bell").bounding_box()
    assert (await page.locator("#badge").bounding_box())["x"] < bell["x"]
    bar = await item.evaluate("(el) => getComputedStyle(el, '::before')")
    assert bar["right"] == "0px" != bar["left"]


async def test_the_picker_switches_the_language_and_back_to_the_browsers(
    server: Server, user: Any, new_context: Any
) -> None:
    page = await log_in(await new_context(), server, user.username)  # a browser in en-US
    await wait_live(page)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    picker = page.get_by_label("Language")
    await expect(picker).to_be_enabled()
    await expect(picker).to_have_value("")  # the browser's

    await picker.select_option("de")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await wait_live(page)
    assert await chosen(user.pk) == "de"
    await expect(page.locator("#conn")).to_have_attribute(
        "title", "Verbunden: Neue Benachrichtigungen erscheinen sofort"
    )

    picker = page.get_by_label("Sprache")
    await expect(picker).to_have_value("de")
    await picker.select_option("")
    await page.get_by_role("button", name="Übernehmen").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_label("Language")).to_have_value("")
    assert await chosen(user.pk) is None


# The docs' embedding page, with and without its first line: Django's catalog.
CATALOG = '<script src="/jsi18n/"></script>'


@pytest.mark.parametrize(
    ("catalog", "status", "error"),
    [(False, "Live", "HTTP error 503"), (True, "Verbunden", "HTTP-Fehler 503")],
    ids=["without-the-catalog", "with-the-catalog"],
)
async def test_the_client_speaks_the_pages_catalog_or_english(
    server: Server, user: Any, new_context: Any, catalog: bool, status: str, error: str
) -> None:
    await choose(user.pk, "de")
    code = recipe("browser-languages")
    assert code.startswith(CATALOG)
    body = code if catalog else code.split("\n", 1)[1]
    context = await new_context()
    await serve(context, f"{server.url}/shop/", f'<!doctype html><html lang="de">{body}</html>')
    page = await log_in_to(context, server, user.username, "/shop/")
    await expect(page.locator("#connection")).to_have_text(status)
    message = await page.evaluate(
        "import('/static/notifications/client.js').then((m) => new m.ApiError(503).message)"
    )
    assert message == error


@pytest.mark.parametrize("language", ["de", "ar"])
async def test_axe_finds_no_violations_in_light_and_dark(
    server: Server, user: Any, new_context: Any, publish_to: Any, language: str
) -> None:
    if not AXE.exists():
        pytest.skip(f"axe-core is not in {AXE.parent.parent}: npm ci --prefix tests/clients")
    await choose(user.pk, language)
    await store_aged(
        user, timedelta(days=1), read=True, kind="order.delivered", params={"number": 1038}
    )
    await store_aged(user, timedelta(hours=2), kind="warning", title="!")
    # Playwright injects axe-core as an inline script, which the page's policy forbids: this
    # context alone bypasses the policy (test_content_security_policy.py checks it holds).
    context = await new_context(bypass_csp=True, reduced_motion="reduce")
    page = await log_in(context, server, user.username)
    await wait_live(page)
    await expect(page.locator("#prefs-rows .pref")).not_to_have_count(0)
    await expect(page.locator("#language")).to_be_enabled()
    await publish_to(server)(user, kind="order.shipped", params={"number": 1042})
    toast = page.locator("#toasts .toast")
    await expect(toast).to_be_visible()
    await toast.hover()  # kept on screen while axe looks at it

    await page.add_script_tag(path=str(AXE))
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        assert await page.evaluate(AXE_RUN) == [], scheme


# The inbox of the screenshots: free text as its sender wrote it, in the reader's language;
# the orders' kinds rendered from their templates for each reader. (age, read, fields)
ORDERS: list[tuple[timedelta, bool, dict[str, Any]]] = [
    (timedelta(days=1, hours=2), True,
     {"kind": "order.delivered", "params": {"number": 1038}, "url": "/orders/1038/"}),
    (timedelta(hours=3), False,
     {"kind": "order.paid", "params": {"number": 1041, "total": "129.00"}, "url": "/orders/1041/"}),
    (timedelta(minutes=12), False,
     {"kind": "order.shipped", "params": {"number": 1041}, "url": "/orders/1041/"}),
]  # fmt: skip
WRITTEN: dict[str, list[tuple[timedelta, bool, dict[str, Any]]]] = {
    "de": [
        (timedelta(days=3), True, {"kind": "info", "title": "Willkommen bei Beacon",
         "body": "Alles, was in Ihrem Konto geschieht, erscheint hier – live."}),
        (timedelta(hours=20), False, {"kind": "warning", "title": "Ihre Karte läuft bald ab",
         "body": "Bitte aktualisieren Sie Ihre Zahlungsdaten vor dem 30. Juni."}),
    ],
    "ar": [
        (timedelta(days=3), True, {"kind": "info", "title": "مرحبًا بك في Beacon",
         "body": "كل ما يحدث في حسابك يظهر هنا مباشرةً."}),
        (timedelta(hours=20), False, {"kind": "warning", "title": "بطاقتك تنتهي صلاحيتها قريبًا",
         "body": "يُرجى تحديث بيانات الدفع قبل 30 يونيو."}),
    ],
}  # fmt: skip


@pytest.mark.parametrize("language", ["de", "ar"])
async def test_screenshots_in_german_and_arabic(
    server: Server, user: Any, new_context: Any, publish_to: Any, language: str
) -> None:
    await choose(user.pk, language)
    inbox = sorted(WRITTEN[language] + ORDERS, key=lambda entry: -entry[0])
    for age, read, fields in inbox:
        await store_aged(user, age, read=read, **fields)
    context = await new_context(device_scale_factor=2, viewport={"width": 1200, "height": 900})
    page = await log_in(context, server, user.username)
    await wait_live(page)
    await expect(page.locator("#list .item")).to_have_count(len(inbox))
    await publish_to(server)(
        user, kind="order.delivered", params={"number": 1042}, url="/orders/1042/"
    )
    await expect(page.locator("#toasts .toast")).to_be_visible()
    await expect(page.locator("#badge")).to_have_text("4")

    for scheme, suffix in (("light", ""), ("dark", "-dark")):
        await page.emulate_media(color_scheme=scheme)
        path = DOCS / f"screenshot-inbox-{language}{suffix}.png"
        await _shoot(page, path)
        assert path.stat().st_size > 10_000
