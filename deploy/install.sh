#!/usr/bin/env bash
# Installs Mneme as a systemd service on Debian 12 from this checkout. Run as root from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
swift build -c release
id mneme >/dev/null 2>&1 || useradd --system --home-dir /var/lib/mneme --shell /usr/sbin/nologin mneme
install -d -o root -g root -m 0755 /opt/mneme/bin /opt/mneme/models /opt/mneme/docs
install -m 0755 .build/release/mneme /opt/mneme/bin/mneme
cp -r models/default /opt/mneme/models/
cp -r public /opt/mneme/
cp docs/OPERATIONS.md /opt/mneme/docs/
install -d -o mneme -g mneme -m 0750 /var/lib/mneme
install -d -o root -g mneme -m 0750 /etc/mneme
[ -f /etc/mneme/mneme.env ] || install -o root -g mneme -m 0640 deploy/mneme.env /etc/mneme/mneme.env
if [ ! -f /etc/mneme/token ]; then
    head -c 32 /dev/urandom | base64 | tr -d '/+=' > /etc/mneme/token
    chown root:mneme /etc/mneme/token
    chmod 0640 /etc/mneme/token
fi
install -m 0644 deploy/mneme.service /etc/systemd/system/mneme.service
systemctl daemon-reload
systemctl enable --now mneme
echo "mneme is running; the write token is in /etc/mneme/token"
