"""Queued work on PostgreSQL: workers crawl and match, one is killed, nothing is lost or doubled.

Real parts throughout: loopback news sites, the Scrapy crawler in worker subprocesses,
procrastinate workers (``spintrace worker``) killed with SIGKILL, the local PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, aliased

from spintrace.db import Capture, Document, Match, open_engine, upgrade
from spintrace.db.locks import HostBusy, host_lock
from spintrace.demo.loopback import LoopbackServer, news_site
from spintrace.jobs.child import exit_reason
from spintrace.jobs.tasks import wait_before_look

ARTICLES = 40
CRAWL = ("-s", "AUTOTHROTTLE_ENABLED=False", "-s", "DOWNLOAD_DELAY=0", "-s", "RETRY_TIMES=0")
# Small match batches, so a run has many and a worker can be killed in the middle of it.
ENV = {**os.environ, "SPINTRACE_BATCH_SIZE": "6"}


def _spintrace(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``spintrace --db db_url ARGS`` in a subprocess, its exit status not checked."""
    return subprocess.run(
        [sys.executable, "-m", "spintrace", "--db", db_url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )


def _cli(db_url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "spintrace", "--db", db_url, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _worker(db_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "spintrace", "--db", db_url, "worker", "--heartbeat", "0.5"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _jobs(engine: Engine, task: str, status: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t AND status = :s"
                ),
                {"t": f"spintrace:{task}", "s": status},
            )
            or 0
        )


def _pending(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                    "AND task_name != 'spintrace:retry_stalled'"
                )
            )
            or 0
        )


def _retried(engine: Engine, task: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT count(*) FROM procrastinate_events e JOIN procrastinate_jobs j "
                    "ON j.id = e.job_id WHERE e.type = 'deferred_for_retry' AND j.task_name = :t"
                ),
                {"t": f"spintrace:{task}"},
            )
            or 0
        )


def _captures(engine: Engine) -> Counter[str]:
    with Session(engine) as session:
        return Counter(session.scalars(select(Capture.url)))


def _links(engine: Engine) -> set[tuple[str, str, float]]:
    page, source = aliased(Document), aliased(Document)
    with Session(engine) as session:
        rows = session.execute(
            select(page.url, source.url, Match.score)
            .join(page, page.id == Match.page_id)
            .join(source, source.id == Match.source_id)
        ).all()
    return {(p, s, round(score, 6)) for p, s, score in rows}


def _fresh(url: str) -> Engine:
    engine = open_engine(url, create=True)
    upgrade(engine)
    return engine


