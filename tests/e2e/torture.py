"""SIP torture test messages for Parley's end-to-end tests.

This module holds, as plain data, the test messages of

* RFC 4475 "Session Initiation Protocol (SIP) Torture Test Messages"
  (May 2006), section 3: all 49 messages, in the list ``RFC4475``;
* RFC 5118 "Session Initiation Protocol (SIP) Torture Test Messages for
  Internet Protocol Version 6 (IPv6)" (February 2008), section 4: all 12
  messages, in the list ``RFC5118``.

The messages are the RFCs' normative test data and are reproduced byte for
byte: CRLF line ends, the RFC's odd whitespace, folded lines, embedded NUL /
control bytes, UTF-8 and binary octets exactly where the RFC puts them.  The
RFC's presentation conventions are already expanded here: ``<allOneLine>``
lines are joined, ``<hex>`` runs are raw octets and ``<repeat count=N>`` runs
are repeated (see the small builders below).  Where the RFC's bit-exact
archive differs from what a casual reading of its text suggests (trailing
octets, a missing blank line) the archive wins and ``transport_note`` says so.

Nothing here talks to the network.  An end-to-end test sends each ``data``
over UDP to Parley (rewriting the top Via's sent-by, and for Vias that name a
stream transport possibly the transport, so the answer comes back to the test
socket) and compares the answer with ``expect``:

* an ``int``   -- the status code the RFC (or RFC 3261) asks for;
* ``"parsed"`` -- a valid request: any final answer except 400 is fine
  (401/403/404/405/407/481/483/501... depending on Parley's policy);
* ``"ignore"`` -- a response with no matching transaction, or a message the
  RFC says to drop: nothing must come back;
* ``"any"``    -- the RFC leaves the outcome open (``rfc_says`` explains);
  the server must merely survive and keep answering later messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

CRLF = b"\r\n"

Expect = Union[int, str]


@dataclass(frozen=True)
class Case:
    section: str          # RFC section, e.g. "3.1.1.1"
    name: str             # the RFC's short name for the message, e.g. "wsinv"
    title: str            # the section title
    valid: bool           # does the RFC call the message valid?
    is_request: bool      # request (True) or response (False)
    transport_note: str   # framing / transport remarks ("" if none)
    data: bytes           # the message, exactly
    rfc_says: str         # the RFC's stated handling, summarised
    expect: Expect        # what Parley should answer over UDP (see module doc)


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------

def _msg(*lines: bytes) -> bytes:
    """Terminate every line with CRLF and concatenate.

    A message is written as its start line, its header lines, an empty line
    (``b""``) and then its body lines, so the result ends with CRLF after the
    last body line, as the RFC's messages do.
    """
    return b"".join(line + CRLF for line in lines)


def _sdp(o_addr: bytes, c_addr: bytes | None = None, t: bytes = b"0 0",
         video: bytes = b"m=video 3227 RTP/AVP 31") -> tuple[bytes, ...]:
    """The small SDP body most RFC 4475 messages carry (lines, no CRLFs)."""
    return (
        b"v=0",
        b"o=mhandley 29739 7272939 IN IP4 " + o_addr,
        b"s=-",
        b"c=IN IP4 " + (c_addr if c_addr is not None else o_addr),
        b"t=" + t,
        b"m=audio 49217 RTP/AVP 0 12",
        video,
        b"a=rtpmap:31 LPC",
    )


def _rep(text: bytes, count: int) -> bytes:
    """RFC 4475's <repeat count=N>text</repeat>."""
    return text * count


# RFC 4475 3.1.1.11: the binary (PKCS#7 signedData) part of mpart01, given in
# the RFC as <hex>; 342 octets, containing NULs and bare 0x0D / 0x0A octets.
_MPART01_BINARY = bytes.fromhex(
    "3082015206092A864886F70D010702A08201433082013F020101310930070605"
    "2B0E03021A300B06092A864886F70D010701318201203082011C020101307C30"
    "70310B3009060355040613025553311330110603550408130A43616C69666F72"
    "6E69613111300F0603550407130853616E204A6F7365310E300C060355040A13"
    "05736970697431293027060355040B13205369706974205465737420436572"
    "746966696361746520417574686F7269747902080195007102330113300706"
    "052B0E03021A300D06092A864886F70D01010105000481808EF466F948F0522D"
    "D2E5978E9D95AAE9F2FE15A06659716292E8DA2AA8D8350A68CEFFAE3CBD2BFF"
    "1675DDD5648E593DD64728F26220F7E941749E330D9A15EDABDB93D10C42102E"
    "7B7289D29CC0C9AE2EFBC7C0CFF9172F3B027E4FC027E1546DE4B6AA3ABB3E66"
    "CCCB5DD6C64B8383149CB8E6FF182D944FE57B65BC99D005"
)

_NOTE_STREAM_VIA = ("Top Via names {t}; the message arrives over UDP, so the test "
                    "should rewrite the top Via (sent-by and transport) or the "
                    "answer may be sent elsewhere.")


def _stream_via(transport: str, extra: str = "") -> str:
    note = _NOTE_STREAM_VIA.format(t=transport)
    return note + (" " + extra if extra else "")


# ---------------------------------------------------------------------------
# RFC 4475 section 3.1.1 -- valid messages
# ---------------------------------------------------------------------------

_wsinv = _msg(
    b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0",
    b"TO :",
    b" sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
    rb'from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>',
    b"  ;",
    b"  tag = 98asjd8",
    b"MaX-fOrWaRdS: 0068",
    b"Call-ID: wsinv.ndaksdj@192.0.2.1",
    b"Content-Length   : 150",
    b"cseq: 0009",
    b"  INVITE",
    b"Via  : SIP  /   2.0",
    b" /UDP",
    b"    192.0.2.2;branch=390skdjuw",
    b"s :",
    b"NewFangledHeader:   newfangled value",
    b" continued newfangled value",
    b"UnknownHeaderWithUnusualValue: ;;,,;;,;",
    b"Content-Type: application/sdp",
    b"Route:",
    b" <sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
    b"v:  SIP  / 2.0  / TCP     spindle.example.com   ;",
    b"  branch  =   z9hG4bK9ikj8  ,",
    b" SIP  /    2.0   / UDP  192.168.255.111   ; branch=",
    b" z9hG4bK30239",
    rb'm:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =',
    b"      newvalue ;",
    b"  secondparam ; q = 0.33",
    b"",
    *_sdp(b"192.0.2.3", b"192.0.2.4"),
)

_INTMETH_METHOD = b"!interesting-Method0123456789_*+`.%indeed'~"
_INTMETH_USER = b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
_intmeth = _msg(
    _INTMETH_METHOD + b" sip:" + _INTMETH_USER
    + b":&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0",
    b"Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
    b'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:' + _INTMETH_USER + b"@example.com>",
    b"From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>"
    b";fromParam''~+*_!.-%=\"" + "работающий".encode("utf-8")
    + b"\";tag=_token~1'+`*%!-.",
    rb"""Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{""",
    b"CSeq: 139122385 " + _INTMETH_METHOD,
    b"Max-Forwards: 255",
    b"extensionHeader-!.%*+_`'~:" + "\ufeff大停電".encode("utf-8"),
    b"Content-Length: 0",
    b"",
)

_esc01 = _msg(
    b"INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0",
    b"To: sip:%75se%72@example.com",
    b"From: <sip:I%20have%20spaces@example.net>;tag=938",
    b"Max-Forwards: 87",
    b"i: esc01.239409asdfakjkn23onasd0-3234",
    b"CSeq: 234234 INVITE",
    b"Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
    b"C: application/sdp",
    b"Contact:",
    b"  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
    b"Content-Length: 150",
    b"",
    *_sdp(b"192.0.2.1"),
)

_escnull = _msg(
    b"REGISTER sip:example.com SIP/2.0",
    b"To: sip:null-%00-null@example.com",
    b"From: sip:null-%00-null@example.com;tag=839923423",
    b"Max-Forwards: 70",
    b"Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
    b"CSeq: 14398234 REGISTER",
    b"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
    b"Contact: <sip:%00@host5.example.com>",
    b"Contact: <sip:%00%00@host5.example.com>",
    b"L:0",
    b"",
)

