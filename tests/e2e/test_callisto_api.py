"""The Callisto-compatible ManagerAssistant API through real HTTP clients (curl, as in the seed's examples,
and Python's urllib): every status path, authentication and privileges, instances, members, VIP numbers,
announcements, and the audit log."""
import base64
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest


@pytest.fixture
def api(parley_factory):
    p = parley_factory()
    p.add_user("100", "secret100")
    p.cli("user", "add", "150", "--name", "Integration", "--password", "restpw150", "--privilege", "rest")
    p.cli("ma-instance", "add", "MAGroup1")
    p.start()
    return p


def curl(p, *args, user="150:restpw150"):
    """Run curl as the seed's examples do; returns (HTTP status, parsed XML or None, raw body)."""
    cmd = ["curl", "-s", "-w", "\n%{http_code}"]
    if user:
        cmd += ["--user", user]
    out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30, check=True).stdout
    body, code = out.rsplit("\n", 1)
    try:
        xml = ET.fromstring(body)
    except ET.ParseError:
        xml = None
    return int(code), xml, body


def url(p, fn, instance="MAGroup1", area="groups"):
    return f"http://127.0.0.1:{p.http_port}/Applications/inbound/{instance}/rest/{area}/{fn}.asp"


def response(xml):
    return xml.find("Response")


def status(xml):
    r = response(xml)
    s = r.find("status")
    return (s.text if s is not None else r.text) or ""


SEED_ADD = ("gr_name=groupName&gr_welcome=Welcome.wav&gr_ringParallel=1&gr_number=5555&gr_managerTimeout=10"
            "&gr_assistantTimeout=10&gr_overflow=4321&gr_showVIPCall=2&gr_assistantToMng=1&gr_showCalls=0"
            "&gr_mngCallAlarm=Harp.wav&gr_assistCallAlarm=Analog.wav&gr_VIPThreshold=3&gr_mngCallAlarmJ=Analog1.mp3"
            "&gr_assistCallAlarmJ=Analog2.mp3")


def add_seed_group(p):
    return curl(p, "--data", SEED_ADD, "--data-urlencode", "gr_callerName=%managerShortName%**%callerName%",
                "--data-urlencode", "gr_callerNumber=%managerNumber%**%callerNumber%", url(p, "addGroup"))


@pytest.mark.postgres
def test_the_seed_curl_examples_give_the_documented_results(api):
    p = api
    code, xml, _ = add_seed_group(p)
    assert code == 200 and xml.tag == "Callisto" and xml.find("Request").text == "addGroup"
    assert status(xml) == "OK"
    gid = int(response(xml).find("id").text)
    # getGroups with gr_name=support finds nothing yet; with the name's substring it finds the group.
    code, xml, _ = curl(p, "--data", "gr_name=support", url(p, "getGroups"))
    assert code == 200 and len(response(xml).findall("group")) == 0
    code, xml, _ = curl(p, "--data", "gr_name=Name", url(p, "getGroups"))
    (g,) = response(xml).findall("group")
    values = {c.tag: (c.text or "") for c in g}
    assert values == {
        "id": str(gid), "name": "groupName", "welcome": "Welcome.wav", "ringParallel": "1", "number": "5555",
        "managerTimeout": "10", "assistantTimeout": "10", "overflow": "4321", "showVIPcall": "2",
        "VIPCallsRouting": "0", "assistantToMng": "1", "showCalls": "0", "VIPThreshold": "3",
        "callerName": "%managerShortName%**%callerName%", "callerNumber": "%managerNumber%**%callerNumber%",
        "mngCallAlarm": "Harp.wav", "assistCallAlarm": "Analog.wav", "mngCallAlarmJ": "Analog1.mp3",
        "assistCallAlarmJ": "Analog2.mp3",
    }
    # editGroup: enable Show call information (the seed's example, with this group's id).
    code, xml, _ = curl(p, "--data", f"gr_id={gid}&gr_showCalls=1", url(p, "editGroup"))
    assert (code, response(xml).text) == (200, "OK")
    code, xml, _ = curl(p, url(p, "getGroups") + f"?gr_id={gid}")  # GET is allowed for getGroups
    assert response(xml).find("group/showCalls").text == "1"
    # deleteGroup (seed example), then the same id again.
    code, xml, _ = curl(p, "--data", f"gr_id={gid}", url(p, "deleteGroup"))
    assert (code, response(xml).text) == (200, "OK")
    code, xml, _ = curl(p, "--data", f"gr_id={gid}", url(p, "deleteGroup"))
    assert response(xml).text == "INVALID_GROUP_ID"


