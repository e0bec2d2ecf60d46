"""When a connect cut short by the learnt wait gets a second SYN: always at first, rarely once second tries have
found nothing, always again once one of them is answered."""

from __future__ import annotations

from scanner.scan.retry_policy import PROBATION, SAMPLE_EVERY, SINGLE_TRY_FACTOR, RetryPolicy


def test_every_connect_cut_short_is_retried_during_probation():
    policy = RetryPolicy()
    for _ in range(PROBATION):
        assert policy.first_try_factor() == 1
        assert policy.should_retry(1)
    assert policy.retried == PROBATION


def test_useless_second_tries_become_samples_and_the_other_connects_wait_once_as_long():
    policy = RetryPolicy()
    for _ in range(PROBATION):
        policy.should_retry(policy.first_try_factor())
    factors = [policy.first_try_factor() for _ in range(SAMPLE_EVERY * 10)]
    assert factors.count(1) == 10  # one in SAMPLE_EVERY still makes two tries, to watch for lost SYNs
    assert factors.count(SINGLE_TRY_FACTOR) == SAMPLE_EVERY * 10 - 10
    assert SINGLE_TRY_FACTOR == 1 + 2  # as long as the two tries together: a dropped port is known as soon
    assert not policy.should_retry(SINGLE_TRY_FACTOR)  # a single try is the only one
    assert policy.should_retry(1)  # a sample gets its second try


def test_one_answered_second_try_brings_them_all_back():
    policy = RetryPolicy()
    for _ in range(PROBATION):
        policy.should_retry(policy.first_try_factor())
    policy.second_try_answered()  # a SYN was lost, or a host is farther than the learnt wait
    assert all(policy.first_try_factor() == 1 for _ in range(100))


def test_an_answer_during_probation_keeps_second_tries_for_good():
    policy = RetryPolicy()
    policy.should_retry(policy.first_try_factor())
    policy.second_try_answered()
    for _ in range(PROBATION * 4):
        assert policy.first_try_factor() == 1
        policy.should_retry(1)


def test_a_connect_started_for_two_tries_gets_its_second_even_after_the_policy_changed():
    """Connects started before the policy turned to single tries waited only one learnt wait: they get their second
    try, or a port would be called filtered after 0.1 s."""
    policy = RetryPolicy()
    early = [policy.first_try_factor() for _ in range(50)]
    for _ in range(PROBATION):
        policy.should_retry(1)
    assert not policy.always
    assert all(policy.should_retry(factor) for factor in early)
