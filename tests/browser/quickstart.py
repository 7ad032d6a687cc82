"""Drives headless Chromium through the quickstart's login page (tests/browser.rs runs it).

Usage: quickstart.py APP_URL OTHER_ORIGIN_URL CHROMEDRIVER (Chromium is found on PATH)

APP_URL serves examples/quickstart.rs; OTHER_ORIGIN_URL serves a page on another port whose
form posts to APP_URL/logout as soon as it loads. Prints one line per step passed, and exits
non-zero naming the first step that failed. What the server saw (the headers the browser
really sent, and the answers) is checked by the Rust side.
"""

import shutil
import sys

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

COOKIE = "__Host-access_token"
WAIT_SECONDS = 20
# The fixed sentence of the layer's 403 for a cross-site request (ErrorKind::CrossSiteRequest).
REFUSED = "Cross-site requests authenticated by a cookie are refused"


def browser(chromedriver):
    options = webdriver.ChromeOptions()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("FAILED: no chromium on PATH (.ci/browser-env.sh installs it)")
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespaces for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=1024,768",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


def main():
    app, other, chromedriver = sys.argv[1:4]
    driver = browser(chromedriver)
    wait = WebDriverWait(driver, WAIT_SECONDS)
    step = "start"

    def who_says(text):
        wait.until(EC.text_to_be_present_in_element((By.ID, "who"), text))

    def cookie():
        return driver.get_cookie(COOKIE)

    def submit_login(username, password):
        driver.find_element(By.NAME, "username").send_keys(username)
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()

    try:
        step = "the page shows nobody logged in"
        driver.get(app + "/")
        who_says("Not logged in.")
        assert cookie() is None, "a token cookie before logging in"
        print("ok:", step)

        step = "a wrong password is refused on the page"
        submit_login("alice", "not her password")
        wait.until(EC.text_to_be_present_in_element((By.ID, "problem"), "Incorrect username or password."))
        who_says("Not logged in.")
        print("ok:", step)

        step = "logging in with the form shows alice"
        submit_login("alice", "wonderland")
        who_says("Logged in as alice (role admin).")
        stored = cookie()
        assert stored is not None, f"no {COOKIE} cookie after logging in: {driver.get_cookies()}"
        assert stored.get("httpOnly") is True, f"the cookie is not HttpOnly: {stored}"
        assert stored.get("secure") is True, f"the cookie is not Secure: {stored}"
        assert stored.get("sameSite") == "Strict", f"the cookie is not SameSite=Strict: {stored}"
        hidden = driver.execute_script("return document.cookie")
        assert COOKIE not in hidden, f"the page's script can read the token cookie: {hidden!r}"
        print("ok:", step)

        step = "a reload keeps alice logged in (the cookie holds)"
        driver.refresh()
        who_says("Logged in as alice (role admin).")
        print("ok:", step)

        step = "a form on another origin posting to /logout is refused with 403"
        driver.get(other + "/")
        wait.until(lambda d: d.current_url.startswith(app + "/logout"))
        body = driver.find_element(By.TAG_NAME, "body").text
        assert REFUSED in body, f"the refused logout's page does not say why: {body!r}"
        assert cookie() is not None, "the refused cross-site logout cleared the cookie"
        print("ok:", step)

        step = "back on the page, alice is still logged in"
        driver.get(app + "/")
        who_says("Logged in as alice (role admin).")
        print("ok:", step)

        step = "the logout button logs out and the cookie goes"
        driver.find_element(By.ID, "logout").click()
        who_says("Not logged in.")
        assert cookie() is None, f"the cookie survived logging out: {cookie()}"
        driver.refresh()
        who_says("Not logged in.")
        print("ok:", step)

        step = "logging in works again afterwards"
        submit_login("bob", "builder")
        who_says("Logged in as bob (role user).")
        assert cookie() is not None, "no cookie after logging in again"
        print("ok:", step)
    except (AssertionError, TimeoutException) as error:
        page = driver.find_element(By.TAG_NAME, "body").text if driver.current_url else ""
        print(f"FAILED: {step}: {type(error).__name__}: {error}", file=sys.stderr)
        print(f"  at {driver.current_url}; the page says: {page!r}", file=sys.stderr)
        sys.exit(1)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