def test_every_status_path(api):
    p = api
    code, xml, _ = curl(p, "--data", "gr_welcome=x.wav", url(p, "addGroup"))
    assert status(xml) == "PARAMETER_MISSING"
    add_seed_group(p)
    code, xml, _ = add_seed_group(p)
    assert status(xml) == "ALREADY_EXISTS" and response(xml).find("id").text in (None, "")
    code, xml, _ = curl(p, "--data", "gr_showCalls=1", url(p, "editGroup"))
    assert response(xml).text == "PARAMETER_MISSING"
    code, xml, _ = curl(p, "--data", "gr_id=9999&gr_showCalls=1", url(p, "editGroup"))
    assert response(xml).text == "INVALID_GROUP_ID"
    code, xml, _ = curl(p, "--data", "", url(p, "deleteGroup"))
    assert response(xml).text == "PARAMETER_MISSING"
    # Bad values: ERROR, and nothing changes.
    _, before, _ = curl(p, "--data", "gr_name=groupName", url(p, "getGroups"))
    gid = before.find("Response/group/id").text
    for bad in ["gr_ringParallel=2", "gr_overflow=nowhere", "gr_overflow=voicemail:", "gr_showVIPcall=4",
                "gr_VIPCallsRouting=7", "gr_VIPThreshold=-2", "gr_managerTimeout=soon", "gr_showCalls=yes"]:
        code, xml, _ = curl(p, "--data", f"gr_id={gid}&gr_showCalls=1&{bad}", url(p, "editGroup"))
        assert response(xml).text == "ERROR", bad
        assert xml.find("Message").text.split()[1].lower() == bad.split("=")[0].lower(), xml.find("Message").text
        code, xml, _ = curl(p, "--data", f"gr_name=Other&{bad}", url(p, "addGroup"))
        assert status(xml) == "ERROR", bad
    _, after, _ = curl(p, "--data", "gr_name=groupName", url(p, "getGroups"))
    assert ET.tostring(after) == ET.tostring(before)
    _, xml, _ = curl(p, "--data", "gr_name=Other", url(p, "getGroups"))
    assert response(xml).findall("group") == []
    # The documented alternatives: busy / -3, voicemail:<box>, manager/all/marked, thresholds above 5.
    for value, stored in [("overflow=busy", "-3"), ("overflow=-3", "-3"), ("overflow=voicemail:101", "voicemail:101"),
                          ("overflow=-1", "-1"), ("showVIPcall=marked", "2"), ("showVIPcall=manager", "0"),
                          ("VIPThreshold=0", "0"), ("VIPThreshold=9", "9")]:
        k, v = value.split("=", 1)
        _, xml, _ = curl(p, "--data", f"gr_id={gid}&gr_{k}={v}", url(p, "editGroup"))
        assert response(xml).text == "OK", value
        _, xml, _ = curl(p, "--data", f"gr_id={gid}", url(p, "getGroups"))
        assert response(xml).find(f"group/{k}").text == stored, value
    # Renaming onto an existing name is refused: ERROR (editGroup has no ALREADY_EXISTS in seed 002), with
    # a message saying why, and nothing changes.
    curl(p, "--data", "gr_name=Second", url(p, "addGroup"))
    _, xml, _ = curl(p, "--data", f"gr_id={gid}&gr_name=second", url(p, "editGroup"))
    assert response(xml).text == "ERROR" and "exists already" in xml.find("Message").text
    _, xml, _ = curl(p, "--data", f"gr_id={gid}", url(p, "getGroups"))
    assert response(xml).find("group/name").text == "groupName"


def test_authentication_privileges_methods_and_instances(api):
    p = api
    code, _, _ = curl(p, "--data", "gr_name=x", url(p, "getGroups"), user=None)
    assert code == 401
    code, _, _ = curl(p, "--data", "gr_name=x", url(p, "getGroups"), user="150:wrong")
    assert code == 401
    code, xml, _ = curl(p, "--data", "gr_name=x", url(p, "getGroups"), user="100:secret100")
    assert code == 403 and "REST Authentication" in xml.find("Message").text
    code, xml, _ = curl(p, url(p, "addGroup") + "?gr_name=viaGet")  # addGroup is POST only
    assert code == 405
    code, xml, _ = curl(p, url(p, "deleteGroup") + "?gr_id=1")  # deleteGroup allows GET
    assert code == 200 and response(xml).text == "INVALID_GROUP_ID"
    code, xml, _ = curl(p, "--data", "gr_name=x", url(p, "getGroups", instance="NoSuchInstance"))
    assert code == 404 and "NoSuchInstance" in xml.find("Message").text
    code, _, _ = curl(p, "--data", "gr_name=x", url(p, "nothing"))
    assert code == 404
    # Python's own HTTP client, parameters in the query string, Basic auth by header.
    req = urllib.request.Request(url(p, "getGroups") + "?" + urllib.parse.urlencode({"gr_name": ""}))
    req.add_header("Authorization", "Basic " + base64.b64encode(b"150:restpw150").decode())
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/xml")


