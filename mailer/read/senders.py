"""Whether a message really comes from the address in its From header: the sender verdict.

The From header is whatever the sender typed. What the receiving server verified is not: its
``Authentication-Results`` (SPF, DKIM, DMARC; see :mod:`mailer.read.authresults` for which ones count), the
envelope sender it recorded (``Return-Path``, written on top by the delivering server), and, where the
server checks nothing, a DKIM signature we verify ourselves (dkimpy, with the DNS server of the config)
when ``verify_dkim`` asks for it.

The policy (``[senders] sender_check`` in duban.toml):

- ``strict`` (default): *fail* when a trusted server says dmarc=fail or compauth=fail; when SPF says fail
  or softfail and no DKIM signature passed; when a DKIM signature failed and none passed; when our own DKIM
  check fails; and, unless DMARC or an aligned DKIM signature authenticated the From domain, when the
  envelope sender's domain is not the From domain (nor a subdomain of it, or the reverse) and not one the
  office's directory row allows (a mailing service).
- ``relaxed``: *fail* only when dmarc=fail, or SPF or DKIM failed and nothing passed, or our own DKIM
  check fails. Softfail and a mismatched envelope sender are not used.
- ``off``: nothing is checked; the verdict is always *unknown* and the From header decides, as before.

A verdict is *pass* (the From domain was authenticated), *fail* (with the reason in Chinese, for the
bureau office) or *unknown* (nothing to go by: no trusted results, no signature, a DNS timeout). Only
*fail* stops a message; *unknown* leaves it to the From header as before, which is why the trusted
servers should be configured wherever the mail server writes results.
"""

from __future__ import annotations

import email
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses

from mailer.common.config import SenderSettings
from mailer.read import authresults

log = logging.getLogger(__name__)
DnsFunc = Callable[..., bytes | None]


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | fail | unknown
    reason: str = ""  # why, in Chinese: for the bureau office and `duban inbox list`

    @property
    def failed(self) -> bool:
        return self.status == "fail"


UNKNOWN = Verdict("unknown")


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower().rstrip(".")