_esc02 = _msg(
    b"RE%47IST%45R sip:registrar.example.com SIP/2.0",
    b'To: "%Z%45" <sip:resource@example.com>',
    b'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23',
    b"Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
    b"Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234",
    b"CSeq: 29344 RE%47IST%45R",
    b"Max-Forwards: 70",
    b"Contact: <sip:alias1@host1.example.com>",
    b"C%6Fntact: <sip:alias2@host2.example.com>",
    b"Contact: <sip:alias3@host3.example.com>",
    b"l: 0",
    b"",
)

_lwsdisp = _msg(
    b"OPTIONS sip:user@example.com SIP/2.0",
    b"To: sip:user@example.com",
    b"From: caller<sip:caller@example.com>;tag=323",
    b"Max-Forwards: 70",
    b"Call-ID: lwsdisp.1234abcd@funky.example.com",
    b"CSeq: 60 OPTIONS",
    b"Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw",
    b"l: 0",
    b"",
)

_LONG_CALLER = _rep(b"amazinglylongcallername", 5)
_longreq = _msg(
    b"INVITE sip:user@example.com SIP/2.0",
    # <allOneLine>
    b'To: "I have a user name of ' + _rep(b"extreme", 10) + b' proportion"'
    b"<sip:user@example.com:6000;unknownparam1=very" + _rep(b"long", 20)
    + b"value;longparam" + _rep(b"name", 25) + b"=shortvalue;very"
    + _rep(b"long", 25) + b"ParameterNameWithNoValue>",
    # <allOneLine>
    b"F: sip:" + _LONG_CALLER + b"@example.net;tag=12" + _rep(b"982", 50)
    + b"424;unknownheaderparam" + _rep(b"name", 20) + b"=unknowheaderparam"
    + _rep(b"value", 15) + b";unknownValueless" + _rep(b"paramname", 10),
    b"Call-ID: longreq.one" + _rep(b"really", 20) + b"longcallid",
    b"CSeq: 3882340 INVITE",
    # <allOneLine>
    b"Unknown-" + _rep(b"Long", 20) + b"-Name: unknown-" + _rep(b"long", 20)
    + b"-value; unknown-" + _rep(b"long", 20) + b"-parameter-name = unknown-"
    + _rep(b"long", 20) + b"-parameter-value",
    b"Via: SIP/2.0/TCP sip33.example.com",
    b"v: SIP/2.0/TCP sip32.example.com",
    b"V: SIP/2.0/TCP sip31.example.com",
    b"Via: SIP/2.0/TCP sip30.example.com",
    b"ViA: SIP/2.0/TCP sip29.example.com",
    b"VIa: SIP/2.0/TCP sip28.example.com",
    b"VIA: SIP/2.0/TCP sip27.example.com",
    b"via: SIP/2.0/TCP sip26.example.com",
    b"viA: SIP/2.0/TCP sip25.example.com",
    b"vIa: SIP/2.0/TCP sip24.example.com",
    b"vIA: SIP/2.0/TCP sip23.example.com",
    b"V :  SIP/2.0/TCP sip22.example.com",
    b"v :  SIP/2.0/TCP sip21.example.com",
    b"V  : SIP/2.0/TCP sip20.example.com",
    b"v  : SIP/2.0/TCP sip19.example.com",
    b"Via : SIP/2.0/TCP sip18.example.com",
    b"Via  : SIP/2.0/TCP sip17.example.com",
    *(b"Via: SIP/2.0/TCP sip%d.example.com" % n for n in range(16, 0, -1)),
    # <allOneLine>
    b"Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very"
    + _rep(b"long", 50) + b"branchvalue",
    b"Max-Forwards: 70",
    b"Contact: <sip:" + _LONG_CALLER + b"@host5.example.net>",
    b"Content-Type: application/sdp",
    b"l: 150",
    b"",
    *_sdp(b"192.0.2.1"),
)

_dblreq = _msg(
    b"REGISTER sip:example.com SIP/2.0",
    b"To: sip:j.user@example.com",
    b"From: sip:j.user@example.com;tag=43251j3j324",
    b"Max-Forwards: 8",
    b"I: dblreq.0ha0isndaksdj99sdfafnl3lk233412",
    b"Contact: sip:j.user@host.example.com",
    b"CSeq: 8 REGISTER",
    b"Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492",
    b"Content-Length: 0",
    b"",
    # --- everything below is trailing noise in the same datagram ---
    b"",
    b"INVITE sip:joe@example.com SIP/2.0",
    b"t: sip:joe@example.com",
    b"From: sip:caller@example.net;tag=141334",
    b"Max-Forwards: 8",
    b"Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15",
    b"CSeq: 8 INVITE",
    b"Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234",
    b"Content-Type: application/sdp",
    b"Content-Length: 150",
    b"",
    *_sdp(b"192.0.2.15", video=b"m =video 3227 RTP/AVP 31"),
    b"",
)

_semiuri = _msg(
    b"OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0",
    b"To: sip:j_user@example.com",
    b"From: sip:caller@example.org;tag=33242",
    b"Max-Forwards: 3",
    b"Call-ID: semiuri.0ha0isndaksdj",
    b"CSeq: 8 OPTIONS",
    b"Accept: application/sdp, application/pkcs7-mime,",
    b"        multipart/mixed, multipart/signed,",
    b"        message/sip, message/sipfrag",
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw",
    b"l: 0",
    b"",
)

_transports = _msg(
    b"OPTIONS sip:user@example.com SIP/2.0",
    b"To: sip:user@example.com",
    b"From: <sip:caller@example.com>;tag=323",
    b"Max-Forwards: 70",
    b"Call-ID:  transports.kijh4akdnaqjkwendsasfdj",
    b"Accept: application/sdp",
    b"CSeq: 60 OPTIONS",
    b"Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
    b"Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
    b"Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
    b"Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
    b"Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
    b"l: 0",
    b"",
)

_MPART_BOUNDARY = b"--7a9cbec02ceef655"
_mpart01 = _msg(
    b"MESSAGE sip:kumiko@example.org SIP/2.0",
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport",
    b"Max-Forwards: 70",
    b"Route: <sip:127.0.0.1:5080>",
    b"Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=",
    b"Contact: <sip:fluffy@127.0.0.1:5070>",
    b"To: <sip:kumiko@example.org>",
    b"From: <sip:fluffy@example.com>;tag=2fb0dcc9",
    b"Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..",
    b"CSeq: 1 MESSAGE",
    b"Content-Transfer-Encoding: binary",
    b"Content-Type: multipart/mixed;boundary=7a9cbec02ceef655",
    b"Date: Sat, 15 Oct 2005 04:44:56 GMT",
    b"User-Agent: SIPimp.org/0.2.5 (curses)",
    b"Content-Length: 553",
    b"",
    _MPART_BOUNDARY,
    b"Content-Type: text/plain",
    b"Content-Transfer-Encoding: binary",
    b"",
    b"Hello",
    _MPART_BOUNDARY,
    b"Content-Type: application/octet-stream",
    b"Content-Transfer-Encoding: binary",
    b"",
    _MPART01_BINARY,
    _MPART_BOUNDARY + b"--",
)

_unreason = _msg(
    # <allOneLine> with a <hex> (UTF-8) tail
    b"SIP/2.0 200 = 2**3 * 5**2 " + "но сто девяносто девять - простое".encode("utf-8"),
    b"Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
    b"Call-ID: unreason.1234ksdfak3j2erwedfsASdf",
    b"CSeq: 35 INVITE",
    b"From: sip:user@example.com;tag=11141343",
    b"To: sip:user@example.edu;tag=2229",
    b"Content-Length: 154",
    b"Content-Type: application/sdp",
    b"Contact: <sip:user@host198.example.com>",
    b"",
    *_sdp(b"192.0.2.198"),
)