def test_repeated_wrong_passwords_are_rate_limited(parley_factory):
    p = parley_factory(auth_max_failures=3)
    p.cli("user", "add", "150", "--name", "Integration", "--password", "restpw150", "--privilege", "rest")
    p.cli("ma-instance", "add", "MAGroup1")
    p.start()
    codes = [curl(p, "--data", "gr_name=x", url(p, "getGroups"), user="150:guess")[0] for _ in range(3)]
    assert codes == [401, 401, 401]
    code, _, _ = curl(p, "--data", "gr_name=x", url(p, "getGroups"))  # even the right password, for now
    assert code == 429
    assert "guess" not in p.log.read_text()


def test_members_vip_numbers_and_announcements(api):
    p = api
    _, xml, _ = curl(p, "--data", "gr_name=Sales", url(p, "addGroup"))
    gid = response(xml).find("id").text
    _, xml, _ = curl(p, "--data", f"gr_id={gid}&usr_Name=Bob&mb_number=101&gm_shortName=Bob&gm_type=1",
                     url(p, "addMember", area="members"))
    assert status(xml) == "OK"
    mid = response(xml).find("id").text
    _, xml, _ = curl(p, "--data", f"gr_id={gid}&usr_Name=Ann&mb_number=102&gm_shortName=Ann&gm_type=0",
                     url(p, "addMember", area="members"))
    assert status(xml) == "OK"
    _, xml, _ = curl(p, "--data", "gr_id=9999&mb_number=103", url(p, "addMember", area="members"))
    assert status(xml) == "INVALID_GROUP_ID"
    _, xml, _ = curl(p, "--data", f"gr_id={gid}&mb_number=103&gm_type=5", url(p, "addMember", area="members"))
    assert status(xml) == "ERROR"
    _, xml, _ = curl(p, "--data", f"gr_id={gid}", url(p, "getMembers", area="members"))
    members = response(xml).findall("member")
    assert [(m.find("mb_number").text, m.find("gm_type").text) for m in members] == [("101", "1"), ("102", "0")]
    _, xml, _ = curl(p, "--data", f"gm_id={mid}&gm_shortName=Boss", url(p, "editMember", area="members"))
    assert response(xml).text == "OK"
    _, xml, _ = curl(p, "--data", f"mb_id={mid}&vn_number=0049301234&vn_description=HQ",
                     url(p, "addVIPNumber", area="vip"))
    assert status(xml) == "OK"
    vid = response(xml).find("id").text
    _, xml, _ = curl(p, "--data", "vn_number=1", url(p, "addVIPNumber", area="vip"))
    assert status(xml) == "PARAMETER_MISSING"
    _, xml, _ = curl(p, "--data", f"mb_id={mid}", url(p, "getVIPNumbers", area="vip"))
    assert response(xml).find("vip/vn_description").text == "HQ"
    _, xml, _ = curl(p, "--data", f"gr_id={gid}&an_wave=Welcome.wav&an_priority=2",
                     url(p, "addAnnouncement", area="announcements"))
    assert status(xml) == "OK"
    _, xml, _ = curl(p, "--data", f"gr_id={gid}&an_wave=../../etc/passwd",
                     url(p, "addAnnouncement", area="announcements"))
    assert status(xml) == "ERROR"
    _, xml, _ = curl(p, "--data", f"gr_id={gid}", url(p, "getAnnouncements", area="announcements"))
    assert response(xml).find("announcement/an_wave").text == "Welcome.wav"
    _, xml, _ = curl(p, "--data", f"vn_id={vid}", url(p, "deleteVIPNumber", area="vip"))
    assert response(xml).text == "OK"
    # Deleting the group takes its members and announcements with it.
    curl(p, "--data", f"gr_id={gid}", url(p, "deleteGroup"))
    _, xml, _ = curl(p, "--data", "", url(p, "getMembers", area="members"))
    assert response(xml).findall("member") == []
    audit = p.cli("audit").stdout
    for action in ["ma.addGroup", "ma.addMember", "ma.editMember", "ma.addVIPNumber", "ma.addAnnouncement",
                   "ma.deleteVIPNumber", "ma.deleteGroup", "ma.instance.add", "user.add"]:
        assert action in audit, action
    assert "150" in audit and "127.0.0.1" in audit
