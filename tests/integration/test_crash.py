"""Durability under crashes, through `ballot serve` on loopback, on both databases: 300 voters
(phones and the API) retry whatever lost its answer while a worker is killed (-9), then the whole
server (master and workers at once) and it is started again; on PostgreSQL also the database
server is restarted with `pg_ctl -m immediate` mid-run. After close: every receipt shown to a
voter is on the published receipt list, no code is spent twice, one ballot per spend, and the
anonymous export recounts to the result.

PostgreSQL runs on a throwaway cluster of the test's own (the shared one serves other tests in
parallel and must not be restarted)."""

from __future__ import annotations

import pytest
from crashkit import Burst, Server, ThrowawayPostgres, close_and_check, prepare, run_crash, standard_actions

from ballot.config import Settings

pytestmark = pytest.mark.server

VOTERS = 300


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_no_acknowledged_ballot_lost_and_no_code_spent_twice_through_crashes(database, tmp_path):
    postgres = None
    if database == "postgresql":
        if not ThrowawayPostgres.available():
            pytest.skip("PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin); scripts/setup.sh test")
        postgres = ThrowawayPostgres()
        url = postgres.start()
    else:
        url = f"sqlite:///{tmp_path / 'ballot.db'}"
    instance = tmp_path / "instance"
    instance.mkdir()
    settings = Settings(instance_path=instance, database_url=url, master_secret=b"crash-secret-" + b"x" * 20)
    server = Server(settings, tmp_path / "server.log", workers=2, threads=4)
    try:
        item_id, codes = prepare(settings, VOTERS)
        server.start()
        bursts = [Burst(0.2, "worker"), Burst(0.45, "server")]
        if postgres:
            bursts.append(Burst(0.7, "postgres"))
        bursts.append(Burst(0.85, "worker"))
        tally = run_crash(
            server, item_id, codes, bursts, standard_actions(server, postgres), threads=12, seconds=150, log=print
        )
        server.stop()
        verdict = close_and_check(settings, item_id, tally)
    finally:
        server.stop()
        if postgres:
            postgres.stop()
    print(verdict.line(), dict(tally.errors))
    assert not tally.anomalies, tally.anomalies[:5]
    assert not tally.unfinished, f"{len(tally.unfinished)} voters never got an answer"
    assert len(tally.acknowledged) + len(tally.unacknowledged) == VOTERS
    assert sum(tally.errors.values()) > 0, "the crashes cut no request: the test proved nothing"
    assert verdict.lost == []  # every receipt shown is on the published list
    assert verdict.double_spends == 0
    assert verdict.ballots == verdict.spends
    assert verdict.ballots == VOTERS  # "already used" after a lost answer: that first attempt did commit
    assert verdict.receipts_listed == verdict.ballots
    assert verdict.recount_ok