_noreason = _msg(
    b"SIP/2.0 100 ",  # the SP after the code is required and present
    b"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
    b"Call-ID: noreason.asndj203insdf99223ndf",
    b"CSeq: 35 INVITE",
    b"From: <sip:user@example.com>;tag=39ansfi3",
    b"To: <sip:user@example.edu>;tag=902jndnke3",
    b"Content-Length: 0",
    b"Contact: <sip:user@host105.example.com>",
    b"",
)

# ---------------------------------------------------------------------------
# RFC 4475 section 3.1.2 -- invalid messages
# ---------------------------------------------------------------------------

_badinv01 = _msg(
    b"INVITE sip:user@example.com SIP/2.0",
    b"To: sip:j.user@example.com",
    b"From: sip:caller@example.net;tag=134161461246",
    b"Max-Forwards: 7",
    b"Call-ID: badinv01.0ha0isndaksdjasdf3234nas",
    b"CSeq: 8 INVITE",
    b"Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
    b'Contact: "Joe" <sip:joe@example.org>;;;;',
    b"Content-Length: 152",
    b"Content-Type: application/sdp",
    b"",
    *_sdp(b"192.0.2.15"),
)

_clerr = _msg(
    b"INVITE sip:user@example.com SIP/2.0",
    b"Max-Forwards: 80",
    b"To: sip:j.user@example.com",
    b"From: sip:caller@example.net;tag=93942939o2",
    b"Contact: <sip:caller@hungry.example.net>",
    b"Call-ID: clerr.0ha0isndaksdjweiafasdk3",
    b"CSeq: 8 INVITE",
    b"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523",
    b"Content-Type: application/sdp",
    b"Content-Length: 9999",
    b"",
    *_sdp(b"192.0.2.155"),
)

_ncl = _msg(
    b"INVITE sip:user@example.com SIP/2.0",
    b"Max-Forwards: 254",
    b"To: sip:j.user@example.com",
    b"From: sip:caller@example.net;tag=32394234",
    b"Call-ID: ncl.0ha0isndaksdj2193423r542w35",
    b"CSeq: 0 INVITE",
    b"Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw",
    b"Contact: <sip:caller@example53.example.net>",
    b"Content-Type: application/sdp",
    b"Content-Length: -999",
    b"",
    *_sdp(b"192.0.2.53"),
)

_scalar02 = _msg(
    b"REGISTER sip:example.com SIP/2.0",
    b"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3",
    b"To: <sip:user@example.com>",
    b"From: <sip:user@example.com>;tag=239232jh3",
    b"CSeq: 36893488147419103232 REGISTER",
    b"Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32",
    b"Max-Forwards: 300",
    b"Expires: 1" + _rep(b"0", 100),
    b"Contact: <sip:user@host129.example.com>",
    b"  ;expires=280297596632815",
    b"Content-Length: 0",
    b"",
)

_scalarlg = _msg(
    b"SIP/2.0 503 Service Unavailable",
    b"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129",
    b"To: <sip:user@example.com>",
    b"From: <sip:other@example.net>;tag=2easdjfejw",
    b"CSeq: 9292394834772304023312 OPTIONS",
    b"Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r",
    b"Retry-After: 949302838503028349304023988",
    b'Warning: 1812 overture "In Progress"',
    b"Content-Length: 0",
    b"",
)

_quotbal = _msg(
    b"INVITE sip:user@example.com SIP/2.0",
    b'To: "Mr. J. User <sip:j.user@example.com>',
    b"From: sip:caller@example.net;tag=93334",
    b"Max-Forwards: 10",
    b"Call-ID: quotbal.aksdj",
    b"Contact: <sip:caller@host59.example.net>",
    b"CSeq: 8 INVITE",
    b"Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234",
    b"Content-Type: application/sdp",
    b"Content-Length: 152",
    b"",
    *_sdp(b"192.0.2.15"),
)

_ltgtruri = _msg(
    b"INVITE <sip:user@example.com> SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:caller@example.net;tag=39291",
    b"Max-Forwards: 23",
    b"Call-ID: ltgtruri.1@192.0.2.5",
    b"CSeq: 1 INVITE",
    b"Via: SIP/2.0/UDP 192.0.2.5",
    b"Contact: <sip:caller@host5.example.net>",
    b"Content-Type: application/sdp",
    b"Content-Length: 159",
    b"",
    *_sdp(b"192.0.2.5", t=b"3149328700 0"),
)

_lwsruri = _msg(
    b"INVITE sip:user@example.com; lr SIP/2.0",
    b"To: sip:user@example.com;tag=3xfe-9921883-z9f",
    b"From: sip:caller@example.net;tag=231413434",
    b"Max-Forwards: 5",
    b"Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423",
    b"CSeq: 2130706432 INVITE",
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395",
    b"Contact: <sip:caller@host1.example.net>",
    b"Content-Type: application/sdp",
    b"Content-Length: 159",
    b"",
    *_sdp(b"192.0.2.1", t=b"3149328700 0"),
)

_lwsstart = _msg(
    b"INVITE  sip:user@example.com  SIP/2.0",
    b"Max-Forwards: 8",
    b"To: sip:user@example.com",
    b"From: sip:caller@example.net;tag=8814",
    b"Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com",
    b"CSeq: 1893884 INVITE",
    b"Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923",
    b"Contact: <sip:caller@host1.example.net>",
    b"Content-Type: application/sdp",
    b"Content-Length: 150",
    b"",
    *_sdp(b"192.0.2.1"),
)

_trws = _msg(
    b"OPTIONS sip:remote-target@example.com SIP/2.0\x20\x20",  # <hex>2020</hex>
    b"Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093",  # sic "examle"
    b"To: <sip:remote-target@example.com>",
    b"From: <sip:local-resource@example.com>;tag=329429089",
    b"Call-ID: trws.oicu34958239neffasdhr2345r",
    b"Accept: application/sdp",
    b"CSeq: 238923 OPTIONS",
    b"Max-Forwards: 70",
    b"Content-Length: 0",
    b"",
)

_escruri = _msg(
    b"INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:caller@example.net;tag=341518",
    b"Max-Forwards: 7",
    b"Contact: <sip:caller@host39923.example.net>",
    b"Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5",
    b"CSeq: 149209342 INVITE",
    b"Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw",
    b"Content-Type: application/sdp",
    b"Content-Length: 150",
    b"",
    *_sdp(b"192.0.2.1"),
)

_baddate = _msg(
    b"INVITE sip:user@example.com SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:caller@example.net;tag=2234923",
    b"Max-Forwards: 70",
    b"Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234",
    b"CSeq: 1392934 INVITE",
    b"Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw",
    b"Date: Fri, 01 Jan 2010 16:00:00 EST",
    b"Contact: <sip:caller@host5.example.net>",
    b"Content-Type: application/sdp",
    b"Content-Length: 150",
    b"",
    *_sdp(b"192.0.2.5"),
)

_regbadct = _msg(
    b"REGISTER sip:example.com SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:user@example.com;tag=998332",
    b"Max-Forwards: 70",
    b"Call-ID: regbadct.k345asrl3fdbv@10.0.0.1",
    b"CSeq: 1 REGISTER",
    b"Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw",
    b"Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E",
    b"l: 0",
    b"",
)

_badaspec = _msg(
    b"OPTIONS sip:user@example.org SIP/2.0",
    b"Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234",
    b"Max-Forwards: 70",
    b'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423',
    b'To: "Watson, Thomas" < sip:t.watson@example.org >',
    b"Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3",
    b"Accept: application/sdp",
    b"CSeq: 3923239 OPTIONS",
    b"l: 0",
    b"",
)

# The RFC's bit-exact archive copy of baddn stops right after "l: 0" CRLF:
# the empty line that ends the header section is absent.
_baddn = _msg(
    b"OPTIONS sip:t.watson@example.org SIP/2.0",
    b"Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw",
    b"Max-Forwards:      70",
    b"From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
    b"To:      Watson, Thomas <sip:t.watson@example.org>",
    b"Call-ID: baddn.31415@c.example.com",
    b"Accept: application/sdp",
    b"CSeq:    3923239 OPTIONS",
    b"l: 0",
)

