"""Languages: complete catalogs that ``make messages`` leaves as they are, and pages, emails
and stream refusals in the reader's language."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils import translation

from notifications import emails
from notifications.i18n import languages
from notifications.models import UserLanguage
from project.asgi import application
from tests.recipes import recipe
from tests.sse_client import AsgiStream

ROOT = Path(__file__).resolve().parents[1]
LOCALE_TREES = (ROOT / "notifications" / "locale", ROOT / "project" / "locale")
CATALOGS = sorted(path for tree in LOCALE_TREES for path in tree.glob("*/LC_MESSAGES/*.po"))
# What ``make messages`` reads: the sources, and the Makefile itself.
COPIED = ("Makefile", "manage.py", "notifications", "project", "templates", "static")


def gettext_tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: install GNU gettext (apt-get install gettext)"
    return found


def test_every_locale_has_both_domains_in_both_trees() -> None:
    for tree in LOCALE_TREES:
        for code in ("de", "ar"):
            for domain in ("django", "djangojs"):
                assert (tree / code / "LC_MESSAGES" / f"{domain}.po").is_file()


def without_creation_date(text: str) -> str:
    return re.sub(r'^"POT-Creation-Date: .*\\n"$', "", text, flags=re.M)


def test_make_messages_leaves_the_catalogs_unchanged(tmp_path: Path) -> None:
    """Every translatable string is in the catalogs, as makemessages writes them."""
    gettext_tool("xgettext")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("*.mo"))
        else:
            shutil.copy2(source, tmp_path / name)
    result = subprocess.run(
        ["make", "--no-print-directory", "messages", f"VENV={ROOT / '.venv'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    changed = [
        str(catalog.relative_to(ROOT))
        for catalog in CATALOGS
        if without_creation_date((tmp_path / catalog.relative_to(ROOT)).read_text())
        != without_creation_date(catalog.read_text())
    ]
    assert not changed, f"not what `make messages` writes (run it): {changed}"


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_entry_is_untranslated_or_fuzzy(catalog: Path) -> None:
    msgattrib = gettext_tool("msgattrib")
    for flag in ("--untranslated", "--only-fuzzy"):
        left = subprocess.run(
            [msgattrib, flag, "--no-wrap", str(catalog)], capture_output=True, text=True
        ).stdout
        msgids = [line for line in left.splitlines() if line.startswith("msgid ")]
        # The header entry is the only one allowed, and it must not be fuzzy either.
        assert msgids in ([], ['msgid ""']) and "#, fuzzy" not in left, left
    check = subprocess.run(
        [gettext_tool("msgfmt"), "--check", "-o", "/dev/null", str(catalog)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("catalog", [c for c in CATALOGS if c.parts[-3] == "ar"], ids=str)
def test_arabic_catalogs_have_its_six_plural_forms(catalog: Path) -> None:
    assert '"Plural-Forms: nplurals=6;' in catalog.read_text()


def test_the_sites_languages_are_english_german_and_arabic() -> None:
    assert languages.supported() == ["en", "de", "ar"]
    assert django_settings.LANGUAGE_CODE == "en"


@pytest.mark.django_db
def test_an_arabic_users_pages_are_right_to_left(client: Client, user: Any) -> None:
    UserLanguage.objects.create(user=user, language="ar")
    client.force_login(user)
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="de")
    page = response.content.decode()
    assert '<html lang="ar" dir="rtl">' in page
    assert "تسجيل الخروج" in page  # "Log out"
    assert response["Content-Language"] == "ar"


@pytest.mark.django_db
def test_without_a_choice_pages_follow_the_browser(client: Client) -> None:
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de-CH, de;q=0.9").content
    assert b'<html lang="de" dir="ltr">' in page
    assert "Benutzername" in page.decode()
    english = client.get("/accounts/login/").content
    assert b'<html lang="en" dir="ltr">' in english
    assert translation.get_language() == "en"  # nothing left active after the request


@pytest.mark.django_db
def test_a_user_without_a_choice_reads_the_browsers_language(user: Any) -> None:
    def request() -> Any:
        made = RequestFactory().get("/", HTTP_ACCEPT_LANGUAGE="ar, en;q=0.5")
        made.user = user
        return made

    assert languages.for_request(request()) == "ar"
    UserLanguage.objects.create(user=user, language="de")
    assert languages.for_request(request()) == "de"
    # A choice the site no longer offers falls back to the browser.
    UserLanguage.objects.filter(user=user).update(language="fr")
    assert languages.for_request(request()) == "ar"
    assert languages.negotiated(None) == "en"


@pytest.mark.django_db
def test_a_request_reads_its_users_choice_once(
    client: Client, user: Any, django_assert_num_queries: Any
) -> None:
    client.force_login(user)
    client.get("/api/preferences/")
    # The session and its user, the language (for the middleware and the view alike), and the
    # two reads of the answer: its kinds and its language.
    with django_assert_num_queries(5):
        client.get("/api/preferences/")


def email_context(count: int) -> dict[str, Any]:
    return {
        "count": count,
        "notifications": [{"title": "Order #7 shipped", "body": "", "url": "/orders/7/"}],
        "more": max(0, count - 1),
        "inbox_url": "https://shop.example/",
        "unsubscribe": [{"label": "Order shipped", "url": "https://shop.example/u/"}],
    }


def test_the_emails_words_are_german_for_a_german_reader() -> None:
    with translation.override("de"):
        text = render_to_string("notifications/email/unread.txt", email_context(3))
        html = render_to_string("notifications/email/unread.html", email_context(1))
    assert text.startswith("Sie haben 3 ungelesene Benachrichtigungen:")
    assert "… und 2 weitere." in text
    assert "Posteingang öffnen: https://shop.example/" in text
    assert "Diese E-Mails abbestellen:" in text
    assert '<html lang="de" dir="ltr">' in html
    assert "Sie haben eine ungelesene Benachrichtigung" in html


def test_the_emails_words_are_arabic_and_right_to_left_for_an_arabic_reader() -> None:
    with translation.override("ar"):
        html = render_to_string("notifications/email/unread.html", email_context(2))
    assert '<html lang="ar" dir="rtl">' in html
    assert "لديك إشعاران غير مقروءين" in html
    assert "افتح صندوق الوارد" in html


@pytest.mark.django_db
def test_the_unsubscribe_page_speaks_the_language_of_the_links_user(
    client: Client, user: Any
) -> None:
    UserLanguage.objects.create(user=user, language="de")
    url = f"/notifications/unsubscribe/{emails.unsubscribe_token(user.pk, ['order.shipped'])}/"
    page = client.get(url).content.decode()
    assert '<html lang="de" dir="ltr">' in page
    assert "Diese E-Mails abbestellen?" in page


@pytest.mark.django_db(transaction=True)
async def test_stream_refusals_speak_the_browsers_language() -> None:
    stream = AsgiStream(application, headers={"Accept-Language": "de"})
    await stream.open()
    assert stream.status == 401
    assert stream.json_body() == {"detail": "Anmeldedaten fehlen."}
    bad = AsgiStream(application, headers={"Accept-Language": "ar", "Authorization": "Basic x"})
    await bad.open()
    assert bad.json_body() == {
        "detail": "يجب أن تكون ترويسة Authorization بالشكل 'Bearer <access token>'."
    }
    english = AsgiStream(application, headers={})
    await english.open()
    assert english.json_body() == {"detail": "Authentication credentials were not provided."}


def test_the_readme_configures_languages_as_the_demo_does(settings: Any) -> None:
    site: dict[str, Any] = {
        "BASE_DIR": ROOT,
        "MIDDLEWARE": [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
    }
    exec(recipe("readme-languages"), site)
    assert site["LANGUAGES"] == settings.LANGUAGES
    assert site["LOCALE_PATHS"] == settings.LOCALE_PATHS
    assert site["LANGUAGE_CODE"] == settings.LANGUAGE_CODE
    for middleware in (site["MIDDLEWARE"], settings.MIDDLEWARE):
        after = middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1
        assert middleware[after] == "notifications.i18n.middleware.UserLanguageMiddleware"


def test_the_readmes_third_language_is_served(tmp_path: Path) -> None:
    """Follow the README on a copy of the demo site (the app installed, not copied): French
    catalogs for the site and for the app, translated and compiled, are what Django reads."""
    gettext_tool("msginit")
    for name in ("manage.py", "project", "templates", "static"):
        source = ROOT / name
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        copy(source, tmp_path / name)
    code = recipe("readme-third-language")
    settings_lines = code.splitlines()[0].removeprefix("# ").split(" and ")
    with (tmp_path / "project" / "settings.py").open("a") as settings_file:
        settings_file.write("\n" + "\n".join(settings_lines) + "\n")
    run_shell(code, tmp_path)
    site_catalog = tmp_path / "project" / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    app_catalog = tmp_path / "locale" / "app" / "fr" / "LC_MESSAGES" / "django.po"
    assert '"Language: fr\\n"' in app_catalog.read_text()
    translate(site_catalog, "Log out", "Se déconnecter")
    translate(app_catalog, "Invalid input.", "Entrée invalide.")
    run_shell("python manage.py compilemessages", tmp_path)
    check = (
        "import django; django.setup(); from django.utils import translation; "
        "translation.activate('fr'); "
        "print(translation.gettext('Log out'), translation.gettext('Invalid input.'), sep='|')"
    )
    said = run_shell(f'DJANGO_SETTINGS_MODULE=project.settings python -c "{check}"', tmp_path)
    assert said.strip() == "Se déconnecter|Entrée invalide."


def run_shell(code: str, cwd: Path) -> str:
    path = f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=cwd,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def translate(catalog: Path, msgid: str, msgstr: str) -> None:
    text = catalog.read_text()
    untranslated = f'msgid "{msgid}"\nmsgstr ""\n'
    assert untranslated in text
    catalog.write_text(text.replace(untranslated, f'msgid "{msgid}"\nmsgstr "{msgstr}"\n'))
