"""The runs page shows the nightly behaviour score: grades per night, the latest spread and the
grade migration between the last two nights; without a champion it says so."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from tests.webapp.test_pages import login, model_root, settings  # noqa: F401  (fixtures)


def _behaviour(grades: dict[str, int], migration: bool) -> dict:
    out = {"champion": "v0003", "scored": sum(grades.values()), "active_loans": 10,
           "distinct_scores": 9, "pd_mean": 0.042,
           "score": {"mean": 601.2, "p10": 540.0, "p50": 603.0, "p90": 655.0},
           "by_grade": grades}
    if migration:
        matrix = {f: {t: 0 for t in "ABCDE"} for f in "ABCDE"}
        matrix["B"]["C"] = 2
        matrix["A"]["A"] = 7
        matrix["C"]["B"] = 1
        out["migration"] = {"since": "2026-03-01", "matrix": matrix}
    return out


def test_behaviour_section_and_chart(api, staff, engine):
    from chedaitong.db.servicing import PostloanRun

    client = api.test_client()
    login(client, "an", staff.tokens["an"])
    with Session(engine) as s:
        s.add(PostloanRun(as_of=date(2026, 3, 1), status="finished", engine="pandas", counts={},
                          report={"loans": 10, "behaviour": {
                              "champion": None, "scored": 0,
                              "note": "no behaviour champion: behaviour rules did not fire"}}))
        s.commit()
    page = client.get("/pages/postloan").get_data(as_text=True)
    assert 'id="no-behaviour"' in page and "no behaviour champion" in page
    with Session(engine) as s:
        s.add(PostloanRun(as_of=date(2026, 3, 2), status="finished", engine="pandas", counts={},
                          report={"loans": 10, "behaviour": _behaviour(
                              {"A": 7, "B": 1, "C": 2, "D": 0, "E": 0}, migration=True)}))
        s.commit()
    page = client.get("/pages/postloan").get_data(as_text=True)
    assert 'id="behaviour-summary"' in page and "v0003" in page and "9 distinct" in page
    assert 'id="grade-migration"' in page and "2026-03-01" in page
    r = client.get("/pages/postloan/behaviour.png")
    assert r.status_code == 200 and r.data[:4] == b"\x89PNG"
