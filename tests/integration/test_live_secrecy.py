"""Live figures on the projector never give single ballots away.

A watcher of the screen sees every live batch, the final result once revealed, and the turnout
tick (已投 per group, moving with every cast, so the watcher knows which group cast when and
which ballots each state was counted from). The property: no two public states of an item differ
by the ballots of fewer than k voters – in total, and in every group whose own figures a state
shows (kinds counted per group). A state that shows nothing of a group is, for that group, the
same as no state at all; how it compares with the final result is the final result's own matter.
"""

from __future__ import annotations

import random
from datetime import timedelta
from itertools import combinations

import pytest
from conftest import ACTOR
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ballot.clock import utcnow
from ballot.counting.errors import OperationError
from ballot.counting.kinds import get_kind
from ballot.counting.kinds.base import BallotData
from ballot.live import screen
from ballot.meetings.results import item_result
from ballot.meetings.setup import update_group
from ballot.meetings.sittings import close_item, live_counts, open_item
from ballot.storage.models import Item, Meeting, VoterGroup
from ballot.voting import credentials
from ballot.voting.casting import cast_ballot
from ballot.voting.codes import new_receipt

GROUP_NAMES = ["委员", "列席", "特邀", "顾问"]
CANDIDATES = ["张伟", "王芳", "李娜"]
WRITE_INS = ["赵敏", "钱坤"]


def meeting_toml(kind: str, sizes: list[int], k: int) -> str:
    groups = "".join(f'[[groups]]\nname = "{GROUP_NAMES[i]}"\nexpected = {n}\n' for i, n in enumerate(sizes))
    names = ", ".join(f'"{GROUP_NAMES[i]}"' for i in range(len(sizes)))
    if kind == "recommend":
        body = 'kind = "recommend"\nseats = 2\ncandidates = ["张伟", "王芳", "李娜"]\nwrite_ins = true\n'
    else:
        weights = ""
        if len(sizes) > 1:
            share = {2: ["0.5", "0.5"], 3: ["0.4", "0.3", "0.3"]}[len(sizes)]
            weights = "weights = {" + ", ".join(f'"{GROUP_NAMES[i]}" = "{w}"' for i, w in enumerate(share)) + "}\n"
        body = f'kind = "score"\ncandidates = ["张伟", "王芳"]\nmin = 0\nmax = 10\nstep = 1\n{weights}'
    return (
        f'[meeting]\ntitle = "实时票数"\n{groups}[[items]]\ntitle = "表决"\n{body}'
        f"groups = [{names}]\nlive = true\nlive_batch = {k}\n"
    )


