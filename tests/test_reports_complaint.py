"""The complaint pack: right on the demo data, inert on hostile pages (SQLite and PostgreSQL)."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from spintrace.cli import cli
from spintrace.db.models import Capture, Document, Match, Site
from spintrace.errors import ReportError
from spintrace.ingest.imports import import_file
from spintrace.linking.match import match_pages
from spintrace.reports.complaint.evidence import evidence_view, split_at_sentences
from spintrace.reports.complaint.highlight import Mark, segments
from spintrace.reports.complaint.pack import CSV_COLUMNS, build_complaint_pack, normalise_owner
from spintrace.reports.export import export_table
from spintrace.reports.rendering import CSP, http_url

# Sentence punctuation followed by white space: what no highlighted substitution may hold.
SENTENCE_BREAK = re.compile(r"[.!?;:][\"')\u201d\u2019]*\s")
DEMO = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"


def _iso(value: object) -> str:
    return "" if value is None else value.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]


@pytest.fixture
def demo(migrated: Engine) -> Engine:
    import_file(migrated, DEMO / "sources.jsonl", "source")
    import_file(migrated, DEMO / "pages.jsonl", "page")
    assert match_pages(migrated).linked > 0
    return migrated


def _expected_rows(engine: Engine, owner: str) -> list[dict[str, str]]:
    """The CSV rows, computed here straight from the stored matches."""
    rows = []
    with Session(engine) as session:
        for match in session.scalars(select(Match)):
            page, source = match.page, match.source
            host = urlsplit(source.url).hostname or ""
            if host != owner and not host.endswith("." + owner):
                continue
            capture = page.capture
            rows.append(
                {
                    "page_url": page.url,
                    "original_url": source.url,
                    "original_title": source.title or "",
                    "site": page.site.domain,
                    "abuse_contact": "",  # spintrace stores no abuse contact for a host
                    "first_seen": _iso(capture.fetched_at if capture else page.added_at),
                    "original_published": _iso(source.published),
                    "score": str(match.score),
                    "containment": str(match.containment),
                    "coverage": str(match.coverage),
                    "spin_rate": str(match.spin_rate),
                    "page_time": _iso(match.page_time),
                    "page_time_basis": match.page_time_basis or "",
                    "order": match.order or "unknown",
                    "capture_sha256": capture.sha256 if capture else "",
                }
            )
    rows.sort(key=lambda row: (row["site"], row["page_url"], row["original_url"]))
    for number, row in enumerate(rows, 1):
        row["evidence"] = f"evidence/{number}.html"
    return rows


def _read_csv(path: Path) -> list[dict[str, str]]:
    # Excel's habits: a UTF-8 BOM first (and only here, not in `spintrace export`).
    assert path.read_bytes().startswith(b"\xef\xbb\xbfpage_url,")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def _check_links(output: Path) -> None:
    """Every local link of every HTML file points to a file (or an id) that exists."""
    for page in output.rglob("*.html"):
        tree = lxml.html.parse(str(page))
        all_ids = tree.xpath("//@id")
        ids = set(all_ids)
        assert len(ids) == len(all_ids), f"{page.name}: duplicate ids"
        for href in tree.xpath("//a/@href"):
            if http_url(href):
                continue
            target, _, anchor = href.partition("#")
            if not target:
                assert anchor in ids, f"{page.name}: no id {anchor!r}"
                continue
            assert (page.parent / target).resolve().is_file(), f"{page}: broken link {href}"


def test_demo_pack_matches_the_stored_matches(demo: Engine, tmp_path: Path) -> None:
    from warcio.archiveiterator import ArchiveIterator

    with Session(demo) as session:
        owners = sorted(
            {
                domain
                for (domain,) in session.execute(
                    select(Site.domain).join(Document).where(Document.role == "source")
                )
            }
        )
    saw_text_import = saw_capture = False
    for owner in owners:
        output = tmp_path / owner
        summary = build_complaint_pack(demo, owner, output)
        expected = _expected_rows(demo, owner)
        assert _read_csv(output / "infringements.csv") == expected
        assert summary.copies == len(expected)
        assert summary.works == len({row["original_url"] for row in expected})
        assert summary.sites == tuple(sorted({row["site"] for row in expected}))
        assert sorted(p.name for p in (output / "evidence").iterdir()) == sorted(
            f"{n}.html" for n in range(1, len(expected) + 1)
        )
        for site in summary.sites:
            notice = (output / "notices" / f"{site}.txt").read_text(encoding="utf-8")
            assert notice.startswith("=") and "DRAFT - NOT SENT" in notice
            for placeholder in ("[NAME]", "[ADDRESS]", "[EMAIL]", "[SIGNATURE]"):
                assert placeholder in notice
            assert (
                "good faith belief" in notice and "information in this notice is accurate" in notice
            )
            rows = [row for row in expected if row["site"] == site]
            for row in rows:
                assert row["page_url"] in notice and row["original_url"] in notice
                assert row["original_title"] in notice
            others = [row["page_url"] for row in expected if row["site"] != site]
            assert not any(url in notice for url in others)
        assert len(list((output / "notices").iterdir())) == len(summary.sites)
        index = (output / "index.html").read_text(encoding="utf-8")
        warc = output / "captures.warc.gz"
        captured = {row["capture_sha256"] for row in expected} - {""}
        if summary.captures:
            saw_capture = True
            with warc.open("rb") as stream:
                records = [r for r in ArchiveIterator(stream) if r.rec_type != "warcinfo"]
            assert len(records) == summary.captures
            with Session(demo) as session:
                hashes = set(session.scalars(select(Capture.sha256)))
            payload_hashes = set()
            with warc.open("rb") as stream:
                for record in ArchiveIterator(stream):
                    if record.rec_type != "warcinfo":
                        payload_hashes.add(
                            hashlib.sha256(record.content_stream().read()).hexdigest()
                        )
            assert captured <= payload_hashes <= hashes
        elif expected:
            saw_text_import = True
            assert not warc.exists()
            assert "No WARC file" in index
        _check_links(output)
        tree = lxml.html.parse(str(output / "index.html"))
        hrefs = set(tree.xpath("//a/@href"))
        assert {row["evidence"] for row in expected} <= hrefs
        assert "infringements.csv" in hrefs
    assert saw_capture and saw_text_import  # the demo has both kinds of copies


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def test_evidence_page_shows_the_stored_evidence(demo: Engine, tmp_path: Path) -> None:
    build_complaint_pack(demo, "harbourgazette.example", tmp_path / "pack")
    rows = _read_csv(tmp_path / "pack" / "infringements.csv")
    saw_split = False
    with Session(demo) as session:
        for row in rows:
            page = session.scalars(select(Document).where(Document.url == row["page_url"])).one()
            match = session.scalars(select(Match).where(Match.page_id == page.id)).one()
            tree = lxml.html.parse(str(tmp_path / "pack" / row["evidence"]))
            summary = tree.xpath("string(//p[@class='summary'])")
            assert f"{match.containment:.0%} of the page's words come from the original" in summary
            assert f"{match.spin_rate:.0%} of those were replaced by a synonym spinner" in summary
            longest = match.evidence["longest_exact"]
            assert f"the longest verbatim run is {longest} words" in summary
            assert row["capture_sha256"] in tree.xpath("string(//dl)")
            # Every stored substitution is shown, cut at sentence breaks: its own words (those
            # its original does not have) are all marked, and no mark runs over a break.
            rows_ = tree.xpath("//table[@class='subs']/tr[td]")
            anchors = tree.xpath("//mark[@id]/@id")
            assert len(anchors) == len(set(anchors))  # each id once
            assert {f"c{n}" for n in range(1, len(rows_) + 1)} >= {
                key for key in anchors if key.startswith("c")
            }
            copy_side = tree.xpath("//div[@class='pair']/div[1]//mark")
            assert {m.get("title") for m in copy_side} == {
                f"substitution {n}" for n in range(1, len(rows_) + 1)
            }
            shown = Counter(w for m in copy_side for w in _words(m.text or ""))
            for sub in match.evidence["substitutions"]:
                own = Counter(_words(sub["spun"])) - Counter(_words(sub["original"]))
                assert not own - shown, sub
                start = sub["page_start"]
                assert page.text[start : start + len(sub["spun"])] == sub["spun"]
            every_mark = [m.text or "" for m in tree.xpath("//mark")]
            assert not any(SENTENCE_BREAK.search(text) for text in every_mark)
            saw_split = saw_split or any(
                SENTENCE_BREAK.search(sub["spun"]) for sub in match.evidence["substitutions"]
            )
            # The highlighted copy is the stored text, whole and unchanged.
            copy_text = tree.xpath("string((//div[@class='text'])[1])")
            assert copy_text == page.text
            # The lineup faces each copied passage with its original, in the original's order.
            source = session.get(Document, match.source_id)
            assert source is not None
            lined = tree.xpath("//table[@class='lineup']/tr[td[2]//div]")
            assert len(lined) == len(match.evidence["passages"])
            at = [source.text.index(row.xpath("string(td[3])")) for row in lined]
            assert at == sorted(at)
    assert saw_split  # the demo's spinner replaced blocks over a sentence end ('stated. "This')


def test_substitutions_are_cut_at_sentence_breaks() -> None:
    page = 'Ferry news. "It is a troublesome yr," she stated. "This gained\'t last."'
    source = 'Ferry news. "It is a difficult year," she said. "This won\'t last."'
    spun, original = (
        'troublesome yr," she stated. "This gained',
        'difficult year," she said. "This won',
    )
    evidence = {
        "substitutions": [
            {
                "spun": spun,
                "original": original,
                "page_start": page.index(spun),
                "source_start": source.index(original),
                "relation": "moby",
            }
        ]
    }
    view = evidence_view(evidence, page, source, scores=(0.9, 0.9, 0.9, 0.3), threshold=0.5)
    assert [(s.spun, s.original, s.in_copy, s.in_original) for s in view.substitutions] == [
        ("troublesome yr", "difficult year", True, True),
        ("stated", "said", True, True),
        ("gained", "won", True, True),
    ]
    marked = [(seg.text, seg.mark) for seg in view.copy_segments if seg.mark]
    assert marked == [("troublesome yr", 1), ("stated", 2), ("gained", 3)]
    # Different breaks on the two sides: shown whole, as stored.
    assert split_at_sentences("yr. The", "year, the") == [(0, "yr. The", 0, "year, the")]
    assert split_at_sentences("p.c.", "per cent") == [(0, "p.c.", 0, "per cent")]


def test_pack_csv_opens_in_excel_and_export_stays_plain(
    demo: Engine, tmp_path: Path, any_db_url: str
) -> None:
    pack = tmp_path / "pack"
    build_complaint_pack(demo, "harbourgazette.example", pack)
    raw = (pack / "infringements.csv").read_bytes()
    assert raw.startswith(codecs.BOM_UTF8) and raw.count(codecs.BOM_UTF8) == 1
    rows = _read_csv(pack / "infringements.csv")
    assert rows and all(row["abuse_contact"] == "" for row in rows)  # no contacts file given
    exported = tmp_path / "matches.csv"
    result = CliRunner().invoke(
        cli, ["--db", any_db_url, "export", "matches", "--format", "csv", "-o", str(exported)]
    )
    assert result.exit_code == 0, result.output
    assert exported.read_bytes().startswith(b"page_url,")  # an interface: no BOM
    out = io.StringIO()
    export_table(demo, "matches", "csv", out)
    assert out.getvalue().startswith("page_url,")


def test_abuse_contacts_from_a_file_reach_the_csv_and_the_notices(
    demo: Engine, tmp_path: Path, any_db_url: str
) -> None:
    pack = tmp_path / "pack"
    build_complaint_pack(demo, "harbourgazette.example", pack)
    sites = sorted({row["site"] for row in _read_csv(pack / "infringements.csv")})
    before = [path.read_text() for path in (pack / "notices").iterdir()]
    assert before and all("[RECIPIENT NAME AND EMAIL]" in text for text in before)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "site,abuse_contact,note\n"
        f"https://www.{sites[0]}/any/page,mailto:abuse@host.example,looked up 2026-12-01\n"
        "\n"
        "unrelated.example,https://host.example/abuse?x=1,\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli,
        ["--db", any_db_url, "report", "complaint", "--owner", "harbourgazette.example",
         "-o", str(pack), "--contacts", str(contacts)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "names 1 site with no copy in this pack: unrelated.example" in result.stderr
    rows = _read_csv(pack / "infringements.csv")
    assert {row["abuse_contact"] for row in rows if row["site"] == sites[0]} == {
        "abuse@host.example"
    }
    assert {row["abuse_contact"] for row in rows if row["site"] != sites[0]} <= {""}
    notices = {path.name: path.read_text() for path in (pack / "notices").iterdir()}
    addressed = [text for text in notices.values() if "To: abuse@host.example" in text]
    assert len(addressed) == 1 and sites[0] in addressed[0]
    assert "[RECIPIENT NAME AND EMAIL]" not in addressed[0]
    assert sum("[RECIPIENT NAME AND EMAIL]" in text for text in notices.values()) == len(sites) - 1
    index = lxml.html.parse(str(pack / "index.html"))
    assert "abuse@host.example" in index.xpath("string(//table[1])")
    # A contacts file with a mistake stops before any pack is written, naming the line.
    for body, says in (
        ("host,contact\nfarm.example,abuse@x.example\n", "columns site and abuse_contact"),
        ("site,abuse_contact\nfarm.example,call us\n", "line 2: 'call us' is not an email"),
        ("site,abuse_contact\nfarm.example,=HYPERLINK(1)\n", "line 2"),
        ("site,abuse_contact\n,abuse@x.example\n", "line 2: '' is not a site"),
        (
            "site,abuse_contact\nfarm.example,a@x.example\nwww.farm.example,b@x.example\n",
            "line 3: farm.example already has the contact 'a@x.example'",
        ),
        (b"site,abuse_contact\nfarm.example,caf\xe9@x.example\n", "not UTF-8"),
        # Review: urlsplit raised (a traceback), and a form feed in a quoted field vanished.
        ("site,abuse_contact\nfarm.example,http://[oops\n", "line 2: 'http://[oops' is not"),
        ('site,abuse_contact\nfarm.example,"a\x0cb@x.example"\n', "line 2"),
    ):
        bad = tmp_path / "bad.csv"
        bad.write_bytes(body if isinstance(body, bytes) else body.encode())
        result = CliRunner().invoke(
            cli,
            ["--db", any_db_url, "report", "complaint", "--owner", "harbourgazette.example",
             "-o", str(tmp_path / "other"), "--contacts", str(bad)],
        )  # fmt: skip
        assert result.exit_code == 1 and "Traceback" not in result.output, body
        assert says in result.output, (body, result.output)
        assert not (tmp_path / "other").exists()
    missing = CliRunner().invoke(
        cli,
        ["--db", any_db_url, "report", "complaint", "--owner", "harbourgazette.example",
         "-o", str(tmp_path / "other"), "--contacts", str(tmp_path / "none.csv")],
    )  # fmt: skip
    assert missing.exit_code == 1 and "cannot read the contacts file" in missing.output


def test_index_columns_say_what_they_count(demo: Engine, tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    build_complaint_pack(demo, "harbourgazette.example", pack)
    rows = _read_csv(pack / "infringements.csv")
    tree = lxml.html.parse(str(pack / "index.html"))
    tables = tree.xpath("//table")
    headers = [[th.text_content() for th in table.xpath("tr[1]/th")] for table in tables]
    assert headers[0] == ["site", "copying pages", "abuse contact", "notice draft"]
    assert headers[1] == [
        "row",
        "copying page",
        "original it copies",
        "words copied",
        "% of the page copied",
        "% of the original copied",
        "% of copied words spun",
        "first seen",
        "who came first",
        "evidence",
    ]
    assert headers[2] == ["original", "published", "copying pages (rows)"]
    cells = [[td.text_content() for td in tr.xpath("td")] for tr in tables[1].xpath("tr[td]")]
    assert len(cells) == len(rows)
    with Session(demo) as session:
        for row, shown in zip(rows, cells, strict=True):
            page = session.scalars(select(Document).where(Document.url == row["page_url"])).one()
            source = session.scalars(
                select(Document).where(Document.url == row["original_url"])
            ).one()
            match = session.scalars(
                select(Match).where(Match.page_id == page.id, Match.source_id == source.id)
            ).one()
            words = sum(passage["tokens"] for passage in match.evidence["passages"])
            assert shown[3:7] == [
                str(words),
                f"{match.containment:.0%}",
                f"{match.coverage:.0%}",
                f"{match.spin_rate:.0%}",
            ]


def test_owner_is_a_host_and_must_have_sources(demo: Engine, tmp_path: Path) -> None:
    assert normalise_owner(" https://WWW.Harbourgazette.example/news/ ") == (
        "harbourgazette.example"
    )
    with pytest.raises(ReportError, match="not a host name"):
        normalise_owner("javascript:alert(1)")
    with pytest.raises(ReportError, match=r"no sources from nowhere\.example"):
        build_complaint_pack(demo, "nowhere.example", tmp_path / "x")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.docx").write_bytes(b"mine")
    with pytest.raises(ReportError, match="not empty"):
        build_complaint_pack(demo, "harbourgazette.example", busy)
    assert (busy / "thesis.docx").read_bytes() == b"mine"
    # An earlier pack is replaced, not mixed with the new one.
    again = tmp_path / "again"
    build_complaint_pack(demo, "harbourgazette.example", again)
    (again / "evidence" / "99.html").write_text("stale", encoding="utf-8")
    build_complaint_pack(demo, "harbourgazette.example", again)
    assert not (again / "evidence" / "99.html").exists()


def test_cli_report_complaint(demo: Engine, tmp_path: Path, any_db_url: str) -> None:
    output = tmp_path / "pack"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            any_db_url,
            "report",
            "complaint",
            "--owner",
            "harbourgazette.example",
            "-o",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    # Plurals as English has them (regression: "1 sites").
    assert "harbourgazette.example: 2 works copied, 2 copies, 1 site," in result.output
    assert (output / "index.html").is_file()
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            any_db_url,
            "report",
            "complaint",
            "--owner",
            "nowhere.example",
            "-o",
            str(output),
        ],
    )
    assert result.exit_code == 1 and "Error: no sources from nowhere.example" in result.output


HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(1)> {{ 7*7 }} {% raw %}'
HOSTILE_URL = (
    'https://victim.example/news/a?q="><img/src=x/onerror=alert(1)><script>alert(1)</script>'
)


def test_hostile_pages_produce_inert_reports(migrated: Engine, tmp_path: Path) -> None:
    source_line = json.loads((DEMO / "sources.jsonl").read_text(encoding="utf-8").splitlines()[0])
    original = source_line["text"]
    spun = original.replace("almost", "virtually").replace("proposal", "proposition")
    (tmp_path / "s.jsonl").write_text(
        json.dumps(
            {"url": HOSTILE_URL, "title": "=1+1 " + HOSTILE, "text": original + "\n\n" + HOSTILE}
        )
        + "\n",
        encoding="utf-8",
    )
    (tmp_path / "p.jsonl").write_text(
        json.dumps(
            {
                "url": "https://farm.example/copy/<script>alert(1)</script>",
                "title": HOSTILE,
                "text": HOSTILE + "\n\n" + spun,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    assert import_file(migrated, tmp_path / "s.jsonl", "source").new == 1
    assert import_file(migrated, tmp_path / "p.jsonl", "page").new == 1
    assert match_pages(migrated).linked == 1
    with Session(migrated) as session:
        match = session.scalars(select(Match)).one()
        page = match.page
        evidence = dict(match.evidence)
        at = page.text.index("<script>")
        evidence["substitutions"] = [
            *evidence["substitutions"],
            {
                "spun": "<script>alert(1)</script>",
                "original": '"><img src=x onerror=alert(1)>',
                "page_start": at,
                "source_start": 0,
                "relation": "<script>alert(1)</script>",
            },
        ]
        session.execute(update(Match).values(evidence=evidence))
        session.execute(
            update(Document).where(Document.id == page.id).values(url="javascript:alert(1)")
        )
        session.execute(
            update(Site)
            .where(Site.id == page.site_id)
            .values(domain='farm"><img src=x onerror=alert(1)>')
        )
        session.commit()
    output = tmp_path / "pack"
    summary = build_complaint_pack(migrated, "victim.example", output)
    assert summary.copies == 1
    pages = sorted(output.rglob("*.html"))
    assert len(pages) == 2
    for path in pages:
        tree = lxml.html.parse(str(path))
        root = tree.getroot()
        assert not root.xpath("//script"), path
        assert not root.xpath("//img | //iframe | //object | //embed | //form | //base"), path
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue
            for name, value in element.attrib.items():
                assert not name.lower().startswith("on"), (path, element.tag, name)
                if name in ("href", "src", "action", "formaction"):
                    assert not re.sub(r"\s", "", value).lower().startswith("javascript:"), value
        (csp,) = root.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")
        assert csp == CSP
        text = root.text_content()
        # Shown as text, not dropped and not evaluated.
        assert "<script>alert(1)</script>" in text and "{% raw %}" in text and "{{ 7*7 }}" in text
        # Where the page title (with its template syntax) is shown, it is shown as it is.
        shown = root.xpath("//title | //dd | //td")
        titles = [el.text_content() for el in shown if "7*7" in el.text_content()]
        assert titles and all("{{ 7*7 }}" in t and "49" not in t for t in titles)
    evidence_page = lxml.html.parse(str(output / "evidence" / "1.html")).getroot()
    assert "javascript:alert(1)" in evidence_page.text_content()  # the URL, as text
    assert not evidence_page.xpath("//a[contains(@href, 'javascript')]")
    assert evidence_page.xpath("//a[starts-with(@href, 'https://victim.example/')]")
    assert "<script>alert(1)</script>" in [m.text for m in evidence_page.xpath("//mark")]
    (notice,) = (output / "notices").iterdir()
    assert notice.parent == output / "notices" and "/" not in notice.name
    assert not re.search(r"[<>\"' ]", notice.name)
    notice_text = notice.read_text(encoding="utf-8")
    assert "{{ 7*7 }}" in notice_text and "{% raw %}" in notice_text
    (row,) = _read_csv(output / "infringements.csv")
    assert row["original_title"].startswith("'=1+1")  # no spreadsheet formula
    assert row["page_url"] == "javascript:alert(1)"


@given(
    text=st.text(alphabet="ab <>&\n", max_size=40),
    passages=st.lists(st.tuples(st.integers(-5, 45), st.integers(-5, 45)), max_size=5),
    marks=st.lists(st.tuples(st.integers(-5, 45), st.integers(0, 8)), max_size=6),
)
def test_segments_cover_the_text_once(
    text: str, passages: list[tuple[int, int]], marks: list[tuple[int, int]]
) -> None:
    pieces = segments(
        text, passages, [Mark(start, start + size, n) for n, (start, size) in enumerate(marks, 1)]
    )
    assert "".join(piece.text for piece in pieces) == text
    numbers = [piece.mark for piece in pieces if piece.mark is not None]
    assert len(numbers) == len(set(numbers))
    assert all(piece.text for piece in pieces)


def test_rebuilding_a_pack_never_cleans_through_a_link(demo: Engine, tmp_path: Path) -> None:
    """Regression (issue 9.15): a rebuilt pack followed a `notices` symlink and deleted the
    *.txt files of the folder it pointed to."""
    pack = tmp_path / "pack"
    build_complaint_pack(demo, "harbourgazette.example", pack)
    elsewhere = tmp_path / "my-letters"
    elsewhere.mkdir()
    (elsewhere / "letter.txt").write_text("keep me", encoding="utf-8")
    outside = tmp_path / "diary.html"
    outside.write_text("keep me too", encoding="utf-8")
    for item in (pack / "notices").iterdir():
        item.unlink()
    (pack / "notices").rmdir()
    (pack / "notices").symlink_to(elsewhere, target_is_directory=True)
    (pack / "evidence" / "7.html").symlink_to(outside)
    build_complaint_pack(demo, "harbourgazette.example", pack)
    assert (elsewhere / "letter.txt").read_text(encoding="utf-8") == "keep me"
    assert outside.read_text(encoding="utf-8") == "keep me too"
    assert (pack / "notices").is_dir() and not (pack / "notices").is_symlink()
    assert list((pack / "notices").glob("*.txt"))


def test_bidi_controls_are_shown_not_obeyed(migrated: Engine, tmp_path: Path) -> None:
    """Regression (issue 9.15): right-to-left overrides from scraped titles reached the
    evidence pages and notices unmarked (a title could read backwards as something else)."""
    source = json.loads((DEMO / "sources.jsonl").read_text(encoding="utf-8").splitlines()[0])
    tricky = "Invoice \u202egnp.exe\u202c \u2067isolated\u2069"
    (tmp_path / "s.jsonl").write_text(
        json.dumps({**source, "url": "https://victim.example/a"}) + "\n"
    )
    page = {"url": "https://farm.example/a", "title": tricky, "text": source["text"]}
    (tmp_path / "p.jsonl").write_text(json.dumps(page) + "\n")
    import_file(migrated, tmp_path / "s.jsonl", "source")
    import_file(migrated, tmp_path / "p.jsonl", "page")
    assert match_pages(migrated).linked == 1
    output = tmp_path / "pack"
    build_complaint_pack(migrated, "victim.example", output)
    written = [
        p.read_text(encoding="utf-8")
        for p in output.rglob("*")
        if p.suffix in (".html", ".txt", ".csv")
    ]
    assert any("gnp.exe" in text for text in written)
    for text in written:
        assert not any(c in text for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert any("[U+202E]" in text for text in written)
