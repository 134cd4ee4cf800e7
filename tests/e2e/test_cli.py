"""The administration command line against a data directory: clear messages, non-zero exits, nothing
half-written."""
import pytest


@pytest.mark.postgres
def test_user_commands_validate_and_leave_nothing_half_written(parley_factory):
    p = parley_factory()
    assert "added extension 200" in p.cli("user", "add", "200", "--name", "Ann", "--password", "pw2000",
                                          "--pin", "4711", "--email", "ann@example.com").stdout
    for args, message in [
        (["user", "add", "20x", "--name", "B", "--password", "pw2000"], "extension must be 2 to 10 digits"),
        (["user", "add", "200", "--name", "Dup", "--password", "pw2000"], "already exists"),
        (["user", "add", "201", "--name", "C", "--password", "pw2000", "--pin", "12"], "PIN refused: a PIN needs at least 4 digits"),
        (["user", "add", "201", "--name", "C", "--password", "pw2000", "--pin", "2222"], "too easy to guess"),
        (["user", "add", "201", "--name", "C", "--password", "pw"], "password must have at least 4"),
        (["user", "remove", "999"], "does not exist"),
        (["user", "set", "200"], "nothing to change"),
        (["user", "set", "200", "--name", "Zed", "--email", "not-an-email"], "not an email address"),
    ]:
        r = p.cli(*args, check=False)
        assert r.returncode != 0 and message in r.stderr, (args, r.stderr)
    missing = p.cli("user", "add", "202", "--name", "D", check=False)
    assert missing.returncode != 0 and "--password" in missing.stderr
    listing = p.cli("user", "list").stdout
    assert "Ann" in listing and "Zed" not in listing and "201" not in listing and "202" not in listing
    p.cli("user", "set", "200", "--name", "Ann B", "--email", "")
    assert "Ann B" in p.cli("user", "list").stdout
    assert "removed extension 200" in p.cli("user", "remove", "200").stdout
    assert p.cli("user", "list").stdout.count("\n") == 1
