# Sourced by scripts/backviz and scripts/test: make the project runnable on a fresh
# Debian/Ubuntu machine that has only Python. Idempotent and quiet when done already.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

_as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "backviz setup: need root (or sudo) to run: $*" >&2; return 1; fi
}

_apt_install() {
    echo "backviz setup: installing $* with apt-get" >&2
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Graphviz's dot renders the figures; fonts-dejavu-core is the sans-serif font they use.
if ! command -v dot >/dev/null || ! fc-list 2>/dev/null | grep -qi "DejaVu Sans"; then
    _apt_install graphviz fonts-dejavu-core
fi

# Extra system packages a caller asks for (scripts/test asks for the browser).
for pkg in ${BACKVIZ_APT_EXTRA:-}; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then _apt_install $BACKVIZ_APT_EXTRA; break; fi
done

if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        _apt_install python3-venv
        python3 -m venv "$VENV"
    fi
fi

# Reinstall only when pyproject.toml changed since the last install.
# (An install with the test extras is also an install of the plain package.)
STAMP="$VENV/.backviz-installed${BACKVIZ_EXTRAS:+-$BACKVIZ_EXTRAS}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
    echo "backviz setup: installing the package into .venv" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
    "$VENV/bin/python" -m pip install -q -e "$ROOT${BACKVIZ_EXTRAS:+[$BACKVIZ_EXTRAS]}" >&2
    touch "$STAMP" "$VENV/.backviz-installed"
fi