def aligned(a: str, b: str) -> bool:
    """Relaxed alignment (DMARC's sense, without a public-suffix list): the same domain, or one a
    subdomain of the other (bounce.mail.example.cn and example.cn)."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def _headers(raw: bytes) -> tuple[Message, list[tuple[str, str]]]:
    msg = email.message_from_bytes(raw, policy=compat32)
    return msg, [(k, str(v)) for k, v in msg.raw_items()]


def envelope_sender(headers: list[tuple[str, str]]) -> str | None:
    """The topmost Return-Path (the delivering server's): an address, "" for the null sender <>, or None."""
    for name, value in headers:
        if name.lower() == "return-path":
            pairs = getaddresses([value])
            addr = pairs[0][1] if pairs else ""
            return addr.strip().lower()
    return None


def _dkim_domain(r: authresults.Result) -> str:
    d = r.props.get("header.d") or r.props.get("header.i", "").rpartition("@")[2]
    return d.lower()


def from_results(found: list[authresults.AuthResults], from_domain: str, mode: str) -> tuple[Verdict, bool]:
    """The verdict from trusted results, and whether the From domain was authenticated (DMARC or an
    aligned DKIM pass), which makes the envelope sender irrelevant."""
    results = [r for ar in found for r in ar.results]
    by: dict[str, list[authresults.Result]] = {}
    for r in results:
        by.setdefault(r.method, []).append(r)
    where = "、".join(dict.fromkeys(ar.authserv_id for ar in found))

    def said(method: str, result: str) -> str:
        rs = [r for r in by.get(method, []) if r.result == result]
        detail = "，".join(f"{k}={v}" for r in rs[:1] for k, v in r.props.items() if v)
        return f"{method.upper()}={result}" + (f"（{detail}）" if detail else "")

    dkim_pass = [r for r in by.get("dkim", []) if r.result == "pass"]
    dkim_aligned = any(aligned(_dkim_domain(r), from_domain) for r in dkim_pass)
    dmarc = {r.result for r in by.get("dmarc", [])}
    spf = {r.result for r in by.get("spf", [])}
    dkim = {r.result for r in by.get("dkim", [])}
    authenticated = "pass" in dmarc or dkim_aligned
    why: list[str] = []
    if "fail" in dmarc:
        why.append(said("dmarc", "fail"))
    if mode == "strict" and "fail" in {r.result for r in by.get("compauth", [])}:
        why.append(said("compauth", "fail"))
    spf_bad = {"fail"} if mode == "relaxed" else {"fail", "softfail"}
    if spf & spf_bad and not dkim_pass and not authenticated:
        why.append(said("spf", next(iter(sorted(spf & spf_bad)))))
    if "fail" in dkim and not dkim_pass and (mode == "strict" or "pass" not in spf):
        why.append(said("dkim", "fail"))
    if why:
        return Verdict(
            "fail", f"受信任的接收服务器 {where} 的验证结果为 {'；'.join(why)}，发件人地址可能被冒用"
        ), False
    if authenticated or "pass" in spf or "bestguesspass" in dmarc:
        return Verdict("pass", f"接收服务器 {where} 验证通过"), authenticated
    return UNKNOWN, False


def verify_dkim(raw: bytes, from_domain: str, dnsfunc: DnsFunc) -> Verdict:
    """Our own DKIM check (dkimpy), for servers that write no results: fail when a signature does not
    verify, pass when one aligned with the From domain does, unknown otherwise (no signature, DNS down)."""
    import dkim
    import dkim.util

    timeouts: list[str] = []

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        try:
            return dnsfunc(name, timeout=timeout)
        except dkim.DnsTimeoutError as e:
            timeouts.append(str(e))
            raise

    try:
        d = dkim.DKIM(raw, logger=log)
        sigs = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
    except Exception as e:  # noqa: BLE001 - dkimpy raises many kinds on malformed mail
        log.info("DKIM: the message cannot be read (%s)", e)
        return UNKNOWN
    if not sigs:
        return UNKNOWN
    passed: list[str] = []
    failed: list[str] = []
    for idx, sig in enumerate(sigs):
        try:
            domain = dkim.util.parse_tag_value(sig).get(b"d", b"").decode("ascii", "replace").lower()
        except Exception:  # noqa: BLE001 - unreadable tags: the verification below fails it
            domain = ""
        try:
            ok = d.verify(idx=idx, dnsfunc=lookup)
        except Exception as e:  # noqa: BLE001 - a malformed signature is a failed one
            log.info("DKIM signature %d cannot be verified: %s", idx, e)
            ok = False
        if timeouts:
            return Verdict("unknown", f"DKIM 公钥查询超时（{timeouts[0]}）")
        (passed if ok else failed).append(domain or "?")
    if any(aligned(p, from_domain) for p in passed):
        return Verdict("pass", f"DKIM 签名验证通过（d={passed[0]}）")
    if failed and not passed:
        return Verdict(
            "fail", f"邮件的 DKIM 签名（d={'、'.join(failed)}）验证未通过：邮件在发出后被改动过，或不是该域发出的"
        )
    return UNKNOWN


def _host_port(server: str) -> tuple[str, int | None]:
    """"10.1.1.53", "10.1.1.53:5353", "::1" or "[::1]:5353" → (host, port or None)."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if server.count(":") == 1:
        host, _, port = server.partition(":")
        return host, int(port) if port.isdigit() else None
    return server, None


def system_dns(server: str, timeout: int) -> DnsFunc:
    """A TXT lookup for dkimpy through ``server`` ("host" or "host:port"), or the system resolver."""
    import dkim
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=not server)
    if server:
        host, port = _host_port(server)
        resolver.nameservers = [host]
        if port:
            resolver.port = port

    def lookup(name: bytes, timeout: int = timeout) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode("ascii"), "TXT", lifetime=timeout, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
            return None
        except dns.exception.DNSException as e:  # timeout, no resolver, a garbled answer: cannot tell
            raise dkim.DnsTimeoutError(str(e)) from e
        for rrset in answer.response.answer:
            for item in rrset:
                strings = getattr(item, "strings", None)
                if strings:
                    return b"".join(strings)
        return None

    return lookup


def verdict(
    raw: bytes,
    from_addr: str,
    policy: SenderSettings,
    *,
    envelope_domains: Collection[str] = (),
    dnsfunc: DnsFunc | None = None,
) -> Verdict:
    """Judge who wrote ``raw`` under ``policy``.

    :param from_addr: the From address as read (lower case)
    :param envelope_domains: further envelope-sender domains the sender's directory row allows
    :param dnsfunc: the TXT lookup for our own DKIM check (default: :func:`system_dns` of the policy)
    """
    mode = policy.sender_check
    if mode == "off" or not from_addr:
        return UNKNOWN
    from_domain = domain_of(from_addr)
    _, headers = _headers(raw)
    found = authresults.trusted(headers, policy.trusted_authserv_ids)
    result, authenticated = UNKNOWN, False
    if found:
        result, authenticated = from_results(found, from_domain, mode)
    elif policy.verify_dkim:
        if dnsfunc is None:
            try:
                dnsfunc = system_dns(policy.dns_server, policy.dns_timeout_s)
            except Exception as e:  # noqa: BLE001 - e.g. no /etc/resolv.conf: no key can be looked up
                log.warning("DKIM: no DNS resolver (%s); senders are judged without our own check", e)
                dnsfunc = None
        if dnsfunc is not None:
            result = verify_dkim(raw, from_domain, dnsfunc)
            authenticated = result.status == "pass"
    if result.failed:
        return result
    if mode == "strict" and not authenticated:
        envelope = envelope_sender(headers)
        if envelope:  # None: not recorded (folder drop); "": the null sender of a bounce or auto-reply
            env_domain = domain_of(envelope)
            allowed = {d.lower().strip(".") for d in envelope_domains}
            if not aligned(env_domain, from_domain) and not any(aligned(env_domain, d) for d in allowed):
                return Verdict(
                    "fail",
                    f"信封发件人（Return-Path）{envelope} 与发件人地址 {from_addr} 不属于同一个域，"
                    f"名录中也未将 {env_domain} 登记为“允许代发域名”（如确为该股室所用的邮件发送服务，"
                    "可在名录“股室”表该股室一行填入此域名后重新导入）",
                )
    return result