def test_killed_workers_lose_and_double_nothing(
    pg_url: str, second_pg_url: str, request: pytest.FixtureRequest
) -> None:
    """Two workers crawl three sites (one the publisher, two copying it) and match; one worker
    is killed mid-crawl, another mid-match. Every job completes, the crawl leaves no orphan,
    no page is stored twice, and the links equal a single-process run's."""
    reference_url = second_pg_url
    servers = [LoopbackServer() for _ in range(3)]
    for server in servers:
        server.__enter__()
        request.addfinalizer(lambda s=server: s.__exit__(None, None, None))
        server.routes.update(news_site(server.url, articles=ARTICLES, per_page=10))
        for path, reply in list(server.routes.items()):
            if path.startswith("/news/"):  # slow enough to kill a worker mid-crawl
                server.routes[path] = type(reply)(reply.body, reply.status, reply.headers, 0.02)
    publisher, farms = servers[0].url + "/", [s.url + "/" for s in servers[1:]]

    # One process, the reference.
    reference = _fresh(reference_url)
    _cli(reference_url, "crawl", publisher, "--as", "source", *CRAWL)
    _cli(reference_url, "crawl", *farms, *CRAWL)
    _cli(reference_url, "match")
    expected_links, expected_pages = _links(reference), _captures(reference)
    assert expected_links, "the reference run linked nothing: the test would prove nothing"

    # Queued, two workers; one killed with SIGKILL mid-crawl.
    engine = _fresh(pg_url)
    _cli(pg_url, "crawl", "--queue", publisher, "--as", "source", *CRAWL)
    out = _cli(pg_url, "crawl", "--queue", *farms, *CRAWL)
    assert "queued 2 crawl jobs" in out
    workers = [_worker(pg_url), _worker(pg_url)]
    request.addfinalizer(lambda: [w.kill() for w in workers])
    victim = workers[0]
    _wait(lambda: bool(_children(victim.pid)) and len(_captures(engine)) >= 10, "a crawl")
    crawls = _children(victim.pid)
    victim.kill()
    victim.wait()
    _wait(lambda: not any(_alive(pid) for pid in crawls), "the dead worker's crawl to die", 10)
    _wait(lambda: _pending(engine) == 0, "the crawl and extraction jobs")
    assert _retried(engine, "crawl_site") >= 1

    # Mid-match: a new worker joins, then one of the two is killed.
    workers.append(_worker(pg_url))
    _cli(pg_url, "match", "--queue")
    _wait(lambda: _jobs(engine, "match_batch", "succeeded") >= 1, "the first match batch")
    _wait(lambda: _jobs(engine, "match_batch", "doing") >= 2, "both workers matching", 60)
    workers[1].kill()
    workers[1].wait()
    _wait(lambda: _pending(engine) == 0, "the match run")
    assert _retried(engine, "match_batch") >= 1

    for task in ("crawl_site", "process_batch", "index_batch", "match_batch", "match_run"):
        assert _jobs(engine, task, "failed") == 0, task
    pages = _captures(engine)
    assert set(pages.values()) == {1}, "a page was stored twice"
    assert set(pages) == set(expected_pages), "a page was lost"
    assert _links(engine) == expected_links
    # Pages stored before the kill were replayed from the database, not fetched again
    # (each article is fetched once per run; a few were in flight when the worker died).
    twice = [p for s in servers for p, n in s.hits.items() if p.startswith("/news/") and n > 2]
    assert len(twice) <= 16, twice
    reference.dispose()
    engine.dispose()


def test_a_site_is_crawled_by_one_process_at_a_time(pg_url: str) -> None:
    """The site lock: taken while held elsewhere is refused; a killed holder releases it."""
    engine = _fresh(pg_url)
    other = open_engine(pg_url)
    with host_lock(engine, ["127.0.0.1:8001"]):
        with pytest.raises(HostBusy), host_lock(other, ["127.0.0.1:8001"]):
            pass
        with host_lock(other, ["127.0.0.1:8002"]):  # another site is free
            pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from spintrace.db import open_engine\n"
            "from spintrace.db.locks import host_lock\n"
            "with host_lock(open_engine(sys.argv[1]), ['127.0.0.1:8001']):\n"
            "    print('held', flush=True); time.sleep(60)\n",
            pg_url,
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    with pytest.raises(HostBusy), host_lock(other, ["127.0.0.1:8001"]):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()

    def free() -> bool:
        try:
            with host_lock(other, ["127.0.0.1:8001"]):
                return True
        except HostBusy:
            return False

    _wait(free, "the dead holder's lock to be released", 10)
    other.dispose()
    engine.dispose()


def test_queue_needs_postgresql(runner: object, sqlite_url: str) -> None:
    from click.testing import CliRunner

    from spintrace.cli import cli

    assert isinstance(runner, CliRunner)
    runner.invoke(cli, ["--db", sqlite_url, "db", "upgrade"])
    for args in (["match", "--queue"], ["captures", "process", "--queue"], ["worker"], ["jobs"]):
        result = runner.invoke(cli, ["--db", sqlite_url, *args])
        assert result.exit_code == 1, (args, result.output)
        assert "needs a PostgreSQL database" in result.output
        assert "Traceback" not in result.output


def test_a_failed_job_is_counted_and_listed(pg_url: str) -> None:
    """A crawl job whose site cannot be reached fails at once (no retry loop) and shows in
    `spintrace jobs` and `spintrace jobs --failed`; the burst worker then stops by itself."""
    _fresh(pg_url).dispose()
    _cli(pg_url, "crawl", "--queue", "http://127.0.0.1:9/", *CRAWL)
    done = _spintrace(pg_url, "worker", "--burst")
    assert done.returncode == 0, done.stderr
    assert "could not fetch http://127.0.0.1:9/" in done.stderr  # the worker's log says why
    counts = _cli(pg_url, "jobs")
    assert "failed" in counts and "crawl_site" in counts
    listed = _cli(pg_url, "jobs", "--failed")
    assert "crawl_site after 1 attempt" in listed and "127.0.0.1:9" in listed