class Hall:
    """One item with live numbers being voted on, and everything its screen ever showed."""

    def __init__(self, world, kind: str, sizes: list[int], k: int, sittings: bool = False):
        self.world, self.k = world, k
        self.meeting = world.meeting(meeting_toml(kind, sizes, k))
        self.item_id = self.meeting.items[0].id
        self.groups = [g.id for g in self.meeting.groups]
        self.codes = {}
        for g in self.meeting.groups:
            world.present(g.id, g.expected)
            self.codes[g.id] = world.codes(g.id, g.expected)
        if sittings:  # each group votes at its own sitting: the first one now
            self.open_group(0)
        else:
            world.open(self.item_id)
        self.now = utcnow()
        self.cast_log: list[BallotData] = []  # in the order cast: the turnout tick tells a watcher this much
        self.shown: list[dict] = []  # every live result a screen showed
        self.partial: list[tuple[list[BallotData], set[int]]] = []  # results shown while groups still vote
        self.closed: set[int] = set()
        self.final: dict | None = None

    def cast(self, group_index: int, choices: dict) -> bool:
        gid = self.groups[group_index % len(self.groups)]
        if not self.codes[gid]:
            return False
        key = self.world.settings.derived_key("credential")
        with self.world.db.read() as s:
            credential_id = credentials.find_usable(s, key, self.codes[gid].pop()).id
        with self.world.db.write() as s:
            cast_ballot(s, credential_id, self.item_id, choices, new_receipt())
        self.cast_log.append(BallotData(gid, True, choices))
        return True

    def watch(self, seconds: float = 10) -> None:
        """Time passes, the screen's watcher publishes what is due, and the screen is read."""
        self.now += timedelta(seconds=seconds)
        with self.world.db.write() as s:
            screen.publish_live(s, s.get(Item, self.item_id), now=self.now)
        with self.world.db.read() as s:
            shown = screen.state(s, s.get(Meeting, self.meeting.id), now=self.now)["item"]
        if shown and shown.get("live"):
            self.shown.append(shown["live"])

    def open_group(self, index: int) -> None:
        with self.world.db.write() as s:
            open_item(s, ACTOR, self.item_id, self.groups[index])

    def close_group(self, index: int) -> None:
        """One group's sitting ends: its result may be revealed while the others vote."""
        with self.world.db.write() as s:
            close_item(s, ACTOR, self.item_id, self.groups[index])
        self.closed.add(self.groups[index])
        self.partial.append((list(self.cast_log), set(self.closed)))

    def close(self) -> None:
        self.world.close(self.item_id)
        with self.world.db.read() as s:
            self.final = item_result(s, s.get(Item, self.item_id))

    # -- what the states were counted from ----------------------------------------------------

    def figures(self, result: dict) -> dict:
        """The per-candidate figures of a result (what could give a ballot away)."""
        if result["kind"] == "recommend":
            return {r["name"]: r["votes"] for r in result["rows"]}
        return {(r["name"], g["group"]): (g["judges"], g["mean"]) for r in result["rows"] for g in r["groups"]}

    def prefix_of(self, result: dict) -> int:
        """How many of the first ballots a state was counted from; and it must be exactly them."""
        n = result["counts"]["cast"]
        with self.world.db.read() as s:
            item = s.get(Item, self.item_id)
            config, counts = item.config, live_counts(s, item)
        expected = get_kind(result["kind"]).tally(config, self.cast_log[:n], counts)
        assert self.figures(result) == self.figures(expected), "a live figure that is not a state of the first ballots"
        return n

    def view(self, ballots: list[BallotData]) -> dict:
        """What a state shows, as numbers of ballots: in total where figures are pooled, per group
        where they are shown per group (0: nothing of that group is shown)."""
        if not get_kind(self.final["kind"]).per_group:
            return {"total": len(ballots)}
        return {g: sum(1 for b in ballots if b.group_id == g) for g in self.groups}

    def check(self) -> None:
        """Every live batch differs from no state, from every other batch and from every result
        shown (the final one, and a closed group's while others still vote) by 0 or at least k
        ballots, per view."""
        assert self.final["counts"]["cast"] == len(self.cast_log)
        states = [("none", self.view([]))]
        states += [("batch", self.view(self.cast_log[: self.prefix_of(r)])) for r in self.shown]
        for ballots, closed in self.partial:
            states.append(("result", self.view([b for b in ballots if b.group_id in closed])))
        states += [("result", self.view(self.cast_log))]
        for (kind_a, a), (kind_b, b) in combinations(states, 2):
            if "batch" not in (kind_a, kind_b):
                continue  # no live figure involved: results on their own
            for key in a:
                if "result" in (kind_a, kind_b) and 0 in (a[key], b[key]):
                    continue  # one of the two shows nothing of this view: the other on its own
                differ = abs(b[key] - a[key])
                assert differ == 0 or differ >= self.k, (
                    f"{kind_a} {a} and {kind_b} {b} differ by {differ} < k = {self.k} ballots in {key}"
                )


def recommend_choice(rng: random.Random) -> dict:
    chosen = sorted(rng.sample(range(len(CANDIDATES)), rng.randint(0, 2)))
    written = [rng.choice(WRITE_INS)] if len(chosen) < 2 and rng.random() < 0.3 else []
    return {"chosen": chosen, "written": written}


def score_choice(rng: random.Random) -> dict:
    return {"scores": [[str(rng.randint(0, 10))], [str(rng.randint(0, 10))]]}


def test_a_one_person_group_is_never_the_difference_between_a_batch_and_the_result(world):
    """Observed: the 列席 group (1 person) was left out of the batch for being under k, and its
    ballot was then exactly the difference between the last batch and the revealed result."""
    hall = Hall(world, "recommend", [10, 1], k=3)
    for _ in range(3):
        hall.cast(0, {"chosen": [0], "written": []})
        hall.watch()
    hall.cast(1, {"chosen": [1], "written": []})  # 列席's only member
    hall.watch()
    hall.close()
    hall.check()


def test_a_batch_then_one_more_ballot_then_close_does_not_give_the_last_ballot(world):
    """Observed: one group, a batch at 5 ballots, one more ballot, close: the result minus the
    batch was the 6th ballot, and the turnout tick had shown when it was cast."""
    hall = Hall(world, "recommend", [20], k=5)
    for _ in range(5):
        hall.cast(0, {"chosen": [0], "written": []})
        hall.watch()
    hall.cast(0, {"chosen": [1], "written": []})
    hall.watch()
    hall.close()
    hall.check()