_badvers = _msg(
    b"OPTIONS sip:t.watson@example.org SIP/7.0",
    b"Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw",
    b"Max-Forwards:     70",
    b"From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe",
    b"To:      T. Watson <sip:t.watson@example.org>",
    b"Call-ID: badvers.31417@c.example.com",
    b"CSeq:    1 OPTIONS",
    b"l: 0",
    b"",
)

_mismatch01 = _msg(
    b"OPTIONS sip:user@example.com SIP/2.0",
    b"To: sip:j.user@example.com",
    b"From: sip:caller@example.net;tag=34525",
    b"Max-Forwards: 6",
    b"Call-ID: mismatch01.dj0234sxdfl3",
    b"CSeq: 8 INVITE",
    b"Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw",
    b"l: 0",
    b"",
)

_mismatch02 = _msg(
    b"NEWMETHOD sip:user@example.com SIP/2.0",
    b"To: sip:j.user@example.com",
    b"From: sip:caller@example.net;tag=34525",
    b"Max-Forwards: 6",
    b"Call-ID: mismatch02.dj0234sxdfl3",
    b"CSeq: 8 INVITE",
    b"Contact: <sip:caller@host.example.net>",
    b"Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw",
    b"Content-Type: application/sdp",
    b"l: 138",
    b"",
    b"v=0",
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.1",
    b"c=IN IP4 192.0.2.1",
    b"m=audio 49217 RTP/AVP 0 12",
    b"m=video 3227 RTP/AVP 31",
    b"a=rtpmap:31 LPC",
)

_bigcode = _msg(
    b"SIP/2.0 4294967301 better not break the receiver",
    b"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
    b"Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i",
    b"CSeq: 353494 INVITE",
    b"From: <sip:user@example.com>;tag=39ansfi3",
    b"To: <sip:user@example.edu>;tag=902jndnke3",
    b"Content-Length: 0",
    b"Contact: <sip:user@host105.example.com>",
    b"",
)

# ---------------------------------------------------------------------------
# RFC 4475 section 3.2 -- transaction layer
# ---------------------------------------------------------------------------

_badbranch = _msg(
    b"OPTIONS sip:user@example.com SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:caller@example.org;tag=33242",
    b"Max-Forwards: 3",
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK",
    b"Accept: application/sdp",
    b"Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n",
    b"CSeq: 8 OPTIONS",
    b"l: 0",
    b"",
)

# ---------------------------------------------------------------------------
# RFC 4475 section 3.3 -- application layer semantics
# ---------------------------------------------------------------------------

_insuf = _msg(
    b"INVITE sip:user@example.com SIP/2.0",
    b"CSeq: 193942 INVITE",
    b"Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf",
    b"Content-Type: application/sdp",
    b"l: 152",
    b"",
    *_sdp(b"192.0.2.95"),
)

_unkscm = _msg(
    b"OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:caller@example.net;tag=384",
    b"Max-Forwards: 3",
    b"Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34",
    b"CSeq: 3923423 OPTIONS",
    b"Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234",
    b"Content-Length: 0",
    b"",
)

_novelsc = _msg(
    b"OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:caller@example.net;tag=384",
    b"Max-Forwards: 3",
    b"Call-ID: novelsc.asdfasser0q239nwsdfasdkl34",
    b"CSeq: 3923423 OPTIONS",
    b"Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234",
    b"Content-Length: 0",
    b"",
)

_unksm2 = _msg(
    b"REGISTER sip:example.com SIP/2.0",
    b"To: isbn:2983792873",
    b"From: <http://www.example.com>;tag=3234233",
    b"Call-ID: unksm2.daksdj@hyphenated-host.example.com",
    b"CSeq: 234902 REGISTER",
    b"Max-Forwards: 70",
    b"Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw",
    b"Contact: <name:John_Smith>",
    b"l: 0",
    b"",
)

_bext01 = _msg(
    b"OPTIONS sip:user@example.com SIP/2.0",
    b"To: sip:j_user@example.com",
    b"From: sip:caller@example.net;tag=242etr",
    b"Max-Forwards: 6",
    b"Call-ID: bext01.0ha0isndaksdj",
    b"Require: nothingSupportsThis, nothingSupportsThisEither",
    b"Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis",
    b"CSeq: 8 OPTIONS",
    b"Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw",
    b"Content-Length: 0",
    b"",
)

_invut = _msg(
    b"INVITE sip:user@example.com SIP/2.0",
    b"Contact: <sip:caller@host5.example.net>",
    b"To: sip:j.user@example.com",
    b"From: sip:caller@example.net;tag=8392034",
    b"Max-Forwards: 70",
    b"Call-ID: invut.0ha0isndaksdjadsfij34n23d",
    b"CSeq: 235448 INVITE",
    b"Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw",
    b"Content-Type: application/unknownformat",
    b"Content-Length: 40",
    b"",
    b"<audio>",
    b' <pcmu port="443"/>',
    b"</audio>",
)

_regaut01 = _msg(
    b"REGISTER sip:example.com SIP/2.0",
    b"To: sip:j.user@example.com",
    b"From: sip:j.user@example.com;tag=87321hj23128",
    b"Max-Forwards: 8",
    b"Call-ID: regaut01.0ha0isndaksdj",
    b"CSeq: 9338 REGISTER",
    b"Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw",
    b"Authorization: NoOneKnowsThisScheme opaque-data=here",
    b"Content-Length:0",
    b"",
)

_multi01 = _msg(
    b"INVITE sip:user@company.com SIP/2.0",
    b"Contact: <sip:caller@host25.example.net>",
    b"Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw",
    b"Max-Forwards: 70",
    b"CSeq: 5 INVITE",
    b"Call-ID: multi01.98asdh@192.0.2.1",
    b"CSeq: 59 INVITE",
    b"Call-ID: multi01.98asdh@192.0.2.2",
    b"From: sip:caller@example.com;tag=3413415",
    b"To: sip:user@example.com",
    b"To: sip:other@example.net",
    b"From: sip:caller@example.net;tag=2923420123",
    b"Content-Type: application/sdp",
    b"l: 154",
    b"Contact: <sip:caller@host36.example.net>",
    b"Max-Forwards: 5",
    b"",
    *_sdp(b"192.0.2.25"),
    b"",
)

_mcl01 = _msg(
    b"OPTIONS sip:user@example.com SIP/2.0",
    b"Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423",
    b"To: sip:user@example.com",
    b"From: sip:other@example.net;tag=3923942",
    b"Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf",
    b"CSeq: 15932 OPTIONS",
    b"Content-Length: 13",
    b"Max-Forwards: 60",
    b"Content-Length: 5",
    b"Content-Type: text/plain",
    b"",
    b"There's no way to know how many octets are supposed to be here.",
    b"",
)

_bcast = _msg(
    b"SIP/2.0 200 OK",
    b"Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
    b"Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23",
    b"Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf",
    b"CSeq: 35 INVITE",
    b"From: sip:user@example.com;tag=11141343",
    b"To: sip:user@example.edu;tag=2229",
    b"Content-Length: 154",
    b"Content-Type: application/sdp",
    b"Contact: <sip:user@host28.example.com>",
    b"",
    *_sdp(b"192.0.2.198"),
)

_zeromf = _msg(
    b"OPTIONS sip:user@example.com SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:caller@example.net;tag=3ghsd41",
    b"Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas",
    b"CSeq: 39234321 OPTIONS",
    b"Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i",
    b"Max-Forwards: 0",
    b"Content-Length: 0",
    b"",
)

_cparam01 = _msg(
    b"REGISTER sip:example.com SIP/2.0",
    b"Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw",
    b"Max-Forwards: 70",
    b"From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe",
    b"To: sip:watson@example.com",
    b"Call-ID: cparam01.70710@saturn.example.com",
    b"CSeq: 2 REGISTER",
    b"Contact: sip:+19725552222@gw1.example.net;unknownparam",
    b"l: 0",
    b"",
)