def test_a_site_waiting_to_be_crawled_is_not_queued_twice(pg_url: str) -> None:
    """Review: queued crawls of a site carry a job lock, not a queueing lock (a stalled job's
    retry must not collide with a newer job's 'todo' place); a second `crawl --queue` of a site
    still waiting says so instead of queueing it again."""
    _fresh(pg_url).dispose()
    first = _cli(pg_url, "crawl", "--queue", "http://127.0.0.1:9/")
    again = _cli(pg_url, "crawl", "--queue", "http://127.0.0.1:9/a", "http://127.0.0.1:8/")
    assert "crawl queued (job" in first and "queued 1 crawl job;" in first
    assert "127.0.0.1:9: a crawl is already queued" in again
    assert "127.0.0.1:8: crawl queued" in again and "queued 1 crawl job;" in again


def test_queueing_commands_print_json_when_asked(pg_url: str) -> None:
    """Regression: `match --queue --json` printed its plain sentence; every queueing command
    prints one JSON line with --json, as the same commands do when they run in process."""
    _fresh(pg_url).dispose()
    first = json.loads(_cli(pg_url, "crawl", "--queue", "--json", "http://127.0.0.1:9/"))
    again = json.loads(_cli(pg_url, "crawl", "--queue", "--json", "http://127.0.0.1:9/a"))
    assert first["queued"] == "crawl" and first["jobs"] == 1
    [site] = first["sites"]
    assert site["site"] == "127.0.0.1:9" and isinstance(site["job_id"], int)
    assert site["urls"] == ["http://127.0.0.1:9/"]
    assert again["jobs"] == 0 and again["sites"][0]["job_id"] is None
    queued = json.loads(_cli(pg_url, "match", "--queue", "--json"))
    assert queued["queued"] == "match" and len(queued["run"]) == 32  # a uuid4 hex
    # The crawl queued above has not run: the run may miss its pages, and says so.
    assert queued["unfinished"] == {"crawl": 1, "process": 0}
    process = json.loads(_cli(pg_url, "captures", "process", "--queue", "--json"))
    assert process == {"queued": "process", "captures": 0, "jobs": 0}


def test_a_match_queued_right_after_crawls_waits_for_them(
    pg_url: str, second_pg_url: str, request: pytest.FixtureRequest
) -> None:
    """Regression (README tester): `crawl --queue` then `match --queue` matched before the
    crawls' captures were extracted (the run's first stage ran before their extraction jobs,
    queued when each crawl ended): every page was checked against no source, 0 links."""
    servers = [LoopbackServer() for _ in range(2)]
    for server in servers:
        server.__enter__()
        request.addfinalizer(lambda s=server: s.__exit__(None, None, None))
        server.routes.update(news_site(server.url, articles=12, per_page=20))
    publisher, farm = (s.url + "/" for s in servers)
    reference = _fresh(second_pg_url)
    _cli(second_pg_url, "crawl", publisher, "--as", "source", *CRAWL)
    _cli(second_pg_url, "crawl", farm, *CRAWL)
    _cli(second_pg_url, "match")
    expected = _links(reference)
    assert expected, "the reference run linked nothing: the test would prove nothing"
    reference.dispose()

    engine = _fresh(pg_url)
    _cli(pg_url, "crawl", "--queue", publisher, "--as", "source", *CRAWL)
    _cli(pg_url, "crawl", "--queue", farm, *CRAWL)
    _cli(pg_url, "match", "--queue")
    worker = subprocess.run(
        [sys.executable, "-m", "spintrace", "--db", pg_url, "worker", "--burst"],
        capture_output=True,
        text=True,
        timeout=600,
        env=ENV,
    )
    assert worker.returncode == 0, worker.stderr
    # Without -v a worker logs no job: it says that it runs and when it stops (README tester).
    assert "worker spintrace-worker running all jobs until none is left" in worker.stderr
    assert worker.stderr.rstrip().endswith("worker stopped"), worker.stderr
    assert _links(engine) == expected
    engine.dispose()


