"""The dashboard in headless Chromium (Selenium): log in, the overview, a live run, pause, the audit page.

Every wait is for something on the page (an element, a text), with a long ceiling for slow machines; the job
that is watched live cannot end until this script creates OCTO_RELEASE, so "line 3 before the end" is not a race.
"""
import os, sys
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, user, password = os.environ["OCTO_URL"], os.environ["OCTO_USER"], os.environ["OCTO_PASSWORD"]
release, artifacts = os.environ["OCTO_RELEASE"], os.environ["OCTO_ARTIFACTS"]
PATIENCE = 120  # seconds: a ceiling, never a schedule

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
    options.add_argument(a)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, PATIENCE)
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def text():
    return driver.find_element(By.TAG_NAME, "main").text


try:
    driver.get(url + "/")
    wait.until(lambda d: "/login" in d.current_url)
    driver.find_element(By.NAME, "name").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.jobs"))
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table.jobs tr.job td:first-child a")]
    check(names == ["nightly", "ticker"], f"the overview lists the jobs: {names}")
    check(len(driver.find_elements(By.CSS_SELECTOR, "svg.spark")) == 1, "a sparkline for the job that ran")
    check(f"{user} (operator)" in driver.find_element(By.TAG_NAME, "header").text, "the header names the user")
    driver.save_screenshot(os.path.join(artifacts, "overview.png"))

    driver.get(url + "/jobs/nightly")
    marks = driver.find_elements(By.CSS_SELECTOR, "svg.trend g.mark")
    states = sorted({m.get_attribute("data-state") for m in marks})
    check(len(marks) == 8 and states == ["failed", "succeeded"], f"the trend chart marks 8 runs: {states}")
    driver.save_screenshot(os.path.join(artifacts, "job.png"))

    driver.get(url + "/jobs/ticker")
    driver.find_element(By.CSS_SELECTOR, "form.run-now button[type=submit]").click()
    wait.until(lambda d: "/runs/" in d.current_url)
    # the page was rendered before the job printed much: line 3 must arrive live
    wait.until(lambda d: "line 3" in d.find_element(By.ID, "log").text)
    check("done" not in driver.find_element(By.ID, "log").text, "line 3 shown while the job still runs")
    # the state follows live too: queued when the page was drawn, running by the time its lines come
    wait.until(lambda d: d.find_element(By.ID, "run-state").text != "queued")
    state = driver.find_element(By.ID, "run-state").text
    check(state == "running", f"the page shows the run running when line 3 shows (state on the page: {state})")
    driver.save_screenshot(os.path.join(artifacts, "run.png"))
    open(release, "w").close()
    wait.until(lambda d: d.find_element(By.ID, "run-state").text == "succeeded")
    log = driver.find_element(By.ID, "log").text
    lines = [l for l in log.splitlines() if " line " in l]
    check(len(lines) == 5, f"each line shown once: {len(lines)} 'line N' lines")
    check("The run has ended: succeeded." in driver.find_element(By.ID, "live-status").text, "the end is shown")

    driver.get(url + "/jobs/ticker")
    driver.find_element(By.CSS_SELECTOR, "form[action='/jobs/ticker/pause'] button").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "form[action='/jobs/ticker/resume']"))
    check("paused" in driver.find_element(By.TAG_NAME, "h1").text, "the job page says paused")

    driver.get(url + "/audit")
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in
            driver.find_elements(By.CSS_SELECTOR, "table.audit tbody tr")]
    mine = [(r[2], r[3]) for r in rows if len(r) > 3 and r[1] == "web:" + user]
    check(mine == [("pause", "ticker"), ("run", "ticker")], f"the audit page shows both actions by the web user: {mine}")

    problems = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    check(not problems, f"no errors in the browser's console (CSP violations among them): {problems}")
finally:
    driver.quit()

if failures:
    print(f"{len(failures)} browser check(s) failed", file=sys.stderr)
    sys.exit(1)
