"""Calls between two extensions through Parley's B2BUA, with SIPp as caller and callee."""
import pytest
import time


def setup_pair(parley_factory, sipp, **config):
    p = parley_factory(**config)
    p.add_user("100", "secret100")
    p.add_user("101", "secret101")
    p.start()
    callee_port = p.sip_port + 4
    sipp(p, "register.xml", port=callee_port, user="101", password="secret101", service="101",
         keys={"expires": 300}).assert_ok()
    return p, callee_port


def call(p, sipp, scenario, callee_scenario, subst=None, **kw):
    callee = sipp(p, callee_scenario, port=p.sip_port + 4, subst=subst) if callee_scenario else None
    time.sleep(0.3)
    caller = sipp(p, scenario, port=p.sip_port + 10, user="100", password="secret100", service=kw.get("to", "101"),
                  subst={"caller": "100", **(subst or {})})
    return caller, callee


@pytest.mark.postgres
def test_call_is_answered_relayed_and_hung_up_by_the_caller(parley_factory, sipp):
    p, _ = setup_pair(parley_factory, sipp)
    caller, callee = call(p, sipp, "uac_call.xml", "uas_answer.xml", subst={"hold": 1500})
    time.sleep(0.8)
    calls = p.status()["calls"]
    assert [(c["caller"], c["callee"], c["state"]) for c in calls] == [("100", "101", "answered")]
    caller.assert_ok()
    callee.assert_ok()
    assert p.status()["calls"] == []


def test_callee_hangs_up_and_the_caller_gets_the_bye(parley_factory, sipp):
    p, _ = setup_pair(parley_factory, sipp)
    caller, callee = call(p, sipp, "uac_call_callee_bye.xml", "uas_answer_bye.xml")
    caller.assert_ok()
    callee.assert_ok()


def test_without_voicemail_a_busy_callee_gives_486(parley_factory, sipp):
    p, _ = setup_pair(parley_factory, sipp, voicemail=False)
    caller, callee = call(p, sipp, "uac_call_fails.xml", "uas_status.xml", subst={"status": 486})
    caller.assert_ok()
    callee.assert_ok()


def test_without_voicemail_no_answer_times_out_with_480_and_cancels_the_callee(parley_factory, sipp):
    p, _ = setup_pair(parley_factory, sipp, no_answer_secs=2, voicemail=False)
    caller, callee = call(p, sipp, "uac_call_fails.xml", "uas_ring_cancel.xml", subst={"status": 480})
    caller.assert_ok()
    callee.assert_ok()


def test_caller_cancel_before_answer_reaches_the_callee(parley_factory, sipp):
    p, _ = setup_pair(parley_factory, sipp)
    caller, callee = call(p, sipp, "uac_cancel.xml", "uas_ring_cancel.xml")
    caller.assert_ok()
    callee.assert_ok()


def test_unknown_extension_gets_404_and_without_voicemail_unregistered_gets_480(parley_factory, sipp):
    p, _ = setup_pair(parley_factory, sipp, voicemail=False)
    p.add_user("102", "secret102")
    caller, _ = call(p, sipp, "uac_call_fails.xml", None, subst={"status": 404}, to="199")
    caller.assert_ok()
    caller, _ = call(p, sipp, "uac_call_fails.xml", None, subst={"status": 480}, to="102")
    caller.assert_ok()


def test_all_contacts_ring_and_the_losers_are_cancelled(parley_factory, sipp):
    p, first = setup_pair(parley_factory, sipp)
    second = p.sip_port + 16
    sipp(p, "register.xml", port=second, user="101", password="secret101", service="101",
         keys={"expires": 300}).assert_ok()
    assert len(p.status()["registrations"]) == 2
    ringer = sipp(p, "uas_ring_cancel.xml", port=second)
    caller, answerer = call(p, sipp, "uac_call.xml", "uas_answer.xml", subst={"hold": 1000})
    caller.assert_ok()
    answerer.assert_ok()
    ringer.assert_ok()


def test_hold_and_resume_reinvites_are_passed_across(parley_factory, sipp):
    p, _ = setup_pair(parley_factory, sipp)
    caller, callee = call(p, sipp, "uac_hold.xml", "uas_hold.xml")
    caller.assert_ok()
    callee.assert_ok()


def test_shutdown_ends_calls_in_progress_with_bye(parley_factory, sipp):
    p, _ = setup_pair(parley_factory, sipp)
    caller, callee = call(p, sipp, "uac_call_callee_bye.xml", "uas_answer.xml")
    deadline = time.time() + 5
    while not p.status()["calls"]:
        assert time.time() < deadline
        time.sleep(0.1)
    time.sleep(0.3)
    assert p.stop() == 0
    caller.assert_ok()
    callee.assert_ok()
    assert "stopped" in p.log.read_text()


def test_without_call_waiting_a_callee_in_a_call_is_busy(parley_factory, sipp):
    p, _ = setup_pair(parley_factory, sipp, call_waiting=False, voicemail=False)
    caller, callee = call(p, sipp, "uac_call.xml", "uas_answer.xml", subst={"hold": 3000})
    deadline = time.time() + 5
    while not p.status()["calls"] or p.status()["calls"][0]["state"] != "answered":
        assert time.time() < deadline
        time.sleep(0.1)
    p.add_user("102", "secret102")
    second = sipp(p, "uac_call_fails.xml", port=p.sip_port + 16, user="102", password="secret102", service="101",
                  subst={"caller": "102", "status": 486})
    second.assert_ok()
    caller.assert_ok()
    callee.assert_ok()
