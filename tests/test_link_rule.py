"""The link rule of align-v4 end to end (docs/matching.md section 4): import sources and pages,
run ``match_pages`` and check the stored ``Match`` rows. Every case holds eight unrelated filler
sources beside the ones under test, so document frequencies (rarity) mean something.

All texts are written for these tests; "spun" copies replace words by hand-picked synonyms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, aliased

from spintrace.db import Document, Match
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages
from spintrace.matcher.align import stretches
from spintrace.matcher.verdict import Side, credit, judge
from spintrace.records import Role

SPILL = (
    "Harrowgate Water has been fined 2.4 million pounds after untreated sewage poured into the "
    "River Kennet for nine days last spring, killing thousands of brown trout and closing a "
    "popular swimming meadow near Marlbury. Magistrates in Swindon heard on Tuesday that an alarm "
    "at the Oxley Lane pumping station had been switched off during maintenance and never reset.",
    "District judge Amelia Roper said the company had shown a troubling disregard for its own "
    "procedures. Engineers noticed the fault only when anglers sent photographs of dead fish to "
    "the Environment Agency, she said, by which time an estimated 38 million litres of waste had "
    "escaped. The utility admitted three charges under environmental permitting rules and was "
    "also ordered to pay 310,000 pounds in costs.",
    "Harrowgate's chief executive, Martin Colley, apologised outside court and said every pumping "
    'station now reported directly to a control room staffed around the clock. "We let the river '
    'and the people who love it down," he said. "The money matters less than making sure it '
    'cannot happen again." The company has promised to fund a restocking programme and to pay '
    "for a new wetland filter below the outfall.",
    "Campaigners were unimpressed. Rachel Dunmore of the Kennet Valley Trust said the fine "
    "amounted to less than a week of the firm's profits and that volunteers had spent months "
    "counting the damage. Surveys this summer found insect numbers at the meadow still forty "
    "percent below their level before the spill. The trust wants the regulator to publish "
    "monitoring data from every overflow on the river in real time.",
    "The Environment Agency said it had opened 14 further investigations into pollution "
    "incidents across the region this year. Ministers are expected to set out tougher penalties "
    "for water companies in a white paper due before Christmas.",
)
SPILL_SPIN = dict(
    fined="penalised", untreated="raw", poured="flowed", popular="well-loved", closing="shutting",
    heard="were told", switched="turned", maintenance="servicing", troubling="worrying",
    disregard="contempt", noticed="spotted", photographs="pictures", estimated="approximate",
    escaped="leaked", admitted="accepted", apologised="said sorry", directly="straight",
    promised="pledged", unimpressed="not impressed", amounted="came", spent="passed",
    damage="harm", Surveys="Studies", level="mark", wants="needs", publish="release", sent="posted",
    further="more", tougher="harsher", due="expected", said="stated", company="firm",
)  # fmt: skip
TRAM = (
    "Councillors in Bramley voted 31 to 12 on Thursday night to extend the city's tram line to "
    "the Northgate hospital, ending a dispute that has dragged on for almost a decade. The "
    "4.2-kilometre extension will cost an estimated 186 million pounds, with two thirds coming "
    "from a regional transport grant announced in March.",
    "Supporters argued that patients and staff had waited long enough. Nurses at Northgate "
    "currently face a bus journey of up to 50 minutes from the central station at peak times, "
    "and the hospital trust says one in five outpatient appointments starts late because of "
    "traffic. Council leader Priya Sandhu called the vote a turning point for the eastern "
    "districts.",
    "Opponents, led by the Liberal group, questioned the cost estimates and warned that "
    "shopkeepers on Quarry Road would lose trade during two years of roadworks. Councillor "
    "Gareth Mills said the authority had underestimated construction bills on its last project "
    "by 30 percent and had no reserve to cover a repeat.",
    "Work on utility diversions is due to begin next spring, and the first trams could run to "
    "the hospital in the summer of 2028. The council will hold drop-in sessions at Quarry Road "
    "library over the coming weeks to explain the route, the temporary bus diversions and the "
    "compensation scheme for affected businesses.",
)
DIG = (
    "A team of volunteer archaeologists has uncovered the remains of a Saxon weaving hut on "
    "Fenwick Moor, a find that experts say could change what is known about farming communities "
    "in the region during the seventh century. The sunken-floored building, about five metres "
    "long, was discovered during a three-week dig organised by the Fenwick Heritage Society.",
    "Inside the hut lay dozens of clay loom weights, still arranged in the neat row they formed "
    "when the upright loom collapsed, along with a bone pin-beater polished glassy by years of "
    "thumbs. Charred barley grains trapped beneath a fallen thatch beam should allow the fire "
    "that destroyed the building to be radiocarbon dated within a few decades.",
    "Dr Helen Marsh, who led the excavation for the University of Carden, said the loom weights "
    'were the most complete set found in northern England for over forty years. "You rarely get '
    'to see the moment a household stopped," she said. "Here we can almost count the threads '
    'that were on the loom when the roof came in." Her team will compare the weights with '
    "similar finds from sites in Yorkshire and East Anglia.",
    "The society began digging on the moor in 2019 after a farmer, Tom Ashby, noticed dark "
    "patches in a field of winter wheat on aerial photographs taken by a drone. Earlier seasons "
    "revealed a boundary ditch and fragments of pottery, but nothing on the scale of this "
    "summer's discovery. More than 120 volunteers, the youngest aged eleven and the oldest "
    "eighty-seven, took part this year.",
    "The finds have been taken to the university for cleaning and analysis, and a selection "
    "will go on display at the Fenwick museum next spring. The society hopes to return to the "
    "moor next summer, subject to funding, to search for the rest of the settlement, which may "
    "include a hall and several more workshops.",
)
LIGHT_SPIN = dict(
    voted="decided", ending="closing", argued="said", currently="now", questioned="doubted",
    warned="cautioned", begin="start", uncovered="found", experts="specialists", change="alter",
    discovered="found", complete="intact", rarely="seldom", compare="contrast", revealed="showed",
    fragments="pieces", issue="offer", carry="have", priced="valued", existing="current",
)  # fmt: skip
BOILERPLATE = (
    "Related posts: Ten garden plants that thrive in deep shade. Why mortgage rates could fall "
    "again next year. The best budget earbuds we tested this month. Advertisement. Sponsored: "
    "compare energy deals in minutes and switch today with no exit fees. Trending now: celebrity "
    "chef opens a seaside bakery; five cheap weekend breaks by train; how to get rid of damp "
    "without calling a builder; the smartwatch that tracks your sleep better than most. You may "
    "also like: readers share their favourite autumn walks, and a quiz on the year in sport. "
    "Share this article on Facebook, X or WhatsApp, or copy the link. Subscribe to our newsletter "
    "for the latest stories delivered to your inbox every morning, free of charge. Comments are "
    "closed on this post. Copyright 2024 Daily Trend Hub. All rights reserved. Privacy policy. "
    "Cookie settings. Contact us. Advertise with us. About our editorial standards and team."
)
NOTE = (
    "{co} sets {amt} million dollar note issue\n\n{co}, the {city}-based {sector} group, said on "
    "{day} it would issue {amt} million dollars of {yrs}-year notes through a syndicate led by "
    "{bank}. The notes carry a coupon of {cpn} percent and were priced at {price} to yield {yld} "
    "percent, the lead manager said.\n\nFees total {fee} percent and the notes will be listed in "
    "Luxembourg. Proceeds will be used for general corporate purposes and to refinance existing "
    "debt, {co} said. The company last borrowed on the bond market in {month}, when it raised "
    "{prev} million dollars."
)
NOTE_FIGURES = (  # co, city, sector, day, amt, yrs, bank, cpn, price, yld, fee, month, prev
    "Norvik Chemicals|Oslo|fertiliser|Monday|150|7|Halden Bank|6-1/4|101.375|6.02|1.875|February"
    "|90",
    "Castellan Foods|Lisbon|food|Wednesday|200|5|Banco Ribeira|7-1/8|100.85|6.91|1.625|June|120",
    "Tavira Cement|Porto|building materials|Thursday|75|10|Merriot Securities|8-3/8|99.60|8.44"
    "|2.25|October|45",
)
FILLER = (
    "{town} {event} draws record crowds\n\nOrganisers of the {event} in {town} said more than "
    "{n} visitors came through the gates over the weekend, the most since it began in {year}. "
    "{person}, who chairs the organising committee, said the {star} had been the main "
    "attraction, with queues past the {place} for most of Saturday.\n\nLocal traders reported "
    "brisk business, though some residents complained about parking on {street}. The committee "
    "will review traffic arrangements and thanked the volunteers who {task}."
)
FILLERS = (  # town, event, n, year, person, star, place, street, task
    "Ashcombe|county show|18,000|1952|Joan Pike|sheepdog trial|cattle sheds|Mill Lane|"
    "marshalled the show ring",
    "Porthleven|jazz festival|9,500|1987|Ade Okafor|big band finale|harbour wall|Fore Street|"
    "ran the bandstand stalls",
    "Kelso|beer festival|6,200|2004|Iain Rutherford|hop-growers' tent|abbey ruins|Roxburgh "
    "Street|poured ten thousand pints",
    "Whitstable|kite festival|12,000|1998|Sunita Rao|giant octopus kite|beach huts|Tankerton "
    "Road|untangled the lines",
    "Hay|book fair|22,000|1988|Owen Price|poetry marquee|castle gardens|Broad Street|shelved "
    "forty tonnes of paperbacks",
    "Loughborough|model railway exhibition|4,300|1971|Derek Shaw|working steam layout|town "
    "hall|Baxter Gate|built the layouts",
    "Tiverton|vintage tractor rally|7,800|1979|Margaret Ellery|ploughing match|river meadow|"
    "Bampton Street|towed stranded cars",
    "Harrogate|orchid show|3,900|1965|Keith Ambler|slipper orchid display|glasshouses|Station "
    "Parade|watered the exhibits",
)  # fmt: skip


def _spin(text: str, pairs: dict[str, str]) -> str:
    return re.sub(r"[A-Za-z]+", lambda m: pairs.get(m.group(), m.group()), text)


def _note(row: str) -> str:
    keys = "co city sector day amt yrs bank cpn price yld fee month prev".split()
    return NOTE.format(**dict(zip(keys, row.split("|"), strict=True)))


def _fillers() -> list[dict[str, str]]:
    keys = "town event n year person star place street task".split()
    rows = [dict(zip(keys, row.split("|"), strict=True)) for row in FILLERS]
    return [{"url": f"https://fill.example/{r['town']}", "text": FILLER.format(**r)} for r in rows]


def _text(*paragraphs: str) -> str:
    return "\n\n".join(paragraphs)


def _load(
    engine: Engine, tmp: Path, sources: dict[str, str], pages: dict[str, str]
) -> dict[str, int]:
    """Import the sources (in order, then the fillers) and the pages, keyed by URL; their ids."""
    batches: list[tuple[Role, list[dict[str, str]]]] = [
        ("source", [{"url": u, "text": t} for u, t in sources.items()] + _fillers()),
        ("page", [{"url": u, "text": t} for u, t in pages.items()]),
    ]
    for role, rows in batches:
        path = tmp / f"{role}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        assert import_file(engine, path, role).new == len(rows)
    with Session(engine) as session:
        return {url: i for i, url in session.execute(select(Document.id, Document.url))}


def _links(engine: Engine, page: str) -> dict[str, Match]:
    """The stored links of the page at URL ``page``, by source URL."""
    src, pg = aliased(Document), aliased(Document)
    with Session(engine) as session:
        rows = session.execute(
            select(src.url, Match)
            .join(src, src.id == Match.source_id)
            .join(pg, pg.id == Match.page_id)
            .where(pg.url == page)
        ).all()
        session.expunge_all()
    return {url: match for url, match in rows}


def test_a_padded_spun_story_links_to_its_held_excerpt(migrated: Engine, tmp_path: Path) -> None:
    page = _text(_spin(_text(*SPILL), SPILL_SPIN), BOILERPLATE)
    _load(migrated, tmp_path, {"https://v.example/cut": SPILL[0]}, {"https://farm.example/p": page})
    match_pages(migrated)
    links = _links(migrated, "https://farm.example/p")
    assert list(links) == ["https://v.example/cut"]
    link = links["https://v.example/cut"]
    assert link.basis == "alignment" and link.score >= 0.46
    assert link.coverage >= 0.8, link.evidence
    assert link.containment < 0.4, link.evidence


def test_a_stitched_page_links_both_stories_with_their_own_passages(
    migrated: Engine, tmp_path: Path
) -> None:
    page = _spin(_text(*TRAM[:3], *DIG[:4]), LIGHT_SPIN)
    sources = {"https://a.example/tram": _text(*TRAM), "https://b.example/dig": _text(*DIG)}
    _load(migrated, tmp_path, sources, {"https://farm.example/both": page})
    match_pages(migrated)
    links = _links(migrated, "https://farm.example/both")
    assert sorted(links) == sorted(sources)
    starts = {url: [p["page_start"] for p in m.evidence["passages"]] for url, m in links.items()}
    tram, dig = starts["https://a.example/tram"], starts["https://b.example/dig"]
    assert tram and dig
    # The tram story is the first part of the page, the dig the rest: no passage is shared.
    boundary = page.index(_spin(DIG[0], LIGHT_SPIN)[:40])
    assert max(tram) < boundary <= min(dig), starts
    assert all(m.basis == "alignment" and m.score >= 0.46 for m in links.values())


def test_formulaic_items_with_other_figures_do_not_link(migrated: Engine, tmp_path: Path) -> None:
    first, second, third = (_note(row) for row in NOTE_FIGURES)
    sources = {"https://wire.example/norvik": first, "https://wire.example/castellan": second}
    pages = {
        "https://farm.example/tavira": third,
        "https://farm.example/norvik": _spin(first, LIGHT_SPIN),
    }
    _load(migrated, tmp_path, sources, pages)
    report = match_pages(migrated)
    assert (report.checked, report.links) == (2, 1)
    assert _links(migrated, "https://farm.example/tavira") == {}
    copy = _links(migrated, "https://farm.example/norvik")
    assert list(copy) == ["https://wire.example/norvik"]
    assert copy["https://wire.example/norvik"].basis == "alignment"


def test_a_pasted_rare_paragraph_links_alone(migrated: Engine, tmp_path: Path) -> None:
    # Original text (the tram story is not held here) with one paragraph of the dig pasted in.
    page = _text(*TRAM[:2], DIG[1], *TRAM[2:])
    _load(
        migrated, tmp_path, {"https://b.example/dig": _text(*DIG)}, {"https://me.example/p": page}
    )
    match_pages(migrated)
    links = _links(migrated, "https://me.example/p")
    assert list(links) == ["https://b.example/dig"]
    link = links["https://b.example/dig"]
    assert link.score >= 0.46
    assert link.basis == "passage", (link.basis, link.score, link.evidence["rare_passage"])
    assert link.evidence["rare_passage"] >= 36
    (passage,) = [p for p in link.evidence["passages"] if p["substitutions"] == 0]
    assert page[passage["page_start"] : passage["page_end"]] == DIG[1].rstrip(".")


def test_of_two_editions_the_one_that_explains_the_page_links(
    migrated: Engine, tmp_path: Path
) -> None:
    original = _text(*SPILL)
    syndicated = _text(
        original,
        "This story was first published by the Kennet Valley Gazette and is republished here "
        "under a content-sharing agreement.",
    )
    sources = {"https://gazette.example/spill": original, "https://syn.example/spill": syndicated}
    page = _spin(original, SPILL_SPIN)
    ids = _load(migrated, tmp_path, sources, {"https://farm.example/spill": page})
    assert ids["https://gazette.example/spill"] < ids["https://syn.example/spill"]
    match_pages(migrated)
    links = _links(migrated, "https://farm.example/spill")
    assert list(links) == ["https://gazette.example/spill"], {u: m.score for u, m in links.items()}


def test_a_second_run_checks_nothing_and_keeps_every_link(migrated: Engine, tmp_path: Path) -> None:
    first, _, third = (_note(row) for row in NOTE_FIGURES)
    sources = {"https://a.example/tram": _text(*TRAM), "https://wire.example/norvik": first}
    pages = {
        "https://farm.example/both": _spin(_text(*TRAM[:3], first), LIGHT_SPIN),
        "https://farm.example/tavira": third,
    }
    _load(migrated, tmp_path, sources, pages)
    report = match_pages(migrated)
    assert (report.checked, report.linked, report.links) == (2, 1, 2)

    def stored() -> list[tuple[object, ...]]:
        with Session(migrated) as session:
            rows = session.execute(
                select(
                    Match.id, Match.page_id, Match.source_id, Match.score, Match.coverage,
                    Match.containment, Match.basis, Match.matched_at,
                ).order_by(Match.id)
            )  # fmt: skip
            return [tuple(r) for r in rows]

    before = stored()
    assert len(before) == 2
    again = match_pages(migrated)
    assert (again.checked, again.indexed, again.links) == (0, 0, 0)
    assert stored() == before


def _side(words: str) -> Side:
    norms = words.lower().split()
    return Side(norms, np.ones(len(norms)), np.zeros(len(norms), dtype=np.bool_))


def test_credit_gives_a_passage_to_one_of_two_identical_sources() -> None:
    text = " ".join(SPILL[0].replace(",", "").replace(".", "").split())
    page, source = _side(text), _side(text)
    found = stretches(page.norms, source.norms)
    alone = judge(found, page, source)
    assert (alone.basis, alone.score, alone.coverage, alone.containment) == (
        "alignment", 1.0, 1.0, 1.0
    )  # fmt: skip
    links = credit(page, [(7, found, source), (3, found, source)])
    assert [key for key, _ in links] == [3]
    # Judged again without the credited words, the second copy has nothing left.
    assert not judge(found, page, source, credited=links[0][1].page_mask).linked
