#!/usr/bin/env bash
# Create .venv and install ballot. `scripts/setup.sh test` also installs what the tests need:
# Python test packages, and (when run as root) Debian's chromium, CJK fonts and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them with apt-get)" >&2
    return 0
  fi
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Slips: a TrueType CJK font + a monospace one (reportlab). The signed report (WeasyPrint): Pango and
# HarfBuzz's subsetter (~50x faster with CJK fonts), Noto CJK, and HanaMin + BabelStone Han for the
# rare characters of names that Noto lacks.
REPORT_PACKAGES="fonts-wqy-zenhei fonts-dejavu-core fonts-noto-cjk fonts-hanazono fonts-babelstone-han \
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
pip_install() {  # quiet unless it fails
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" >.venv/pip.log 2>&1 \
    || { cat .venv/pip.log >&2; echo "pip install $* failed" >&2; exit 1; }
}
pip_install --upgrade pip
if [ "$mode" = "test" ]; then
  # unicode-data: Unihan, to check the stroke data; libicu-dev + pkg-config: PyICU builds against them;
  # nginx-light: the organization-mode proxy config (deploy/nginx.conf) is tested in front of an app server
  apt_install $REPORT_PACKAGES chromium postgresql zbar-tools poppler-utils \
    unicode-data libicu-dev pkg-config g++ minisign nginx-light
  pip_install -e ".[test]"
else
  apt_install $REPORT_PACKAGES
  pip_install -e .
fi
.venv/bin/python -c "import ballot, flask, sqlalchemy" || { echo "installation failed" >&2; exit 1; }
