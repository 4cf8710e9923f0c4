#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: Debian packages, the Python venv,
# and (through `hotline asterisk prepare`) Asterisk itself.
#   scripts/setup.sh run    what `make run` needs
#   scripts/setup.sh test   what `make test` and `make bench` need as well
set -euo pipefail
cd "$(dirname "$0")/.."
purpose=${1:-run}

say() { printf '==> %s\n' "$*" >&2; }

# python3-venv: Debian's Python makes no venv without it.
run_packages=(debootstrap espeak-ng sox graphviz ca-certificates python3 python3-venv)
# kamailio: the SIP edge in front of several Asterisk nodes (tests/e2e/test_edge.py),
# its websocket module for the desks' browser phones;
# haproxy: one address in front of several web processes (tests/e2e/test_web_tier.py).
test_packages=(sip-tester postgresql baresip chromium procps nats-server kamailio
    kamailio-postgres-modules kamailio-websocket-modules haproxy)
# The desk's browser phone: its JavaScript (JsSIP) comes from npm (package-lock.json).
command -v npm >/dev/null 2>&1 || run_packages+=(nodejs npm)
packages=("${run_packages[@]}")
[ "$purpose" = test ] && packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        cat >&2 <<MSG
hotline: these Debian packages are needed and only root can install them:
    ${missing[*]}
Run this command as root (sudo make $purpose), or install them yourself.
To use an Asterisk >= 20 you already run instead of the managed one, see
"Using an existing Asterisk" in README.md (asterisk.managed: false).
MSG
        exit 1
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q 2>&1 | tail -n 1
    apt-get install -y -q --no-install-recommends "${missing[@]}" 2>&1 |
        grep --line-buffered -E '^(Setting up|Unpacking)' | awk '{ print "    " $0; fflush() }' || true
    for p in "${missing[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            { echo "hotline: apt-get could not install $p" >&2; exit 1; }
    done
    # Debian starts its own Kamailio (all addresses, port 5060) where systemd runs:
    # Hotline runs Kamailio itself (`hotline edge run`), never that one.
    if [[ " ${missing[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null &&
        [ -d /run/systemd/system ]; then
        systemctl disable --now kamailio >/dev/null 2>&1 || true
    fi
    # The same for haproxy: `hotline haproxy run` runs its own.
    if [[ " ${missing[*]} " == *" haproxy "* ]] && command -v systemctl >/dev/null &&
        [ -d /run/systemd/system ]; then
        systemctl disable --now haproxy >/dev/null 2>&1 || true
    fi
fi

# Debian's own Python by default, not another python3 earlier in PATH: Debian builds it
# with profile-guided and link-time optimisation and links libpython statically: the
# controller's pure-Python work 22-31 % and its CPU per call 10-13 % cheaper than on a
# plain `--enable-shared` build of the same 3.11 (docs/benchmarks.md, "Session 12 ...:
# which Python runs the controller"). PYTHON=... picks another.
python=${PYTHON:-/usr/bin/python3}
command -v "$python" >/dev/null 2>&1 || python=python3
interpreter=$("$python" -c 'import os, sys; print(os.path.realpath(sys.executable))')
if [ -x .venv/bin/python ] && [ "$(readlink -f .venv/bin/python)" != "$interpreter" ]; then
    say "recreating the Python venv (.venv) on $interpreter (it was on $(readlink -f .venv/bin/python))"
    rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
    say "creating the Python venv (.venv) on $interpreter"
    "$python" -m venv .venv
fi
stamp=.venv/.hotline-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing Hotline and its Python dependencies into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
    touch "$stamp"
fi

# The browser phone's JavaScript: the locked npm packages, bundled into
# hotline/web/static/vendor/ (served by Hotline; the browser fetches nothing elsewhere).
js_stamp=node_modules/.hotline-built
if [ ! -f "$js_stamp" ] || [ ! -f hotline/web/static/vendor/jssip.js ] ||
    [ package-lock.json -nt "$js_stamp" ] || [ package.json -nt "$js_stamp" ]; then
    say "installing the browser phone's JavaScript (npm ci: JsSIP, esbuild) and bundling it"
    npm ci --no-audit --no-fund --loglevel=error 2>&1 | awk '{ print "    " $0; fflush() }'
    npm run --silent build 2>&1 | awk '{ print "    " $0; fflush() }'
    test -s hotline/web/static/vendor/jssip.js ||
        { echo "hotline: npm run build made no hotline/web/static/vendor/jssip.js" >&2; exit 1; }
    touch "$js_stamp"
fi