_cparam02 = _msg(
    b"REGISTER sip:example.com SIP/2.0",
    b"Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw",
    b"Max-Forwards: 70",
    b"From: sip:watson@example.com;tag=838293",
    b"To: sip:watson@example.com",
    b"Call-ID: cparam02.70710@saturn.example.com",
    b"CSeq: 3 REGISTER",
    b"Contact: <sip:+19725552222@gw1.example.net;unknownparam>",
    b"l: 0",
    b"",
)

_regescrt = _msg(
    b"REGISTER sip:example.com SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:user@example.com;tag=8",
    b"Max-Forwards: 70",
    b"Call-ID: regescrt.k345asrl3fdbv@192.0.2.1",
    b"CSeq: 14398234 REGISTER",
    b"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
    b"M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>",
    b"L:0",
    b"",
)

_sdp01 = _msg(
    b"INVITE sip:user@example.com SIP/2.0",
    b"To: sip:j_user@example.com",
    b"Contact: <sip:caller@host15.example.net>",
    b"From: sip:caller@example.net;tag=234",
    b"Max-Forwards: 5",
    b"Call-ID: sdp01.ndaksdj9342dasdd",
    b"Accept: text/nobodyKnowsThis",
    b"CSeq: 8 INVITE",
    b"Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw",
    b"Content-Length: 150",
    b"Content-Type: application/sdp",
    b"",
    *_sdp(b"192.0.2.5"),
)

# ---------------------------------------------------------------------------
# RFC 4475 section 3.4 -- backward compatibility
# ---------------------------------------------------------------------------

_inv2543 = _msg(
    b"INVITE sip:UserB@example.com SIP/2.0",
    b"Via: SIP/2.0/UDP iftgw.example.com",
    b"From: <sip:+13035551111@ift.client.example.net;user=phone>",
    b"Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>",
    b"To: sip:+16505552222@ss1.example.net;user=phone",
    b"Call-ID: inv2543.1717@ift.client.example.com",
    b"CSeq: 56 INVITE",
    b"Content-Type: application/sdp",
    b"",
    b"v=0",
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.5",
    b"s=-",
    b"c=IN IP4 192.0.2.5",
    b"t=0 0",
    b"m=audio 49217 RTP/AVP 0",
)


