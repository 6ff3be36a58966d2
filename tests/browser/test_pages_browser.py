"""Two journeys in a real browser: a reviewer works a case to a voucher; an analyst opens a
model report and its charts actually load."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from ..webapp.test_pages import disbursement_case
from .conftest import ARTIFACTS


def sign_in(driver, base: str, username: str, token: str) -> None:
    driver.get(f"{base}/pages/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 15).until(ec.presence_of_element_located((By.ID, "whoami")))


def test_reviewer_works_a_case_to_a_voucher(api, staff, live_server, browser):
    app_id, _, idn = disbursement_case(api.test_client(), staff, seq=60)
    sign_in(browser, live_server, "r1", staff.tokens["r1"])
    browser.get(f"{live_server}/pages/reviews")
    link = browser.find_element(By.CSS_SELECTOR, "#queue a.case")
    assert idn not in browser.page_source
    link.click()
    WebDriverWait(browser, 15).until(ec.presence_of_element_located((By.ID, "review-form")))
    browser.find_element(By.ID, "approve").click()
    browser.find_element(By.ID, "notes").send_keys("资料齐全 documents in order")
    browser.save_screenshot(str(ARTIFACTS / "reviewer-case.png"))
    browser.find_element(By.ID, "submit-review").click()
    number = WebDriverWait(browser, 15).until(
        ec.presence_of_element_located((By.ID, "voucher-number"))).text
    browser.save_screenshot(str(ARTIFACTS / "reviewer-voucher.png"))
    assert number.startswith(f"DV{app_id:08d}")
    assert "Voucher issued" in browser.page_source


def test_analyst_opens_a_model_report_with_its_charts(api, staff, live_server, browser,
                                                      model_root):
    _, version = model_root
    sign_in(browser, live_server, "an", staff.tokens["an"])
    browser.get(f"{live_server}/pages/models")
    assert browser.find_element(By.ID, "champion").text == version
    browser.find_element(By.CSS_SELECTOR, "a.report-link").click()
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.ID, "chart-roc")))
    ids = ("chart-roc", "chart-calibration", "chart-score_distribution")
    loaded = """return arguments[0].complete && arguments[0].naturalWidth > 0;"""
    for chart_id in ids:
        img = browser.find_element(By.ID, chart_id)
        wait.until(lambda d, img=img: d.execute_script(loaded, img))
        assert browser.execute_script("return arguments[0].naturalWidth;", img) > 0, chart_id
    browser.save_screenshot(str(ARTIFACTS / "analyst-model-report.png"))
