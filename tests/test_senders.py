"""The sender verdict on real header shapes: which Authentication-Results count (RFC 8601 §5), what strict,
relaxed and off decide, the envelope sender, and our own DKIM check against a DNS server on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from email.message import EmailMessage

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailer.common.config import SenderSettings
from mailer.read.authresults import UNNAMED, parse, trusted
from mailer.read.senders import verdict

MX = "mx.jyj.example.gov.cn"
JCG = "jcg@jyj.example.gov.cn"


def message(top: str, *, sender: str = JCG, body: str = "局办公室：本月进展见附件。\n") -> bytes:
    """``top``: the header lines the receiving side put above the sender's own message."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"基财股 <{sender}>", "bgs@jyj.example.gov.cn", "回复：进展情况"
    msg["Message-ID"] = "<a1@jyj.example.gov.cn>"
    msg["Date"] = "Mon, 13 Jun 2022 10:00:00 +0800"
    msg.set_content(body)
    top = top.replace("\r\n", "\n").strip("\n")
    head = top.replace("\n", "\r\n") + "\r\n" if top else ""
    return head.encode() + bytes(msg).replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")


def policy(mode: str = "strict", *ids: str, **kw) -> SenderSettings:
    return SenderSettings(sender_check=mode, trusted_authserv_ids=list(ids or (MX,)), **kw)


POSTFIX_FORGED = f"""Return-Path: <{JCG}>
Delivered-To: bgs@jyj.example.gov.cn
Received: from mx.jyj.example.gov.cn by mail.jyj.example.gov.cn with LMTP; Mon, 13 Jun 2022 10:00:02 +0800
Authentication-Results: {MX}; dmarc=fail (p=none dis=none)
 header.from=jyj.example.gov.cn
Authentication-Results: {MX};
\tspf=fail (mx.jyj.example.gov.cn: domain of {JCG} does not designate 203.0.113.9 as
\t permitted sender) smtp.mailfrom={JCG};
\tdkim=none (no signature)
Received: from evil.example.net (evil.example.net [203.0.113.9])
\tby mx.jyj.example.gov.cn (Postfix) with ESMTP id 4LM1; Mon, 13 Jun 2022 10:00:01 +0800
Authentication-Results: {MX}; spf=pass smtp.mailfrom={JCG}; dkim=pass header.d=jyj.example.gov.cn;
 dmarc=pass header.from=jyj.example.gov.cn
"""


def test_postfix_opendkim_opendmarc_fail_is_read_and_the_senders_own_pass_below_is_not_believed():
    raw = message(POSTFIX_FORGED)
    v = verdict(raw, JCG, policy())
    assert v.status == "fail"
    assert "DMARC=fail" in v.reason and "SPF=fail" in v.reason and MX in v.reason
    # The relaxed policy still fails on DMARC.
    assert verdict(raw, JCG, policy("relaxed")).status == "fail"
    assert verdict(raw, JCG, policy("off")).status == "unknown"


def test_a_forged_pass_is_ignored_when_it_is_below_the_receiving_servers_received_line():
    """The trusted server wrote nothing the sender could not: only a forged pass lies below its line."""
    top = f"""Return-Path: <{JCG}>
Authentication-Results: {MX}; spf=none smtp.mailfrom={JCG}
Received: from evil.example.net by mx.jyj.example.gov.cn (Postfix); Mon, 13 Jun 2022 10:00:01 +0800
Authentication-Results: {MX}; dmarc=fail header.from=jyj.example.gov.cn
"""
    headers = [(k, v) for k, v in (line.split(": ", 1) for line in top.strip().splitlines())]
    found = trusted(headers, [MX])
    assert [r.result for ar in found for r in ar.results] == ["none"]


def test_results_of_an_untrusted_server_do_not_count():
    top = """Authentication-Results: mx.evil.example.net; spf=fail smtp.mailfrom=x; dmarc=fail
"""
    assert verdict(message(top), JCG, policy()).status == "unknown"


def test_exchange_online_results_without_an_authserv_id():
    value = (
        "spf=pass (sender IP is 40.107.1.2)\r\n smtp.mailfrom=jyj.example.gov.cn; dkim=pass (signature was\r\n"
        " verified) header.d=jyj.example.gov.cn;dmarc=pass action=none\r\n header.from=jyj.example.gov.cn;"
        "compauth=pass reason=100"
    )
    ar = parse(value)
    assert ar.authserv_id == UNNAMED
    assert [(r.method, r.result) for r in ar.results] == [
        ("spf", "pass"), ("dkim", "pass"), ("dmarc", "pass"), ("compauth", "pass")]
    assert ar.results[1].props["header.d"] == "jyj.example.gov.cn"
    assert verdict(message(f"Authentication-Results: {value}"), JCG, policy("strict", UNNAMED)).status == "pass"
    forged = value.replace("dmarc=pass", "dmarc=fail").replace("compauth=pass", "compauth=fail")
    v = verdict(message(f"Authentication-Results: {forged}"), JCG, policy("strict", UNNAMED))
    assert v.status == "fail" and "DMARC=fail" in v.reason and "COMPAUTH=fail" in v.reason