RFC4475: list[Case] = [
    # ---- 3.1.1 valid messages -------------------------------------------
    Case("3.1.1.1", "wsinv", "A Short Tortuous INVITE", True, True,
         "Top Via is folded over three lines ('Via  : SIP  /   2.0' / ' /UDP' / "
         "'    192.0.2.2;branch=390skdjuw'); a sent-by rewrite must cope. "
         "Content-Length 150 matches the body.",
         _wsinv,
         "Line folding, escaped quotes, empty Subject, odd LWS, mixed short/long "
         "header names, unknown headers and parameters, leading zeros: every "
         "element must treat it as a well-formed request.",
         "parsed"),
    Case("3.1.1.2", "intmeth", "Wide Range of Valid Characters", True, True,
         _stream_via("TCP", "To display name holds quoted BEL, NUL and DEL octets; "
                     "From parameter and an extension header carry UTF-8."),
         _intmeth,
         "Valid request with an unknown method made of token characters. A proxy "
         "forwards it or answers 404; an endpoint answers 501 listing its methods "
         "in Allow.",
         "parsed"),
    Case("3.1.1.3", "esc01", "Valid Use of the % Escaping Mechanism", True, True,
         "",
         _esc01,
         "Well-formed; %HEX escapes in the URIs must be treated as the characters "
         "they encode, and % must not be unescaped where it is not an escape.",
         "parsed"),
    Case("3.1.1.4", "escnull", "Escaped Nulls in URIs", True, True,
         "",
         _escnull,
         "Well-formed REGISTER with %00 in URI user parts; parsers must accept it "
         "and the AOR must not be cut short when unescaped. It registers two "
         "distinct contacts.",
         "parsed"),
    Case("3.1.1.5", "esc02", "Use of % When It Is Not an Escape", True, True,
         _stream_via("TCP"),
         _esc02,
         "Well formed. The method RE%47IST%45R is unknown (not REGISTER), "
         "C%6Fntact is an unknown header. A proxy forwards or rejects by "
         "Request-URI; an endpoint rejects with 501.",
         "parsed"),
    Case("3.1.1.6", "lwsdisp", "Message with No LWS between Display Name and <", True, True,
         "",
         _lwsdisp,
         "Strictly invalid per the RFC 3261 grammar (no LWS before '<'), but "
         "that is a known grammar bug: elements should accept it as well formed.",
         "parsed"),
    Case("3.1.1.7", "longreq", "Long Values in Header Fields", True, True,
         _stream_via("TCP", "34 Via header values in mixed case and short form; "
                     "the datagram is about 2.5 kB."),
         _longreq,
         "Well-formed request with very long display names, parameters, tag, "
         "Call-ID, an unknown header and many Vias; it must be accepted.",
         "parsed"),
    Case("3.1.1.8", "dblreq", "Extra Trailing Octets in a UDP Datagram", True, True,
         "Meant for UDP: after the REGISTER (Content-Length: 0) the same datagram "
         "carries an extra CRLF and octets that look like an INVITE. They are "
         "noise (RFC 3261 18.3) and must be ignored: exactly one answer, to the "
         "REGISTER, and nothing for the INVITE.",
         _dblreq,
         "Handle the REGISTER normally and discard the trailing INVITE-looking "
         "octets; a forwarding proxy must not pass them on.",
         "parsed"),
    Case("3.1.1.9", "semiuri", "Semicolon-Separated Parameters in URI User Part", True, True,
         "",
         _semiuri,
         "Well formed; the Request-URI user part is 'user;par=u@example.net' "
         "(escaped @), not a URI parameter.",
         "parsed"),
    Case("3.1.1.10", "transports", "Varied and Unknown Transport Types", True, True,
         "Lower Vias name SCTP, TLS, an unknown transport and TCP; the top one is UDP.",
         _transports,
         "Must be accepted; elements process it as if the later Via values named "
         "UDP (the transport extension mechanism).",
         "parsed"),
    Case("3.1.1.11", "mpart01", "Multipart MIME Message", True, True,
         "Body is 553 octets as declared: a text part and a binary part holding NUL "
         "and bare CR/LF octets, so the body must be framed by Content-Length, "
         "never by scanning for CRLF. Top Via 127.0.0.1:5070 with rport.",
         _mpart01,
         "Parsers must accept it as well formed even if the application does not "
         "support the multipart body; receivers must frame it carefully.",
         "parsed"),
    Case("3.1.1.12", "unreason", "Unusual Reason Phrase", True, False,
         "A response (200 to INVITE) that matches no transaction of Parley's.",
         _unreason,
         "Reason phrase with reserved characters and non-ASCII UTF-8 is well "
         "formed; a parser must accept it. Received without a matching "
         "transaction it is a stray response: nothing to answer.",
         "ignore"),
    Case("3.1.1.13", "noreason", "Empty Reason Phrase", True, False,
         "A response (100) that matches no transaction; the status line ends "
         "'100 ' with the required SP before CRLF.",
         _noreason,
         "Well formed with an empty reason phrase; a parser must accept it (a "
         "liberal one even without the SP). As a stray response it gets no answer.",
         "ignore"),

    # ---- 3.1.2 invalid messages -----------------------------------------
    Case("3.1.2.1", "badinv01", "Extraneous Header Field Separators", False, True,
         "Top Via has no branch, only ';;,;,,' after the host.",
         _badinv01,
         "Extra semicolons and commas without parameters in Via and Contact make "
         "it syntactically invalid; respond 400 Bad Request.",
         400),
    Case("3.1.2.2", "clerr", "Content Length Larger Than Message", False, True,
         "Content-Length 9999 but the datagram ends after the SDP. Over UDP this "
         "is an error (400); over a stream the receiver would just wait for more.",
         _clerr,
         "Over UDP (as here) respond 400 Bad Request; over TCP wait for data and "
         "close the connection if none comes.",
         400),
    Case("3.1.2.3", "ncl", "Negative Content-Length", False, True,
         "Content-Length: -999. Over UDP the rest of the datagram is discarded; "
         "over TCP the framing error is unrecoverable and the connection closes.",
         _ncl,
         "Respond with an error (400) and never use the negative value as a "
         "count or index. The same applies to a non-numeric Content-Length.",
         400),
    Case("3.1.2.4", "scalar02", "Request Scalar Fields with Overlarge Values", False, True,
         _stream_via("TCP", "Expires is 1 followed by 100 zeros."),
         _scalar02,
         "CSeq > 2**32-1, Max-Forwards > 255, Expires and contact expires > "
         "2**32-1: respond 400 because of the CSeq (alone, the Max-Forwards could "
         "be ignored and the expiries defaulted to 3600).",
         400),
    Case("3.1.2.5", "scalarlg", "Response Scalar Fields with Overlarge Values", False, False,
         "A response (503); its only Via is TCP with received=192.0.2.129.",
         _scalarlg,
         "CSeq > 2**32-1, absurd Retry-After, 4-digit warn-code: a receiving "
         "element simply discards the response.",
         "ignore"),
    Case("3.1.2.6", "quotbal", "Unterminated Quoted String in Display Name", False, True,
         "",
         _quotbal,
         "Unterminated quote in the To display name: return 400. An element may "
         "try to infer the closing quote, but must do so with care.",
         400),
    Case("3.1.2.7", "ltgtruri", "<> Enclosing Request-URI", False, True,
         "Top Via has no branch parameter.",
         _ltgtruri,
         "Request-URI wrapped in <>. Always rejecting with 400 is reasonable; a "
         "liberal element may ignore the brackets (and must not forward them).",
         "any"),
    Case("3.1.2.8", "lwsruri", "Malformed SIP Request-URI (embedded LWS)", False, True,
         "",
         _lwsruri,
         "LWS inside the Request-URI ('; lr'): respond 400. An element could "
         "ignore the LWS for schemes where that is unambiguous.",
         400),
    Case("3.1.2.9", "lwsstart", "Multiple SP Separating Request-Line Elements", False, True,
         "Two SP between each element of the request line.",
         _lwsstart,
         "Acceptable to reject as malformed (400); a liberal element may ignore "
         "the extra SP (and must not forward them).",
         "any"),
    Case("3.1.2.10", "trws", "SP Characters at End of Request-Line", False, True,
         _stream_via("TCP", "Request line ends 'SIP/2.0' SP SP CRLF. The Via host "
                     "is spelled 'host1.examle.com' in the RFC."),
         _trws,
         "Acceptable to reject as malformed (400); a liberal element may ignore "
         "the trailing SP (and must not forward them).",
         "any"),
    Case("3.1.2.11", "escruri", "Escaped Headers in SIP Request-URI", False, True,
         "",
         _escruri,
         "Request-URI carries an escaped header (?Route=...). Rejecting with 400 is "
         "acceptable; a liberal element may ignore the escaped headers (a proxy "
         "must strip them and never turn them into real headers).",
         "any"),
    Case("3.1.2.12", "baddate", "Invalid Time Zone in Date Header Field", False, True,
         "",
         _baddate,
         "Date uses 'EST' (only GMT is legal). Rejecting as malformed is "
         "acceptable but should not be done unless the Date matters to the "
         "element; it may be ignored or converted to GMT.",
         "any"),
    Case("3.1.2.13", "regbadct", "Failure to Enclose name-addr URI in <>", False, True,
         "",
         _regbadct,
         "Contact URI with an escaped header but no <>: responding 400 is "
         "reasonable; a liberal element could infer the brackets here.",
         "any"),
    Case("3.1.2.14", "badaspec", "Spaces within addr-spec", False, True,
         "",
         _badaspec,
         "Spaces inside <> around the To addr-spec: parsers must not break; "
         "rejecting with 400 is reasonable, a liberal element may ignore the "
         "spaces.",
         "any"),
    Case("3.1.2.15", "baddn", "Non-token Characters in Display Name", False, True,
         "As in the RFC's bit-exact archive the message ends after 'l: 0' CRLF: "
         "the empty line closing the header section is missing. Append CRLF if a "
         "properly terminated variant is wanted.",
         _baddn,
         "Unquoted display names with non-token characters (comma): always "
         "rejecting with 400 is reasonable; an element may infer the quotes but a "
         "proxy must not propagate the error.",
         "any"),
    Case("3.1.2.16", "badvers", "Unknown Protocol Version", False, True,
         "Request line and Via say SIP/7.0.",
         _badvers,
         "Malformed for an RFC 3261 element because of the version: respond 505 "
         "Version Not Supported.",
         505),
    Case("3.1.2.17", "mismatch01", "Start Line and CSeq Method Mismatch", False, True,
         "",
         _mismatch01,
         "OPTIONS in the request line, INVITE in CSeq: any element responds 400.",
         400),
    Case("3.1.2.18", "mismatch02", "Unknown Method with CSeq Method Mismatch", False, True,
         "",
         _mismatch02,
         "Unknown method NEWMETHOD with CSeq method INVITE: respond 501 Not "
         "Implemented (preferred, more future-proof); 400 is also acceptable.",
         "any"),
    Case("3.1.2.19", "bigcode", "Overlarge Response Code", False, False,
         "A response whose status code is 4294967301.",
         _bigcode,
         "Status code above 699: a receiving element should simply drop it.",
         "ignore"),

    # ---- 3.2 transaction layer --------------------------------------------
    Case("3.2.1", "badbranch", "Missing Transaction Identifier", True, True,
         "Branch is exactly the magic cookie 'z9hG4bK' with nothing after it.",
         _badbranch,
         "Parsers must not break. An element may reject it with 400 (preferably "
         "statelessly) or fall back to RFC 2543-style transaction matching.",
         "any"),

    # ---- 3.3 application layer semantics ----------------------------------
    Case("3.3.1", "insuf", "Missing Required Header Fields", False, True,
         "No To, From, Call-ID or Max-Forwards: a response can only echo Via and CSeq.",
         _insuf,
         "Missing Call-ID, From and To: an element must not break and ideally "
         "responds 400 Bad Request.",
         400),
    Case("3.3.2", "unkscm", "Request-URI with Unknown Scheme", True, True,
         _stream_via("TCP"),
         _unkscm,
         "Well formed, but the Request-URI scheme is unknown: reject with 416 "
         "Unsupported URI Scheme. The To header must not be used for routing.",
         416),
    Case("3.3.3", "novelsc", "Request-URI with Known but Atypical Scheme", True, True,
         _stream_via("TCP"),
         _novelsc,
         "Well formed. An element that will never accept soap.beep in a "
         "Request-URI treats it as unknown: 416; one that accepts some such URIs "
         "answers 404 for the rest.",
         416),
    Case("3.3.4", "unksm2", "Unknown URI Schemes in Header Fields", True, True,
         "",
         _unksm2,
         "Syntactically valid (isbn:, http:, name: URIs); parsers must not fail. "
         "Proxies treat it as any request; a registrar rejects it with 400 because "
         "the To must hold a SIP or SIPS AOR.",
         400),
    Case("3.3.5", "bext01", "Proxy-Require and Require", True, True,
         _stream_via("TLS"),
         _bext01,
         "Require and Proxy-Require list options nothing supports: respond 420 "
         "Bad Extension, with Unsupported listing the Require options (endpoint "
         "role) or the Proxy-Require ones (proxy role).",
         420),
    Case("3.3.6", "invut", "Unknown Content-Type", True, True,
         "Content-Length 40 matches the 3-line body.",
         _invut,
         "Valid INVITE with a body of unknown type: a proxy processes it "
         "normally, an endpoint rejects it with 415 Unsupported Media Type.",
         415),
    Case("3.3.7", "regaut01", "Unknown Authorization Scheme", True, True,
         _stream_via("TCP"),
         _regaut01,
         "Well formed. A registrar that ignores authentication processes it; one "
         "that authenticates answers 401 with a scheme it knows; a non-registrar "
         "endpoint may answer 405.",
         "parsed"),
    Case("3.3.8", "multi01", "Multiple Values in Single Value Required Fields", False, True,
         "Content-Length 154 covers the 152-octet SDP plus one more empty line "
         "(CRLF) that ends the datagram.",
         _multi01,
         "Two values each of Call-ID, To, From, Max-Forwards and CSeq: respond "
         "400 Bad Request.",
         400),
    Case("3.3.9", "mcl01", "Multiple Content-Length Values", False, True,
         "Two conflicting Content-Length values (13 and 5); like a bad "
         "Content-Length. Over UDP the rest of the datagram is discarded; over "
         "TCP the connection should be closed.",
         _mcl01,
         "Framing cannot be determined: respond with an error (400).",
         400),
    Case("3.3.10", "bcast", "200 OK Response with Broadcast Via Header Field Value", True, False,
         "A response; its second Via's sent-by is 255.255.255.255.",
         _bcast,
         "Well formed; parsers must not fail. An endpoint discards it; a proxy "
         "must drop it rather than forward to the broadcast address.",
         "ignore"),
    Case("3.3.11", "zeromf", "Max-Forwards of Zero", True, True,
         "",
         _zeromf,
         "Legal request with Max-Forwards 0: a proxy must not forward it and "
         "answers 483 Too Many Hops; an endpoint processes it as if the value "
         "were positive.",
         "parsed"),
    Case("3.3.12", "cparam01", "REGISTER with a Contact Header Parameter", True, True,
         "",
         _cparam01,
         "'unknownparam' is a contact parameter, not a URI parameter (no <>). The "
         "REGISTER should succeed and 'unknownparam' must not appear as a "
         "url-parameter of the binding.",
         "parsed"),
    Case("3.3.13", "cparam02", "REGISTER with a url-parameter", True, True,
         "",
         _cparam02,
         "Contact URI with an unknown URI parameter: the REGISTER should succeed "
         "and the stored binding must keep 'unknownparam' as a url-parameter.",
         "parsed"),
    Case("3.3.14", "regescrt", "REGISTER with a URL Escaped Header", True, True,
         "",
         _regescrt,
         "Well formed: a registrar should accept it and keep the escaped Route "
         "header as part of the registered Contact URI.",
         "parsed"),
    Case("3.3.15", "sdp01", "Unacceptable Accept Offering", True, True,
         "",
         _sdp01,
         "Accept excludes application/sdp: answer 406 Not Acceptable (with a "
         "Warning 399), or 400, since every INVITE-capable UA must support SDP.",
         "any"),

    # ---- 3.4 backward compatibility ---------------------------------------
    Case("3.4.1", "inv2543", "INVITE with RFC 2543 Syntax", True, True,
         "No Content-Length: the body is the rest of the datagram after the "
         "empty line (legal only over UDP). No branch, no From tag, no "
         "Max-Forwards.",
         _inv2543,
         "Legal RFC 2543 request that RFC 3261 elements wanting backward "
         "compatibility should accept; RFC 3261 leaves it to the element.",
         "any"),
]