def test_match_queue_warns_while_crawls_are_unfinished(pg_url: str) -> None:
    """Regression (README tester): `match --queue` gave no sign that queued crawls had not run,
    so their pages were silently left for a later match."""

    def match_queue() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "spintrace", "--db", pg_url, "match", "--queue"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=ENV)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("match run ") and "queued" in done.stdout
        return done

    engine = _fresh(pg_url)
    assert "note:" not in match_queue().stderr
    with engine.begin() as connection:  # as if a worker had run it
        connection.execute(text("DELETE FROM procrastinate_jobs"))
    engine.dispose()
    _cli(pg_url, "crawl", "--queue", "http://127.0.0.1:9/", "http://127.0.0.1:8/")
    note = match_queue().stderr
    assert "note: 2 crawl jobs still queued or running: the run starts when they" in note


def _slow_crawl_started(
    pg_url: str, request: pytest.FixtureRequest, delay: float
) -> subprocess.Popen[bytes]:
    """A site of 12 articles served one at a time, ``delay`` seconds each, queued for a crawl
    that a worker has started (the crawl takes seconds)."""
    server = LoopbackServer()
    server.__enter__()
    request.addfinalizer(lambda: server.__exit__(None, None, None))
    server.routes.update(news_site(server.url, articles=12, per_page=20))
    for path, reply in list(server.routes.items()):
        if path.startswith("/news/"):
            server.routes[path] = type(reply)(reply.body, reply.status, reply.headers, delay)
    _cli(pg_url, "crawl", "--queue", server.url + "/", *CRAWL, "-s", "CONCURRENT_REQUESTS=1")
    worker = _worker(pg_url)
    request.addfinalizer(worker.kill)
    _wait(lambda: any(p.startswith("/news/") for p in server.hits), "the crawl to start")
    return worker


def test_a_stopping_worker_beats_until_its_job_ends(
    pg_url: str, request: pytest.FixtureRequest
) -> None:
    """Review: asked to stop, procrastinate cancels its heartbeat first and then waits for the
    running job, so a long job (a crawl, the finish step) looked stalled and another worker's
    sweep queued it again while it still ran. The worker now beats until the job ends."""
    engine = _fresh(pg_url)
    worker = _slow_crawl_started(pg_url, request, 0.4)
    worker.send_signal(signal.SIGTERM)
    time.sleep(2.5)  # five heartbeats
    assert worker.poll() is None, "the worker stopped before its job ended: nothing tested"
    with engine.connect() as c:
        age = c.scalar(
            text(
                "SELECT max(extract(epoch FROM now() - last_heartbeat)) FROM procrastinate_workers"
            )
        )
    assert age is not None and float(age) < 1.5, f"no heartbeat for {age} s"
    assert worker.wait(timeout=120) == 0
    assert _jobs(engine, "crawl_site", "succeeded") == 1
    engine.dispose()


def test_a_stalled_job_that_a_newer_one_replaces_is_aborted(pg_url: str) -> None:
    """Review: a watch round whose worker died while the next tick queued the same site again
    could not be requeued (the newer job holds its queueing lock), so it stayed 'doing' and its
    job lock kept the newer one from ever starting. The sweep now aborts the stalled one."""
    from spintrace.jobs.queue import ensure_schema, open_app
    from spintrace.jobs.watching import watch_site

    engine = _fresh(pg_url)
    ensure_schema(engine)
    lock = "watch:gone:site.example"
    with open_app(engine):
        first = watch_site.configure(queueing_lock=lock, lock=lock).defer(
            name="gone", site="site.example"
        )
        with engine.begin() as c:  # a worker took it and died an hour ago
            dead = c.scalar(
                text(
                    "INSERT INTO procrastinate_workers (last_heartbeat) "
                    "VALUES (now() - interval '1 hour') RETURNING id"
                )
            )
            c.execute(
                text(
                    "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id = :j"
                ),
                {"w": dead, "j": first},
            )
        second = watch_site.configure(queueing_lock=lock, lock=lock).defer(
            name="gone", site="site.example"
        )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "spintrace",
            "--db",
            pg_url,
            "worker",
            "--burst",
            "--heartbeat",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    with engine.connect() as c:
        status = dict(
            c.execute(
                text("SELECT id, status::text FROM procrastinate_jobs WHERE id IN (:a, :b)"),
                {"a": first, "b": second},
            ).all()
        )
    assert status == {first: "aborted", second: "succeeded"}
    engine.dispose()


