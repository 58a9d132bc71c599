#!/usr/bin/env bash
# Prepares a fresh Debian machine for the whole test suite (idempotent, quick when all is present):
# LibreOffice + CJK fonts (conversions), dovecot IMAP + LMTP (the real mail server the IMAP tests start
# on loopback), poppler (PDF fonts and pictures), systemd-analyze (checks the
# service unit), PostgreSQL (tests/pgserver.py starts its own cluster), chromium (the web console's browser
# tests), and the project's virtualenv with its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-writer-nogui)
/usr/bin/python3 -c "import uno" >/dev/null 2>&1 || need+=(python3-uno)  # drives the kept LibreOffice (mailer/word/pdfkeeper.py)
fc-list 2>/dev/null | grep -q "Noto Serif CJK" || need+=(fonts-noto-cjk)
fc-list 2>/dev/null | grep -q "AR PL UKai" || need+=(fonts-arphic-ukai)  # a Kai face for 楷体_GB2312 in PDFs
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
[ -x /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
command -v pdffonts >/dev/null 2>&1 || need+=(poppler-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # the test mail servers' certificate
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)  # verifies the unit `duban service install` writes
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)  # the real server of the postgres tests
command -v chromium >/dev/null 2>&1 || need+=(chromium)  # the console's browser tests (Playwright drives it)
if [ ${#need[@]} -gt 0 ]; then
    echo "tests/setup.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