# ---------------------------------------------------------------------------
# RFC 5118 section 4 -- IPv6 torture tests
# ---------------------------------------------------------------------------
#
# The RFC's own archive uses bare LF line ends; the messages are given here
# with CRLF as on the wire.  Content-Length values are the RFC's, even where
# they disagree with the body (see transport_note).

_V6_REG_HEAD = (
    b"To: sip:user@example.com",
    b"From: sip:user@example.com;tag=81x2",
    b"Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111",
    b"Call-ID: SSG9559905523997077@hlau_4100",
)

_ipv6_good = _msg(
    b"REGISTER sip:[2001:db8::10] SIP/2.0",
    *_V6_REG_HEAD,
    b"Max-Forwards: 70",
    b'Contact: "Caller" <sip:caller@[2001:db8::1]>',
    b"CSeq: 98176 REGISTER",
    b"Content-Length: 0",
    b"",
)

_ipv6_bad = _msg(
    b"REGISTER sip:2001:db8::10 SIP/2.0",
    *_V6_REG_HEAD,
    b"Max-Forwards: 70",
    b'Contact: "Caller" <sip:caller@[2001:db8::1]>',
    b"CSeq: 98176 REGISTER",
    b"Content-Length: 0",
    b"",
)

_port_ambiguous = _msg(
    b"REGISTER sip:[2001:db8::10:5070] SIP/2.0",
    *_V6_REG_HEAD,
    b'Contact: "Caller" <sip:caller@[2001:db8::1]>',
    b"Max-Forwards: 70",
    b"CSeq: 98176 REGISTER",
    b"Content-Length: 0",
    b"",
)

_port_unambiguous = _msg(
    b"REGISTER sip:[2001:db8::10]:5070 SIP/2.0",
    *_V6_REG_HEAD,
    b'Contact: "Caller" <sip:caller@[2001:db8::1]>',
    b"Max-Forwards: 70",
    b"CSeq: 98176 REGISTER",
    b"Content-Length: 0",
    b"",
)

_via_with_delim = _msg(
    b"BYE sip:[2001:db8::10] SIP/2.0",
    b"To: sip:user@example.com;tag=bd76ya",
    b"From: sip:user@example.com;tag=81x2",
    # <allOneLine>
    b"Via: SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111",
    b"Call-ID: SSG9559905523997077@hlau_4100",
    b"Max-Forwards: 70",
    b"CSeq: 321 BYE",
    b"Content-Length: 0",
    b"",
)

_via_no_delim = _msg(
    b"OPTIONS sip:[2001:db8::10] SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:user@example.com;tag=81x2",
    # <allOneLine>
    b"Via: SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3",
    b"Call-ID: SSG95523997077@hlau_4100",
    b"Max-Forwards: 70",
    b'Contact: "Caller" <sip:caller@[2001:db8::9:1]>',
    b"CSeq: 921 OPTIONS",
    b"Content-Length: 0",
    b"",
)

_ipv6_in_sdp = _msg(
    b"INVITE sip:user@[2001:db8::10] SIP/2.0",
    b"To: sip:user@[2001:db8::10]",
    b"From: sip:user@example.com;tag=81x2",
    b"Via: SIP/2.0/UDP [2001:db8::20];branch=z9hG4bKas3-111",
    b"Call-ID: SSG9559905523997077@hlau_4100",
    b'Contact: "Caller" <sip:caller@[2001:db8::20]>',
    b"CSeq: 8612 INVITE",
    b"Max-Forwards: 70",
    b"Content-Type: application/sdp",
    b"Content-Length: 268",
    b"",
    b"v=0",
    b"o=assistant 971731711378798081 0 IN IP6 2001:db8::20",
    b"s=Live video feed for today's meeting",
    b"c=IN IP6 2001:db8::20",
    b"t=3338481189 3370017201",
    b"m=audio 6000 RTP/AVP 2",
    b"a=rtpmap:2 G726-32/8000",
    b"m=video 6024 RTP/AVP 107",
    b"a=rtpmap:107 H263-1998/90000",
)

_mult_ip_in_header = _msg(
    b"BYE sip:user@host.example.net SIP/2.0",
    b"Via: SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111",
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144",
    b"Via: SIP/2.0/TCP [2001:db8::9:255];branch=z9hG4bK451jj;received=192.0.2.200",
    b"Call-ID: 997077@lau_4100",
    b"Max-Forwards: 70",
    b"CSeq: 89187 BYE",
    b"To: sip:user@example.net;tag=9817--94",
    b"From: sip:user@example.com;tag=81x2",
    b"Content-Length: 0",
    b"",
)

_mult_ip_in_sdp = _msg(
    b"INVITE sip:user@[2001:db8::10] SIP/2.0",
    b"To: sip:user@[2001:db8::10]",
    b"From: sip:user@example.com;tag=81x2",
    b"Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111",
    b"Call-ID: SSG9559905523997077@hlau_4100",
    b'Contact: "Caller" <sip:caller@[2001:db8::9:1]>',
    b"Max-Forwards: 70",
    b"CSeq: 8912 INVITE",
    b"Content-Type: application/sdp",
    b"Content-Length: 181",
    b"",
    b"v=0",
    b"o=bob 280744730 28977631 IN IP4 host.example.com",
    b"s=",
    b"t=0 0",
    b"m=audio 22334 RTP/AVP 0",
    b"c=IN IP4 192.0.2.1",
    b"m=video 6024 RTP/AVP 107",
    b"c=IN IP6 2001:db8::1",
    b"a=rtpmap:107 H263-1998/90000",
)