def test_a_crawl_cut_short_is_tried_again_not_recorded_as_done(
    pg_url: str, request: pytest.FixtureRequest
) -> None:
    """Review: a crawl process stopped by a signal (systemd stopping the unit, a Ctrl-C that
    reached the whole process group) ended Scrapy's way, with finish reason 'shutdown' and
    exit status 0, and its job was recorded as done with the site half crawled. It is now
    tried again and resumes."""
    engine = _fresh(pg_url)
    worker = _slow_crawl_started(pg_url, request, 0.3)
    crawls = _children(worker.pid)
    assert crawls, "no crawl process"
    for pid in crawls:
        os.kill(pid, signal.SIGTERM)
    _wait(lambda: _pending(engine) == 0, "the crawl job to end")
    with engine.connect() as c:
        status, attempts = c.execute(
            text(
                "SELECT status::text, attempts FROM procrastinate_jobs "
                "WHERE task_name LIKE '%crawl_site'"
            )
        ).one()
    assert (status, attempts) == ("succeeded", 2)
    articles = [p for p in _captures(engine) if "/news/article-" in p]
    assert len(articles) == 12, articles
    engine.dispose()


def test_a_refused_queued_recheck_forgets_nothing(runner: object, sqlite_url: str) -> None:
    """Review: `match --queue --recheck` forgot every page's check before it found that the
    queue needs PostgreSQL (or that a run was already going), then refused the run."""
    from click.testing import CliRunner

    from spintrace.cli import cli

    assert isinstance(runner, CliRunner)
    data = Path(__file__).resolve().parent.parent / "spintrace" / "demo" / "data"
    for args in (
        ["db", "upgrade"],
        ["sources", "import", str(data / "sources.jsonl")],
        ["pages", "import", str(data / "pages.jsonl")],
        ["match"],
    ):
        assert runner.invoke(cli, ["--db", sqlite_url, *args]).exit_code == 0, args
    engine = open_engine(sqlite_url)
    with engine.connect() as c:
        before = c.scalar(text("SELECT count(*) FROM match_checks"))
    assert before
    result = runner.invoke(cli, ["--db", sqlite_url, "match", "--queue", "--recheck"])
    assert result.exit_code == 1 and "needs a PostgreSQL database" in result.output
    with engine.connect() as c:
        assert c.scalar(text("SELECT count(*) FROM match_checks")) == before
    engine.dispose()


def test_a_plain_crawl_waits_its_turn_too(pg_url: str) -> None:
    """Review: `spintrace crawl` in process took no site lock, so it could crawl a site while
    a worker's crawl of it ran. It now takes the same lock and says who holds it."""
    engine = _fresh(pg_url)
    with host_lock(engine, ["127.0.0.1:9"]):
        done = _spintrace(pg_url, "crawl", "http://127.0.0.1:9/")
    assert done.returncode != 0
    assert "127.0.0.1:9 is being crawled by another process" in done.stderr
    assert "Traceback" not in done.stderr
    engine.dispose()


def test_one_match_run_at_a_time(pg_url: str) -> None:
    """Review: a match in a process (`spintrace match`, a watch round) could run while a queued
    run was going, and learn substitutions in the middle of it (a queued run's links must equal
    one process's). A match in a process now refuses while a queued run is pending, and
    `match --queue` refuses while a match runs in a process."""
    from spintrace.db.locks import MATCH_RUN_KEY, QUEUED_RUN_TASKS, take_lock
    from spintrace.jobs.batches import TASK_PREFIX

    assert (f"{TASK_PREFIX}match_run", f"{TASK_PREFIX}match_batch") == QUEUED_RUN_TASKS
    engine = _fresh(pg_url)
    _cli(pg_url, "match", "--queue")  # no worker: the run waits
    done = _spintrace(pg_url, "match")
    assert done.returncode == 1
    assert "a queued match run is waiting or going" in done.stderr
    assert "Traceback" not in done.stderr
    with engine.begin() as c:
        c.execute(text("DELETE FROM procrastinate_jobs"))
    _cli(pg_url, "match")  # nothing pending: runs
    with engine.connect() as holder:  # a match running in another process
        assert take_lock(holder, MATCH_RUN_KEY, wait=0)
        done = _spintrace(pg_url, "match", "--queue")
    assert done.returncode == 1
    assert "a match is running in a process" in done.stderr
    engine.dispose()


