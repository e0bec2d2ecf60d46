"""When a connect cut short by the learnt wait gets a second SYN: always at first, rarely once second tries have
found nothing, always again once one of them is answered."""

from __future__ import annotations

from scanner.engine.retry_policy import PROBATION, SAMPLE_EVERY, SINGLE_TRY_FACTOR, RetryPolicy


def test_every_connect_cut_short_is_retried_during_probation():
    policy = RetryPolicy()
    assert all(policy.should_retry() for _ in range(PROBATION))
    assert policy.retried == PROBATION


def test_useless_second_tries_become_samples_and_the_first_wait_grows():
    policy = RetryPolicy()
    for _ in range(PROBATION):
        policy.should_retry()
    assert policy.first_try_factor() == SINGLE_TRY_FACTOR  # longer than the two tries' waits together (1 + 2)
    decisions = [policy.should_retry(factor=SINGLE_TRY_FACTOR) for _ in range(SAMPLE_EVERY * 10)]
    assert sum(decisions) == 10  # one in SAMPLE_EVERY keeps watching for lost SYNs


def test_one_answered_second_try_brings_them_all_back():
    policy = RetryPolicy()
    for _ in range(PROBATION):
        policy.should_retry()
    policy.second_try_answered()  # a SYN was lost, or a host is farther than the learnt wait
    assert policy.first_try_factor() == 1
    assert all(policy.should_retry(factor=SINGLE_TRY_FACTOR) for _ in range(100))


def test_an_answer_during_probation_keeps_second_tries_for_good():
    policy = RetryPolicy()
    policy.should_retry()
    policy.second_try_answered()
    for _ in range(PROBATION * 4):
        assert policy.should_retry(factor=SINGLE_TRY_FACTOR)


def test_a_connect_that_waited_one_learnt_wait_is_always_retried():
    """Connects started before the policy turned to single tries waited only one learnt wait: they get their second
    try, or a port would be called filtered after 0.1 s."""
    policy = RetryPolicy()
    for _ in range(PROBATION):
        policy.should_retry()
    assert policy.first_try_factor() == SINGLE_TRY_FACTOR
    assert all(policy.should_retry(factor=1) for _ in range(50))
    assert sum(policy.should_retry(factor=SINGLE_TRY_FACTOR) for _ in range(SAMPLE_EVERY * 4)) == 4