def test_tencent_and_coremail_shapes_with_several_dkim_results():
    tencent = (f"Authentication-Results: mx.qq.com; dkim=fail (bad signature) header.d=old.example.cn;\r\n"
               f" dkim=pass (2048-bit key) header.d=jyj.example.gov.cn header.i=@jyj.example.gov.cn\r\n"
               f" header.b=\"Kx9(a)\"; spf=softfail smtp.mailfrom={JCG}")
    # One signature passes, aligned with the From domain: authenticated, whatever the other one says.
    assert verdict(message(tencent), JCG, policy("strict", "mx.qq.com")).status == "pass"
    coremail = (f"Authentication-Results: mail.jyj.example.gov.cn; spf=softfail smtp.mail={JCG};\r\n"
                " dkim=none")
    v = verdict(message(coremail), JCG, policy("strict", "mail.jyj.example.gov.cn"))
    assert v.status == "fail" and "SPF=softfail" in v.reason
    # Relaxed does not act on softfail.
    assert verdict(message(coremail), JCG, policy("relaxed", "mail.jyj.example.gov.cn")).status == "unknown"


def test_comments_and_quotes_do_not_confuse_the_parser():
    ar = parse('mx.a.cn (the (nested) comment; spf=pass) 1; dkim=fail reason="key; revoked" header.d=a.cn')
    assert ar.authserv_id == "mx.a.cn"
    assert [(r.method, r.result, r.reason) for r in ar.results] == [("dkim", "fail", "key; revoked")]
    assert parse("mx.a.cn; none").results == ()


def test_an_envelope_sender_of_another_domain_fails_under_strict_unless_allowed():
    top = "Return-Path: <bounce-77@bounce.sendservice.cn>\n"
    v = verdict(message(top), JCG, policy())
    assert v.status == "fail" and "bounce-77@bounce.sendservice.cn" in v.reason and "Return-Path" in v.reason
    assert verdict(message(top), JCG, policy(), envelope_domains=["sendservice.cn"]).status == "unknown"
    assert verdict(message(top), JCG, policy("relaxed")).status == "unknown"
    # A subdomain of the From domain is the same sender; the null sender is a notification, not judged here.
    assert verdict(message("Return-Path: <b@bounce.jyj.example.gov.cn>\n"), JCG, policy()).status == "unknown"
    assert verdict(message("Return-Path: <>\n"), JCG, policy()).status == "unknown"
    # DMARC passed: the From domain is authenticated, a forwarder's envelope does not matter.
    passed = top + f"Authentication-Results: {MX}; dmarc=pass header.from=jyj.example.gov.cn\n"
    assert verdict(message(passed), JCG, policy()).status == "pass"


# -- our own DKIM check, against a DNS server on loopback ----------------------------------------------------


@contextlib.contextmanager
def dns_server(records: dict[str, str]) -> Iterator[str]:
    """A tiny authoritative DNS server (dnslib) on 127.0.0.1 answering TXT ``records``; yields "host:port"."""
    from dnslib import QTYPE, RR, TXT
    from dnslib.server import BaseResolver, DNSLogger, DNSServer

    class Resolver(BaseResolver):
        def resolve(self, request, handler):
            reply = request.reply()
            name = str(request.q.qname).rstrip(".").lower()
            if request.q.qtype == QTYPE.TXT and name in records:
                value = records[name]
                chunks = [value[i:i + 250] for i in range(0, len(value), 250)]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
            return reply

    quiet = DNSLogger(logf=lambda _: None)
    server = DNSServer(Resolver(), port=0, address="127.0.0.1", tcp=False, logger=quiet)
    server.start_thread()
    try:
        yield f"127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.stop()


def new_key() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64

    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


@pytest.fixture(scope="module")
def signing():
    pem, record = new_key()
    with dns_server({"s2022._domainkey.jyj.example.gov.cn": record}) as address:
        yield pem, address


def signed(pem: bytes, body: str = "局办公室：本月进展见附件。\n") -> bytes:
    raw = message("", body=body)
    sig = dkim.sign(raw, b"s2022", b"jyj.example.gov.cn", pem,
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return sig + raw


def test_own_dkim_check_passes_a_signed_message_and_fails_it_after_tampering(signing):
    pem, address = signing
    p = SenderSettings(verify_dkim=True, dns_server=address, dns_timeout_s=3)
    raw = signed(pem)
    assert verdict(raw, JCG, p).status == "pass"
    tampered = raw.replace("本月进展".encode(), "本月没有进展".encode())
    v = verdict(tampered, JCG, p)
    assert v.status == "fail" and "DKIM" in v.reason and "jyj.example.gov.cn" in v.reason
    # Not asked for: no verdict from the signature.
    assert verdict(tampered, JCG, SenderSettings(dns_server=address)).status == "unknown"
    # A trusted server's results, where present, are used instead of our own check.
    with_results = f"Authentication-Results: {MX}; dkim=pass header.d=jyj.example.gov.cn\r\n".encode() + tampered
    assert verdict(with_results, JCG, policy(verify_dkim=True, dns_server=address)).status == "pass"


def test_own_dkim_check_with_a_dns_server_that_does_not_answer_is_unknown_not_fail(signing):
    pem, _ = signing
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quiet:  # bound, never answers
        quiet.bind(("127.0.0.1", 0))
        p = SenderSettings(verify_dkim=True, dns_server=f"127.0.0.1:{quiet.getsockname()[1]}", dns_timeout_s=1)
        v = verdict(signed(pem), JCG, p)
    assert v.status == "unknown" and "超时" in v.reason


def test_an_unsigned_message_is_unknown_under_own_dkim_check(signing):
    _, address = signing
    assert verdict(message(""), JCG, SenderSettings(verify_dkim=True, dns_server=address)).status == "unknown"