_ipv4_mapped_ipv6 = _msg(
    b"INVITE sip:user@example.com SIP/2.0",
    b"To: sip:user@example.com",
    b"From: sip:user@east.example.com;tag=81x2",
    b"Via: SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19",
    b"Via: SIP/2.0/UDP [::ffff:192.0.2.2];branch=z9hG4bKas3-111",
    b"Call-ID: SSG9559905523997077@hlau_4100",
    b'Contact: "T. desk phone" <sip:ted@[::ffff:192.0.2.2]>',
    b"CSeq: 612 INVITE",
    b"Max-Forwards: 70",
    b"Content-Type: application/sdp",
    b"Content-Length: 236",
    b"",
    b"v=0",
    b"o=assistant 971731711378798081 0 IN IP6 ::ffff:192.0.2.2",
    b"s=Call me soon, please!",
    b"c=IN IP6 ::ffff:192.0.2.2",
    b"t=3338481189 3370017201",
    b"m=audio 6000 RTP/AVP 2",
    b"a=rtpmap:2 G726-32/8000",
    b"m=video 6024 RTP/AVP 107",
    b"a=rtpmap:107 H263-1998/90000",
)


def _abnf_options(host: bytes) -> bytes:
    return _msg(
        b"OPTIONS sip:user@" + host + b" SIP/2.0",
        b"To: sip:user@" + host,
        b"From: sip:user@example.com;tag=810x2",
        b"Via: SIP/2.0/UDP lab1.east.example.com;branch=z9hG4bKas3-111",
        b"Call-ID: G9559905523997077@hlau_4100",
        b"CSeq: 689 OPTIONS",
        b"Max-Forwards: 70",
        b"Content-Length: 0",
        b"",  # absent from the RFC's archive copy; added to end the headers
    )


_NOTE_V6_LF = "RFC archive uses LF line ends; CRLF here."
_NOTE_V6_410 = (_NOTE_V6_LF + " The archive copy also lacks the empty line that "
                "ends the header section; it is added here.")

RFC5118: list[Case] = [
    Case("4.1", "ipv6-good", "Valid SIP Message with an IPv6 Reference", True, True,
         _NOTE_V6_LF,
         _ipv6_good,
         "Well formed: IPv6 references in the Request-URI, Via and Contact.",
         "parsed"),
    Case("4.2", "ipv6-bad", "Invalid SIP Message with an IPv6 Reference", False, True,
         _NOTE_V6_LF,
         _ipv6_bad,
         "Request-URI IPv6 address lacks the mandatory '[' ']': respond 400 Bad "
         "Request.",
         400),
    Case("4.3", "port-ambiguous", "Port Ambiguous in a SIP URI", True, True,
         _NOTE_V6_LF,
         _port_ambiguous,
         "Well formed: '[2001:db8::10:5070]' is an address whose last group is "
         "5070, not a port; semantically not what the sender meant, but it parses.",
         "parsed"),
    Case("4.4", "port-unambiguous", "Port Unambiguous in a SIP URI", True, True,
         _NOTE_V6_LF,
         _port_unambiguous,
         "Well formed: the port 5070 follows the closing ']'.",
         "parsed"),
    Case("4.5", "via-received-param-with-delim", "IPv6 Reference Delimiters in Via Header",
         True, True,
         _NOTE_V6_LF + " BYE for a dialog Parley does not have.",
         _via_with_delim,
         "received=[...] with brackets is invalid under a strict reading of RFC "
         "3261, but implementations must be liberal and parse it and continue. "
         "As an out-of-dialog BYE it would typically get 481.",
         "parsed"),
    Case("4.5", "via-received-param-no-delim", "IPv6 Reference Delimiters in Via Header",
         True, True,
         _NOTE_V6_LF,
         _via_no_delim,
         "received= with an undelimited IPv6 address is valid per RFC 3261; it "
         "must be parsed successfully.",
         "parsed"),
    Case("4.6", "ipv6-in-sdp",
         "SIP Request with IPv6 Addresses in Session Description Protocol (SDP) Body",
         True, True,
         _NOTE_V6_LF + " Content-Length 268 is the RFC's, but the body is only "
         "251 octets (242 with LF), so over UDP the datagram ends before the "
         "declared body: RFC 3261 18.3 says SHOULD answer 400.",
         _ipv6_in_sdp,
         "Valid and well formed; IPv6 addresses in SDP carry no '[' ']'. (The "
         "RFC's own Content-Length does not match its body.)",
         400),
    Case("4.7", "mult-ip-in-header", "Multiple IP Addresses in SIP Headers", True, True,
         _NOTE_V6_LF + " Top Via is [2001:db8::9:1]:6050; BYE for an unknown dialog.",
         _mult_ip_in_header,
         "Valid: the Via list mixes IPv4 addresses and IPv6 references. As an "
         "out-of-dialog BYE it would typically get 481.",
         "parsed"),
    Case("4.8", "mult-ip-in-sdp", "Multiple IP Addresses in SDP", True, True,
         _NOTE_V6_LF + " Content-Length 181 is the RFC's; the CRLF body is 189 "
         "octets, so per RFC 3261 18.3 the last 8 octets are discarded and the "
         "final a= line arrives cut short.",
         _mult_ip_in_sdp,
         "Valid: each SDP media line has its own connection address, one IPv4 "
         "and one IPv6.",
         "any"),
    Case("4.9", "ipv4-mapped-ipv6", "IPv4-Mapped IPv6 Addresses", True, True,
         _NOTE_V6_LF + " Content-Length 236 is the RFC's; the CRLF body is 245 "
         "octets, so per RFC 3261 18.3 the last 9 octets are discarded and the "
         "final a= line arrives cut short. Top Via has port 19823.",
         _ipv4_mapped_ipv6,
         "Well formed: IPv4-mapped IPv6 addresses in Vias, Contact and SDP must "
         "be parsed successfully.",
         "any"),
    Case("4.10", "ipv6-bug-abnf-3-colons", "IPv6 Reference Bug in RFC 3261 ABNF", True, True,
         _NOTE_V6_410,
         _abnf_options(b"[2001:db8:::192.0.2.1]"),
         "The extra colon is allowed by RFC 3261's (buggy) ABNF but not by RFC "
         "4291; implementations must tolerate both forms (a proxy may re-serialize "
         "without the extra colon).",
         "parsed"),
    Case("4.10", "ipv6-correct-abnf-2-colons", "IPv6 Reference Bug in RFC 3261 ABNF",
         True, True,
         _NOTE_V6_410,
         _abnf_options(b"[2001:db8::192.0.2.1]"),
         "Correct IPv6 reference syntax; must be accepted.",
         "parsed"),
]


def body_after_headers(data: bytes) -> bytes:
    """Octets after the first empty line (b"" if there is none)."""
    head, sep, body = data.partition(CRLF + CRLF)
    return body if sep else b""


if __name__ == "__main__":
    for lst, want in ((RFC4475, 49), (RFC5118, 12)):
        names = [c.name for c in lst]
        assert len(names) == len(set(names)), "duplicate name"
        assert all(isinstance(c.data, bytes) and c.data for c in lst)
        assert all(c.expect in ("parsed", "ignore", "any") or isinstance(c.expect, int)
                   for c in lst)
        assert len(lst) == want, (len(lst), want)
    mp = next(c for c in RFC4475 if c.name == "mpart01")
    assert len(_MPART01_BINARY) == 342 and len(body_after_headers(mp.data)) == 553
    print("RFC 4475:", len(RFC4475), "messages")
    print("RFC 5118:", len(RFC5118), "messages")
