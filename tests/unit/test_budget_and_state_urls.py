"""A run's share of the workspace budget, and which `state:` values are folders or buckets."""

from __future__ import annotations

import pytest

from cio_retl.project import Destination
from cio_retl.delivery.budget import run_share
from cio_retl.project.state_location import is_remote, url_problem
from cio_retl.state.slots import workspace_key


@pytest.mark.parametrize(("budget", "runs", "rate", "burst"), [
    (100, 1, 100, 10),   # one run alone: the whole budget and burst, as before
    (100, 2, 50, 5),     # two runs: half each, and half the burst each
    (100, 4, 25, 2.5),
    (20, 2, 10, 1),      # never below a burst of one request
])
def test_each_run_gets_an_equal_share_of_the_rate_and_the_burst(budget, runs, rate, burst) -> None:
    bucket = run_share(Destination(requests_per_second=budget, concurrent_runs=runs))
    assert (bucket.rate, bucket.burst) == (rate, burst)


def test_the_shares_of_all_runs_add_up_to_at_most_one_runs_whole_budget() -> None:
    for runs in range(1, 9):
        share = run_share(Destination(requests_per_second=100, concurrent_runs=runs))
        assert share.rate * runs == pytest.approx(100) and share.burst * runs <= max(10, runs)


def test_a_workspace_is_its_host_and_site_id() -> None:
    us = Destination(site_id="a").base_url
    assert workspace_key(us, "a") == workspace_key(us + "/", "a")
    eu = Destination(region="eu").base_url
    assert len({workspace_key(us, "a"), workspace_key(us, "b"), workspace_key(eu, "a")}) == 3


@pytest.mark.parametrize(("state", "remote", "problem"), [
    (".cio_retl", False, None),
    ("/var/lib/cio", False, None),
    ("s3://bucket/prefix", True, None),
    ("gs://bucket", True, None),
    ("az://container/a/b", True, None),
    ("ftp://host/x", False, "'ftp://' is not supported"),
    ("gs:///x", True, "names no bucket"),
])
def test_state_urls(state, remote, problem) -> None:
    assert is_remote(state) is remote
    found = url_problem(state)
    assert (found is None) if problem is None else (problem in found)
