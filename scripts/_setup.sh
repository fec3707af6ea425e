# Sourced by scripts/backviz and scripts/test: make the project runnable on a fresh
# Debian/Ubuntu machine that has only Python. Idempotent and quiet when done already:
# a run on a set-up machine installs nothing and needs neither root nor sudo.
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

# The checks below use no pipes: under pipefail, `fc-list | grep -q` fails whenever grep
# exits at its first match and fc-list dies of SIGPIPE, which made every other run install.
_have_font() { [ -n "$(fc-list "DejaVu Sans" family 2>/dev/null)" ]; }
_have_pkg() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# Graphviz's dot renders the figures; fonts-dejavu-core is the sans-serif font they use.
if ! command -v dot >/dev/null || ! _have_font; then
    _apt_install graphviz fonts-dejavu-core
fi

# Extra system packages a caller asks for (scripts/test asks for the browser).
missing=()
for pkg in ${BACKVIZ_APT_EXTRA:-}; do
    _have_pkg "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then _apt_install "${missing[@]}"; fi

if [ ! -x "$VENV/bin/python" ]; then
    # Debian splits venv's pip bootstrap into python3-venv; without it venv half-creates.
    if ! python3 -c "import ensurepip" >/dev/null 2>&1; then
        _apt_install python3-venv
    fi
    if ! python3 -m venv "$VENV"; then
        echo "backviz setup: 'python3 -m venv $VENV' failed (its message is above)" >&2
        exit 1
    fi
fi

# Reinstall only when pyproject.toml changed since the last install.
# (An install with the test extras is also an install of the plain package.)
STAMP="$VENV/.backviz-installed${BACKVIZ_EXTRAS:+-$BACKVIZ_EXTRAS}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
    echo "backviz setup: installing the package into .venv" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
    # The test extras hold torch, pinned to the CPU build (a range would fetch a CUDA one),
    # and micrograd: tests/test_bridges_*.py run against both.
    # setuptools warns on every editable install that a folder named like the package
    # may shadow it (here it is the package): ten lines of noise, and nothing to act on.
    PYTHONWARNINGS="ignore:Editable installation" \
        "$VENV/bin/python" -m pip install -q -e "$ROOT${BACKVIZ_EXTRAS:+[$BACKVIZ_EXTRAS]}" >&2
    touch "$STAMP" "$VENV/.backviz-installed"
fi