def test_batches_still_come_but_only_once_k_more_ballots_are_in_after_them(world):
    hall = Hall(world, "recommend", [20], k=5)
    for _ in range(9):
        hall.cast(0, {"chosen": [0], "written": []})
        hall.watch()
    assert hall.shown == []  # the count of the first 5 is held until 5 more are in
    hall.cast(0, {"chosen": [1], "written": []})
    hall.watch()
    assert hall.prefix_of(hall.shown[-1]) == 5
    for _ in range(5):
        hall.cast(0, {"chosen": [2], "written": []})
        hall.watch()
    assert hall.prefix_of(hall.shown[-1]) == 10  # the figures of exactly the first 10 ballots
    hall.close()
    hall.check()


def test_figures_per_group_change_only_by_k_ballots_of_that_group(world):
    """评委打分 at separate sittings: once the first group's sitting ends a little after its last
    batch, the second group's ballots must not carry a batch that would show the first group's
    late ballots (its result, shown at its close, would then be one or two ballots away)."""
    hall = Hall(world, "score", [8, 6], k=3, sittings=True)
    for _ in range(6):
        hall.cast(0, score_choice(random.Random(len(hall.cast_log))))
        hall.watch()
    assert hall.prefix_of(hall.shown[-1]) == 3  # 甲 3, held until 甲 had 3 more
    hall.cast(0, score_choice(random.Random(7)))
    hall.watch()
    hall.close_group(0)  # 甲: 7 ballots, its result may be revealed now
    hall.open_group(1)
    for n in range(6):
        hall.cast(1, score_choice(random.Random(10 + n)))
        hall.watch()
    assert hall.prefix_of(hall.shown[-1]) == 3  # the count of 甲 6 never shows: 甲 gets no 3 more
    hall.close()
    hall.check()


def test_the_screen_and_its_snapshot_show_no_figure_of_a_held_count(client, world):
    from test_screen import key_for

    hall = Hall(world, "recommend", [20], k=3)
    key = key_for(world, hall.meeting)
    for _ in range(4):
        hall.cast(0, {"chosen": [0], "written": []})
        html = client.get(f"/screen/{key}/snapshot").get_json()["html"]  # also publishes what is due
    assert "张伟" not in html and "实时票数按批公布" in html
    with world.db.read() as s:
        assert s.query(screen.LiveTally).count() == 1  # the count of the first 3, held


def test_live_is_refused_for_figures_per_group_when_a_group_is_smaller_than_k(world):
    with pytest.raises(OperationError, match="应到 2 人，少于实时票数每批 3 票"):
        world.meeting(meeting_toml("score", [7, 2], 3))
    m = world.meeting(meeting_toml("score", [7, 3], 3))  # allowed; then 应到 is lowered before it opens
    with world.db.write() as s:
        update_group(s, ACTOR, s.get(VoterGroup, m.groups[1].id), "列席", 2)
    refused = "列席”应到 2 人，少于实时票数每批 3 票"
    with world.db.write() as s, pytest.raises(OperationError, match=refused):
        open_item(s, ACTOR, m.items[0].id)
    # pooled figures: a group of one is no risk, its ballot is only ever counted among k or more
    Hall(world, "recommend", [7, 1], k=3)


@pytest.mark.parametrize("kind", ["recommend", "score"])  # figures pooled; figures per group
@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    k=st.integers(2, 4),
    sizes=st.lists(st.sampled_from([1, 2, 3, 5, 8, 13]), min_size=1, max_size=3),
    casts=st.integers(6, 40),  # a close before everyone has voted is the usual case here
    seed=st.integers(0, 2**16),
)
def test_no_two_public_states_differ_by_fewer_than_k_ballots(world, kind, k, sizes, casts, seed):
    """Random casts in groups of random sizes (a 1-person group among them), the screen read
    after each at a random pace, then the chair closes – early, or once everyone has voted."""
    rng = random.Random(seed)
    if kind == "score":  # figures per group: a group under k is refused (tested above)
        sizes = [max(n, k) for n in sizes]
    sittings = kind == "score" and len(sizes) > 1 and rng.random() < 0.5  # groups one after another
    hall = Hall(world, kind, sizes, k, sittings=sittings)
    choice = recommend_choice if kind == "recommend" else score_choice
    sitting = group = 0
    for _ in range(casts):
        if rng.random() < 0.3:  # a group's members tend to come up together, one row at a time
            group = rng.randrange(len(sizes))
        if sittings and sitting + 1 < len(sizes) and rng.random() < 0.15:
            hall.close_group(sitting)  # early or not: whoever has not voted by now does not
            sitting += 1
            hall.open_group(sitting)
        elif not hall.cast(sitting if sittings else group, choice(rng)):
            continue  # that group has all voted
        hall.watch(rng.choice([1, 3, 10]))  # at times sooner than a batch may follow another
    hall.close()
    event(f"{kind}{' at sittings' if sittings else ''}: {'some' if hall.shown else 'no'} batch shown")
    hall.check()