def test_a_waiting_match_run_looks_less_often_as_it_ages() -> None:
    """Each look of a waiting match run is a job row: looking every second added about 1,000
    rows to a 16-minute indexing wait at a million sources. A young run looks every second
    (a small run goes on at once); an old one every 10 s."""
    since = datetime(2026, 1, 1, tzinfo=UTC)
    elapsed = looks = 0
    while elapsed < 16 * 60:
        elapsed += wait_before_look(since.isoformat(), since + timedelta(seconds=elapsed))[
            "seconds"
        ]
        looks += 1
    assert looks <= 130  # looking every second: 960
    assert wait_before_look(since.isoformat(), since) == {"seconds": 1}
    assert wait_before_look(since.isoformat(), since + timedelta(hours=5)) == {"seconds": 10}


def test_a_child_process_that_died_says_how() -> None:
    assert exit_reason(1) == "exited with status 1"
    assert "SIGKILL" in exit_reason(-signal.SIGKILL) and "memory" in exit_reason(-9)
    assert exit_reason(-signal.SIGTERM) == "was stopped by SIGTERM"


def test_queue_commands_without_a_database_ask_for_postgresql(
    runner: object, tmp_path: Path
) -> None:
    """Regression: with no database given, `worker` and `--queue` said to create a SQLite
    file, which then only got "needs PostgreSQL"."""
    from click.testing import CliRunner

    from spintrace.cli import cli

    assert isinstance(runner, CliRunner)
    missing = str(tmp_path / "spintrace.db")
    for args in (["worker"], ["jobs"], ["match", "--queue"], ["captures", "process", "--queue"]):
        result = runner.invoke(cli, ["--db", missing, *args])
        assert result.exit_code == 1, (args, result.output)
        assert "needs a PostgreSQL database" in result.output
        assert "postgresql+psycopg://" in result.output and "no database at" not in result.output
        assert ("leave out --queue" in result.output) == ("--queue" in args)


def test_queue_commands_name_an_unknown_database_kind(runner: object) -> None:
    """Regression (README tester): `worker` with --db postgres://... said it "needs a
    PostgreSQL database" (it was given one, misspelt); now the kind is named, as elsewhere."""
    from click.testing import CliRunner

    from spintrace.cli import cli

    assert isinstance(runner, CliRunner)
    for args in (["worker"], ["jobs"], ["match", "--queue"]):
        result = runner.invoke(cli, ["--db", "postgres://postgres@127.0.0.1/x", *args])
        assert result.exit_code == 1, (args, result.output)
        assert "unknown database kind 'postgres'" in result.output, result.output
        assert "needs a PostgreSQL database" not in result.output


def test_a_job_that_failed_for_a_stated_reason_is_logged_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: a queued crawl whose start page could not be fetched printed a 20-line
    traceback in the worker's output; the reason alone is what its user needs. A bug keeps its
    traceback."""
    import logging

    from spintrace.jobs.crawl import CrawlJobError
    from spintrace.jobs.worker import ExpectedFailures

    logger = logging.getLogger("test.expected-failures")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    logger.addFilter(ExpectedFailures())
    logger.propagate = False
    try:
        for error in (CrawlJobError("could not fetch http://127.0.0.1:1/"), ValueError("a bug")):
            try:
                raise error
            except Exception as exc:
                logger.error("Job crawl_site[7] ended with status: Error", exc_info=exc)
    finally:
        logger.removeHandler(handler)
    out = capsys.readouterr().err
    expected, bug = out.split("Job crawl_site[7]")[1:]
    assert "CrawlJobError: could not fetch http://127.0.0.1:1/" in expected
    assert "Traceback" not in expected
    assert "Traceback" in bug and "ValueError: a bug" in bug
